"""The readings API: raw readings of one meter (storage selectors) or its stored rollup buckets
(monitoring selectors), by `interval`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from metering.api.readings_serializers import (
    API_TIME_ZONE,
    READING_INTERVALS,
    ReadingRangeSerializer,
    ReadingSerializer,
    RollupBucketSerializer,
)
from metering.models import Meter
from metering.monitoring.selectors import rollups_for_meter
from metering.storage.selectors import readings_for_meter
from portal.access import get_object_for_user
from portal.models import ApiScope


class ReadingCursorPagination(CursorPagination):
    """Cursor pages, oldest first; the envelope names the time zone every `ts` is given in."""

    ordering = "ts"
    page_size = 1000
    page_size_query_param = "page_size"
    max_page_size = 10_000

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data = {"time_zone": str(API_TIME_ZONE), "utc_offset": "+08:00", **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        document = super().get_paginated_response_schema(schema)
        document["required"] = ["time_zone", "utc_offset", "results"]
        document["properties"] = {
            "time_zone": {"type": "string", "example": str(API_TIME_ZONE),
                          "description": "The zone of every `ts` (and of the bucket calendar)."},
            "utc_offset": {"type": "string", "example": "+08:00"},
            **document["properties"],
        }
        return document


@extend_schema(
    summary="Readings of one meter, raw or as stored buckets",
    parameters=[
        OpenApiParameter("start", OpenApiTypes.DATETIME, description="ISO 8601 with offset; inclusive."),
        OpenApiParameter("end", OpenApiTypes.DATETIME, description="ISO 8601 with offset; exclusive."),
        OpenApiParameter(
            "interval",
            OpenApiTypes.STR,
            enum=list(READING_INTERVALS),
            default="raw",
            description=(
                "raw: the stored readings (ts, value, quality). 15min, hour, day, month: buckets "
                "calendar-aligned in Asia/Shanghai, ts their start in +08:00, value the consumption "
                "in the bucket (a cumulative register's consumption between two readings counts in "
                "the bucket of the later one), expected/received their 15-minute slot counts; a "
                "bucket is listed when its start lies in [start, end)."
            ),
        ),
    ],
    responses=PolymorphicProxySerializer(
        component_name="ReadingOrBucket",
        serializers=[ReadingSerializer, RollupBucketSerializer],
        resource_type_field_name=None,
        many=True,
    ),
)
class MeterReadingsView(ListAPIView):
    """Readings of one meter, oldest first: `?start=…&end=…` (ISO 8601 with offset), cursor pages;
    `interval=15min|hour|day|month` answers stored rollup buckets instead of raw readings."""

    serializer_class = ReadingSerializer
    pagination_class = ReadingCursorPagination
    api_client_scope = ApiScope.READINGS_READ
    filter_backends: list = []

    def _params(self) -> dict[str, Any]:
        params = ReadingRangeSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return dict(params.validated_data)

    def get_serializer_class(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ReadingSerializer
        interval = self.request.query_params.get("interval", "raw")
        return ReadingSerializer if interval == "raw" else RollupBucketSerializer

    def get_queryset(self) -> Any:
        # 404 alike for a missing meter and another tenant's, before anything about the query is said.
        meter = get_object_for_user(
            self.request.user, Meter.objects.all(), self.kwargs["meter_id"], path="enterprise"
        )
        params = self._params()
        start, end = params.get("start"), params.get("end")
        if params["interval"] == "raw":
            return readings_for_meter(meter, start=start, end=end)
        return rollups_for_meter(meter, interval=params["interval"], start=start, end=end)
