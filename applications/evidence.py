"""Evidence from live data: the figures a program asks for, measured from the enterprise's meters.

Each of a definition's `evidence` entries names a monitoring indicator and a period. The figure
comes from `metering.monitoring.indicators.indicators_for` (stored rollups, named factor sets),
with its period, factor sets and trace. It is offered beside the matching form field while the
applicant fills the form, frozen as an `Evidence` row when the application is filed, and shown
to reviewers together with today's figure for the same period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from applications.definitions import EvidenceSpec, ProgramDefinition
from applications.models import Evidence, Submission, SubmissionFiling
from metering.monitoring.indicators import Indicators, indicators_for, period_bounds
from portal.models import Enterprise

# Units of the indicators, as the forms print them.
INDICATOR_UNITS: dict[str, str] = {
    "total_tce": "tce", "co2_t": "t", "access_rate_1": "%", "access_rate_2": "%", "access_rate_3": "%",
    "meters_1": "个", "meters_2": "个", "meters_3": "个", "completeness": "%", "stable_months": "个月",
    "saving_rate": "%", "longest_gap_minutes": "分钟", "pue": "", "energy_intensity": "tce/万元",
    "carbon_intensity": "tCO₂/万元",
}
# Intensities per 万元 are small numbers: four places keep them meaningful; PUE three.
INDICATOR_PLACES: dict[str, Decimal] = {"energy_intensity": Decimal("0.0001"),
                                        "carbon_intensity": Decimal("0.0001"), "pue": Decimal("0.001")}
# Whole numbers: meters, months, minutes.
COUNT_INDICATORS = frozenset({"meters_1", "meters_2", "meters_3", "stable_months", "longest_gap_minutes"})
# Fractions (0–1) in the indicators, shown and compared as percentages in the forms.
PERCENT_INDICATORS = frozenset(
    {"access_rate_1", "access_rate_2", "access_rate_3", "completeness", "saving_rate"})


@dataclass(frozen=True)
class MeasuredFigure:
    key: str
    label: str
    indicator: str
    value: Decimal | None
    unit: str
    period_start: dt.date
    period_end: dt.date  # inclusive
    factor_sets: list[str]
    trace: dict[str, Any] = field(default_factory=dict)
    field: str = ""  # the form field it is offered for, when one names it
    why_missing: str = ""  # when value is None: what is missing (no meters, no data, no date)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period_of(spec: EvidenceSpec, *, values: dict[str, Any],
              today: dt.date) -> tuple[dt.date, dt.date] | None:
    """[first day, last day] of the spec's period, or None when it depends on a date not yet given."""
    if spec.period == "last_full_year":
        return dt.date(today.year - 1, 1, 1), dt.date(today.year - 1, 12, 31)
    if spec.period == "last_12_months":
        end = _month_start(today)
        return _add_months(end, -12), end - dt.timedelta(days=1)
    anchor = values.get(spec.base_year_field or "")
    if not isinstance(anchor, dt.date):
        return None
    if spec.period == "base_year":  # the twelve full months before the anchor month: "before"
        end = _month_start(anchor)
        return _add_months(end, -12), end - dt.timedelta(days=1)
    start = _add_months(_month_start(anchor), 1)  # after_completion: the twelve after it
    end = min(_add_months(start, 12), _month_start(today))
    if end <= start:
        return None
    return start, end - dt.timedelta(days=1)


def _indicator_value(indicators: Indicators, indicator: str) -> Decimal | None:
    raw: Any
    if indicator.startswith("access_rate_"):
        raw = indicators.access_rate.get(indicator[-1])
    elif indicator.startswith("meters_"):
        raw = indicators.meters_by_level.get(indicator[-1])
    else:
        raw = getattr(indicators, indicator)
    if raw is None:
        return None
    value = Decimal(str(raw))
    if indicator in PERCENT_INDICATORS:
        value = value * 100
    if indicator in COUNT_INDICATORS:
        return value.to_integral_value()
    return value.quantize(INDICATOR_PLACES.get(indicator, Decimal("0.01")))


def _trace(indicators: Indicators, indicator: str) -> dict[str, Any]:
    trace: dict[str, Any] = {
        "subject": indicators.subject_name, "subject_kind": indicators.subject_kind,
        "expected_slots": indicators.expected_slots, "received_slots": indicators.received_slots,
        "meters_by_level": indicators.meters_by_level, "reporting_by_level": indicators.reporting_by_level,
        "factor_sets": indicators.factor_sets,
    }
    if indicator in ("total_tce", "co2_t", "energy_intensity", "carbon_intensity", "saving_rate"):
        trace["by_energy_type"] = [
            {"energy_type": line.energy_type, "quantity": str(line.quantity), "unit": line.unit,
             "tce": str(line.tce), "co2_t": str(line.co2_t)} for line in indicators.by_energy_type]
    if indicator == "saving_rate":
        trace["base_period"] = indicators.base_period
        trace["basis"] = indicators.saving_rate_basis
    if indicator == "longest_gap_minutes":
        trace["meter"] = indicators.longest_gap_meter
    if indicator == "pue":
        trace["it_load_kwh"] = str(indicators.it_load_kwh) if indicators.it_load_kwh is not None else None
    if indicator in ("energy_intensity", "carbon_intensity"):
        trace["output_value_wan_yuan"] = (str(indicators.output_value_wan_yuan)
                                          if indicators.output_value_wan_yuan is not None else None)
    return trace


def evidence_measure(enterprise: Enterprise, definition: ProgramDefinition, *, values: dict[str, Any],
                     today: dt.date) -> list[MeasuredFigure]:
    """Every evidence figure of the definition, measured now. One indicator pass per distinct period."""
    by_period: dict[tuple[dt.date, dt.date], Indicators] = {}
    fields_by_evidence = {item.evidence: item.key for item in definition.fields() if item.evidence}
    figures: list[MeasuredFigure] = []
    for spec in definition.evidence:
        label = spec.label.zh
        unit = spec.unit if spec.unit is not None else INDICATOR_UNITS[spec.indicator]
        period = period_of(spec, values=values, today=today)
        if period is None:
            figures.append(MeasuredFigure(
                key=spec.key, label=label, indicator=spec.indicator, value=None, unit=unit,
                period_start=today, period_end=today, factor_sets=[],
                field=fields_by_evidence.get(spec.key, ""),
                why_missing="先填写建成投运时间" if spec.base_year_field else "统计期未到"))
            continue
        if period not in by_period:
            start, _ = period_bounds(month=period[0])
            _, end = period_bounds(month=_month_start(period[1]))
            by_period[period] = indicators_for(enterprise, start=start, end=end)
        indicators = by_period[period]
        # No meters at all: nothing was measured, which is not the same as measuring zero.
        metered = any(indicators.meters_by_level.values())
        value = _indicator_value(indicators, spec.indicator) if metered else None
        figures.append(MeasuredFigure(
            key=spec.key, label=label, indicator=spec.indicator, value=value, unit=unit,
            period_start=period[0], period_end=period[1], factor_sets=list(indicators.factor_sets),
            trace=_trace(indicators, spec.indicator), field=fields_by_evidence.get(spec.key, ""),
            why_missing="" if value is not None else
            ("统计期内没有可用的计量数据或生产数据" if metered else "尚未登记计量器具")))
    return figures


def disagrees(spec: EvidenceSpec, measured: Decimal | None, typed: Any) -> bool:
    """A typed value that differs from the measurement by more than the spec's tolerance."""
    if measured is None or not isinstance(typed, Decimal):
        return False
    if measured == 0:
        return typed != 0
    return abs(typed - measured) / abs(measured) > spec.tolerance


def evidence_freeze(*, submission: Submission, filing: SubmissionFiling, figures: list[MeasuredFigure],
                    values: dict[str, Any], definition: ProgramDefinition) -> list[Evidence]:
    """Store the figures as filed; a typed value beside one is kept and flagged when it disagrees."""
    rows = []
    for figure in figures:
        spec = definition.evidence_spec(figure.key)
        typed = values.get(figure.field) if figure.field else None
        rows.append(Evidence(
            submission=submission, filing=filing, key=figure.key, label=figure.label,
            indicator=figure.indicator, value=figure.value, unit=figure.unit,
            period_start=figure.period_start, period_end=figure.period_end,
            factor_sets=figure.factor_sets, trace=figure.trace, field=figure.field,
            typed_value="" if typed is None else str(typed),
            flagged=spec is not None and disagrees(spec, figure.value, typed),
        ))
    for row in rows:
        row.save()
    return rows
