from django.urls import path

from metering.collectors.http.views import ReadingsIngestView

urlpatterns = [
    path("readings/", ReadingsIngestView.as_view(), name="readings-ingest"),
]
