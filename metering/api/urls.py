from django.urls import include, path

# Registry (meters, Modbus devices), ingest/readings and gateway-token routes live in their own modules.
urlpatterns = [
    path("", include("metering.api.registry_urls")),
    path("", include("metering.api.ingest_urls")),
    path("", include("metering.api.gateway_token_urls")),
]
