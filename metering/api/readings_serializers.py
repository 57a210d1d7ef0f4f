"""Serializers of the readings API (output and query parameters; the HTTP ingest body is parsed by
hand, see metering/collectors/http/views.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from portal.api.serializers import API_TIME_ZONE

QUALITY_HELP = "Quality flag: 0 ok, 1 estimated, 2 suspect, 3 missing."


class ReadingSerializer(serializers.Serializer):
    ts = serializers.DateTimeField(default_timezone=API_TIME_ZONE,
                                   help_text="When the value was read, in +08:00 (Asia/Shanghai).")
    value = serializers.FloatField(help_text="The value as read, in the meter's unit.")
    quality = serializers.IntegerField(help_text=QUALITY_HELP)


class RollupBucketSerializer(serializers.Serializer):
    """One stored bucket (`interval` other than `raw`)."""

    ts = serializers.DateTimeField(default_timezone=API_TIME_ZONE,
                                   help_text="Start of the bucket, in +08:00 (Asia/Shanghai calendar).")
    value = serializers.FloatField(help_text="Consumption in the bucket, in the meter's unit.")
    expected = serializers.IntegerField(help_text="15-minute slots the bucket spans (hour 4, day 96).")
    received = serializers.IntegerField(help_text="Slots holding at least one reading.")
    quality = serializers.IntegerField(
        help_text="Worst quality of the consumption in the bucket: 0 ok, 1 estimated, 2 suspect, 3 missing."
    )


READING_INTERVALS = ("raw", "15min", "hour", "day", "month")


class AwareDateTimeField(serializers.Field):
    """An ISO 8601 timestamp that must carry its UTC offset (a bare local time is ambiguous)."""

    default_error_messages = {
        "invalid": _("时间格式错误，应为 ISO 8601（如 2025-01-01T00:00:00+08:00）。"),
        "naive": _("时间必须带时区偏移（如 +08:00 或 Z）。"),
        "out_of_range": _("时间超出可表示的范围。"),
    }

    def to_internal_value(self, data: Any) -> dt.datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            # A "+" in a query string arrives as a space when the client did not encode it.
            value = dt.datetime.fromisoformat(data.strip().replace(" ", "+") if "T" in data else data)
        except ValueError:
            self.fail("invalid")
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        try:
            # The instant in UTC: PostgreSQL refuses offsets beyond ±15:59 that ISO 8601 allows
            # (-23:23), and year 1 at +01:00 or year 9999 at -01:00 are valid ISO 8601 but no
            # instant Python can hold: a clear 400, not a crash further down.
            return value.astimezone(dt.UTC)
        except OverflowError:
            self.fail("out_of_range")

    def to_representation(self, value: dt.datetime) -> str:
        return value.isoformat()


class ReadingRangeSerializer(serializers.Serializer):
    start = AwareDateTimeField(required=False)
    end = AwareDateTimeField(required=False)
    interval = serializers.ChoiceField(choices=READING_INTERVALS, required=False, default="raw")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end": [_("结束时间必须晚于开始时间。")]})
        return attrs
