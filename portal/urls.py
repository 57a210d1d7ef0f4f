from django.urls import include, path

from portal.admin_site import admin_site

# Uploaded files are tenant-owned: they are never served from MEDIA_URL, only through views
# that check reach.
urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin_site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("api/v1/", include("metering.api.urls")),
    path("api/v1/", include("applications.api.urls")),
    path("metering/", include("metering.urls")),
    path("applications/", include("applications.urls")),
    path("reviews/", include("reviews.urls")),
    path("", include("portal.web_urls")),
]

# JSON error shape for /api/ paths, the ordinary pages elsewhere (portal/api/errors.py).
handler400 = "portal.api.errors.handler400"
handler403 = "portal.api.errors.handler403"
handler404 = "portal.api.errors.handler404"
handler500 = "portal.api.errors.handler500"
