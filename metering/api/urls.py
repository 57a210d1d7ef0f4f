from django.urls import include, path

# Registry (meters, Modbus devices) and ingest/readings routes live in their own modules.
urlpatterns = [
    path("", include("metering.api.registry_urls")),
    path("", include("metering.api.ingest_urls")),
]
