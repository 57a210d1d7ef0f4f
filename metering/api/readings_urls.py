from django.urls import path

from metering.api.readings_views import MeterReadingsView

urlpatterns = [
    path("meters/<int:meter_id>/readings/", MeterReadingsView.as_view(), name="meter-readings"),
]
