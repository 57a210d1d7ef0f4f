from django.urls import path

from metering.api.ingest_views import MeterReadingsView, ReadingsIngestView

urlpatterns = [
    path("readings/", ReadingsIngestView.as_view(), name="readings-ingest"),
    path("meters/<int:meter_id>/readings/", MeterReadingsView.as_view(), name="meter-readings"),
]
