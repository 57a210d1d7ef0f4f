"""The readings API: raw readings of one meter, read through the storage selectors."""

from __future__ import annotations

from typing import Any

from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination

from metering.api.readings_serializers import ReadingRangeSerializer, ReadingSerializer
from metering.models import Meter
from metering.storage.selectors import readings_for_meter
from portal.access import get_object_for_user


class ReadingCursorPagination(CursorPagination):
    ordering = "ts"
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 10_000


class MeterReadingsView(ListAPIView):
    """Raw readings of one meter, oldest first: `?start=…&end=…` (ISO 8601 with offset), cursor pages."""

    serializer_class = ReadingSerializer
    pagination_class = ReadingCursorPagination
    filter_backends: list = []

    def get_queryset(self) -> Any:
        # 404 alike for a missing meter and another tenant's, before anything about the query is said.
        meter = get_object_for_user(
            self.request.user, Meter.objects.all(), self.kwargs["meter_id"], path="enterprise"
        )
        params = ReadingRangeSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return readings_for_meter(
            meter, start=params.validated_data.get("start"), end=params.validated_data.get("end")
        )
