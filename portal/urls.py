from django.urls import include, path

from portal.admin_site import admin_site

# Uploaded files are tenant-owned: they are never served from MEDIA_URL, only through views
# that check reach.
urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin_site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("api/v1/", include("metering.api.urls")),
    path("metering/", include("metering.urls")),
    path("", include("portal.web_urls")),
]
