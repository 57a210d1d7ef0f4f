from django.urls import include, path

# Registry (meters, Modbus devices), readings, indicators, gateway tokens, and the HTTP ingest
# collector live in their own modules.
urlpatterns = [
    path("", include("metering.api.registry_urls")),
    path("", include("metering.api.readings_urls")),
    path("", include("metering.api.indicators_urls")),
    path("", include("metering.api.gateway_token_urls")),
    path("", include("metering.collectors.http.urls")),
]
