"""The reviews pages (namespace "reviews", mounted at /reviews/): the experts' conflict declarations,
notification preferences and the review exports."""

from django.urls import URLPattern, URLResolver, path

from reviews import export_urls, notification_urls, views_conflicts

app_name = "reviews"

urlpatterns: list[URLPattern | URLResolver] = [
    path("conflicts/", views_conflicts.conflict_list, name="conflicts"),
    path("conflicts/<int:declaration_id>/delete/", views_conflicts.conflict_delete, name="conflict_delete"),
    *notification_urls.urlpatterns,
    *export_urls.urlpatterns,
]
