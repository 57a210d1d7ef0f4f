"""The reviews pages (namespace "reviews", mounted at /reviews/): each part's URL module, concatenated."""

from reviews import export_urls, notification_urls

app_name = "reviews"

urlpatterns = [
    *notification_urls.urlpatterns,
    *export_urls.urlpatterns,
]
