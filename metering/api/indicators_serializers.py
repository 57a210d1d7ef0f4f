"""Serializers of the indicators API: the query (start, end) and the figures of
`metering.monitoring.indicators.Indicators`.

Every Decimal figure is answered as a JSON number (a float): tce, CO₂ and quantities carry far
fewer significant digits than a double holds, so nothing a client sees is lost, and every figure
of the API has one type. Fractions (access rate, completeness, saving rate) are 0–1, not percent.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from metering.api.readings_serializers import AwareDateTimeField
from metering.monitoring.rollups import ROLLUP_TZ, midnight

# The longest period one request may ask for: the ten years of operating data the Shanghai
# programme asks a center to keep; longer answers nothing useful and costs a scan of every month.
MAX_PERIOD = dt.timedelta(days=366 * 10)
# Instants the calendar arithmetic can hold with room to spare (year 1 or 9999 in another offset
# would overflow): no energy data predates 2000, and none is stored for after 2100.
FIRST_YEAR, LAST_YEAR = 2000, 2100


class DateOrDateTimeField(AwareDateTimeField):
    """A date (its 00:00 in Asia/Shanghai) or an ISO 8601 timestamp with its UTC offset."""

    default_error_messages = {
        "invalid": _("时间格式错误，应为日期（如 2025-03-01）"
                     "或带时区的 ISO 8601 时间（如 2025-03-01T00:00:00+08:00）。"),
        "naive": _("时间必须带时区偏移（如 +08:00 或 Z），或只写日期。"),
        "range": _("时间须在 %(first)s 年至 %(last)s 年之间。") % {"first": FIRST_YEAR, "last": LAST_YEAR},
    }

    def to_internal_value(self, data: Any) -> dt.datetime:
        if isinstance(data, str) and "T" not in data and " " not in data.strip():
            try:
                day = dt.date.fromisoformat(data.strip())
            except ValueError:
                self.fail("invalid")
            value = midnight(day) if FIRST_YEAR <= day.year <= LAST_YEAR else None
        else:
            parsed = super().to_internal_value(data)
            value = parsed.astimezone(ROLLUP_TZ) if FIRST_YEAR <= parsed.year <= LAST_YEAR else None
        if value is None:
            self.fail("range")
        return value


class IndicatorsQuerySerializer(serializers.Serializer):
    start = DateOrDateTimeField(required=False, help_text="Inclusive; default: the 1st of this month.")
    end = DateOrDateTimeField(required=False,
                              help_text="Exclusive; default: the start of the month after start.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        from metering.monitoring.indicators import period_bounds

        start = attrs.get("start")
        if start is None:
            start = period_bounds(month=dt.datetime.now(ROLLUP_TZ).date())[0]
        end = attrs.get("end")
        if end is None:
            end = period_bounds(month=start.astimezone(ROLLUP_TZ).date())[1]
        if end <= start:
            raise serializers.ValidationError({"end": [_("结束时间必须晚于开始时间。")]})
        if end - start > MAX_PERIOD:
            raise serializers.ValidationError({"end": [_("查询期间不能超过十年。")]})
        return {"start": start, "end": end}


def _number(**kwargs: Any) -> serializers.FloatField:
    return serializers.FloatField(allow_null=kwargs.pop("allow_null", False), **kwargs)


class EnergyLineSerializer(serializers.Serializer):
    energy_type = serializers.CharField(help_text="metering energy type, e.g. electricity, natural_gas.")
    label = serializers.CharField(help_text="Its Chinese name.")  # type: ignore[assignment]
    quantity = _number(help_text="Native units, summed over the top-of-tree meters.")
    unit = serializers.CharField()
    tce = _number(help_text="tce, 当量值 (calorific basis); 0 when factor_missing is set.")
    tce_equivalent = _number(allow_null=True, help_text="tce, 等价值, where the factor set has one.")
    co2_t = _number(help_text="tCO₂.")
    scope = serializers.IntegerField(allow_null=True, help_text="1 fuels, 2 purchased electricity/heat.")
    factor_missing = serializers.CharField(help_text="Why tce/CO₂ could not be computed; empty otherwise.")


class UnitProductSerializer(serializers.Serializer):
    product = serializers.CharField()
    unit = serializers.CharField(help_text="The product's unit, e.g. t.")
    site_node_id = serializers.IntegerField(allow_null=True)
    site_node_name = serializers.CharField()
    quantity = _number()
    output_value_wan_yuan = _number(allow_null=True)
    tce = _number(allow_null=True, help_text="Energy of the line (or enterprise) that made it.")
    tce_per_unit = _number(allow_null=True)
    kgce_per_unit = _number(allow_null=True, help_text="单位产品综合能耗, kgce per product unit.")


def _levels(help_text: str, *, child: serializers.Field) -> serializers.DictField:
    return serializers.DictField(child=child, help_text=help_text)


class IndicatorsSerializer(serializers.Serializer):
    enterprise = serializers.IntegerField(source="subject_id")
    enterprise_name = serializers.CharField(source="subject_name")
    subject_kind = serializers.CharField(
        help_text="enterprise, or park (its public areas plus every member).")
    members = serializers.IntegerField(help_text="Park: member enterprises rolled up; 0 otherwise.")
    members_access_rate_1 = _number(
        allow_null=True, help_text="Park: access rate of the members' own level-1 meters, 0–1.")
    # Asia/Shanghai whatever the settings' TIME_ZONE: the calendar the figures are computed in.
    start = serializers.DateTimeField(default_timezone=ROLLUP_TZ,
                                      help_text="Inclusive, in +08:00 (Asia/Shanghai).")
    end = serializers.DateTimeField(default_timezone=ROLLUP_TZ,
                                    help_text="Exclusive, in +08:00 (Asia/Shanghai).")
    timezone = serializers.SerializerMethodField()
    total_tce = _number(help_text="Comprehensive energy consumption, tce (当量值).")
    total_tce_equivalent = _number(allow_null=True,
                                   help_text="tce with electricity at 等价值, where configured.")
    co2_t = _number(help_text="tCO₂, scope 1 + scope 2.")
    co2_by_scope = serializers.DictField(child=_number(), help_text='Keys "1" and "2", tCO₂.')
    by_energy_type = EnergyLineSerializer(many=True)
    output_value_wan_yuan = _number(allow_null=True,
                                    help_text="Output value entered for the period, 万元.")
    energy_intensity = _number(allow_null=True, help_text="tce per 万元.")
    carbon_intensity = _number(allow_null=True, help_text="tCO₂ per 万元.")
    unit_products = UnitProductSerializer(many=True)
    saving_rate = _number(allow_null=True,
                          help_text="Against the base period, fraction (0.05 = 5 %).")
    saving_rate_basis = serializers.CharField(allow_null=True,
                                              help_text="intensity (tce/万元) or daily_average.")
    base_period = serializers.CharField(allow_null=True)
    meters_by_level = _levels('Keys "1", "2", "3": active meters.', child=serializers.IntegerField())
    reporting_by_level = _levels("Active meters that delivered data in the period.",
                                 child=serializers.IntegerField())
    access_rate = _levels('Keys "1", "2", "3": fraction 0–1 (null: no meters of that level).',
                          child=_number(allow_null=True))
    expected_slots = serializers.IntegerField(
        help_text="15-minute slots expected (96 a day per active meter).")
    received_slots = serializers.IntegerField()
    completeness = _number(allow_null=True, help_text="received_slots / expected_slots, 0–1.")
    communication_success_rate = _number(allow_null=True, help_text="0–1.")
    longest_gap_minutes = serializers.IntegerField(
        help_text="Longest run of empty 15-minute slots of any meter.")
    longest_gap_meter = serializers.CharField(allow_null=True, help_text="Code of that meter.")
    stable_months = serializers.IntegerField(
        help_text="Consecutive months with completeness ≥ stable_threshold.")
    stable_six_months = serializers.BooleanField()
    stable_threshold = _number()
    pue = _number(allow_null=True,
                  help_text="Data centers: total electricity / IT-load electricity.")
    it_load_kwh = _number(allow_null=True)
    factor_sets = serializers.ListField(child=serializers.CharField(),
                                        help_text="Name and edition of each set used.")
    missing_factors = serializers.ListField(child=serializers.CharField(),
                                            help_text="Energy types left out of the totals (no factor).")

    def get_timezone(self, obj: Any) -> str:
        return "Asia/Shanghai"
