"""Forms of the report pages: the period of a report table, and the meter-data export query."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from metering.models import Meter
from metering.reports.formatting import LOCAL_TZ
from metering.reports.models import ExportFormat
from metering.reports.series import INTERVAL_CHOICES, SeriesQuery
from metering.reports.tables import ReportPeriod
from portal.models import Enterprise

EARLIEST_REPORT_YEAR = 2000
# The longest export period: ten years, the longest the Shanghai rules ask the system to keep.
MAX_EXPORT_DAYS = 3660


def _today() -> dt.date:
    return timezone.now().astimezone(LOCAL_TZ).date()


def default_period() -> ReportPeriod:
    """The last whole month: the one a monthly report is made for."""
    first = _today().replace(day=1)
    last_month = first - dt.timedelta(days=1)
    return ReportPeriod(last_month.year, last_month.month)


class PeriodForm(forms.Form):
    """`?month=2026-11` (a month) or `?year=2026` (a year); neither: last month."""

    PERIOD_MONTH, PERIOD_YEAR = "month", "year"

    period = forms.ChoiceField(
        label=gettext_lazy("统计周期"), required=False,
        choices=[(PERIOD_MONTH, gettext_lazy("月报")), (PERIOD_YEAR, gettext_lazy("年报"))])
    month = forms.CharField(label=gettext_lazy("月份"), required=False,
                            widget=forms.TextInput(attrs={"type": "month"}))
    year = forms.IntegerField(label=gettext_lazy("年份"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        latest_year = _today().year
        kind = data.get("period") or (self.PERIOD_YEAR if data.get("year") and not data.get("month")
                                      else self.PERIOD_MONTH)
        if kind == self.PERIOD_YEAR:
            year = data.get("year")
            if year is None:
                raise forms.ValidationError({"year": _("请填写年份，如 %(year)d。") % {"year": latest_year}})
            if not EARLIEST_REPORT_YEAR <= year <= latest_year:
                raise forms.ValidationError({"year": _("年份须在 %(first)d 至 %(last)d 之间。") % {
                    "first": EARLIEST_REPORT_YEAR, "last": latest_year}})
            data["report_period"] = ReportPeriod(year)
            return data
        text = (data.get("month") or "").strip()
        if not text:
            data["report_period"] = default_period()
            return data
        try:
            first = dt.date.fromisoformat(f"{text}-01")
        except ValueError:
            raise forms.ValidationError({"month": _("月份格式应为 年-月，如 2026-11。")}) from None
        if not EARLIEST_REPORT_YEAR <= first.year <= latest_year or first > _today():
            raise forms.ValidationError({"month": _("请选择 %(first)d 年以来、不晚于本月的月份。") % {
                "first": EARLIEST_REPORT_YEAR}})
        data["report_period"] = ReportPeriod(first.year, first.month)
        return data


def _meter_label(meter: Meter) -> str:
    return f"{meter.code} {meter.name}（{meter.unit}）"


class SeriesExportForm(forms.Form):
    meters: forms.ModelMultipleChoiceField[Meter] = forms.ModelMultipleChoiceField(
        label=gettext_lazy("表计"), queryset=Meter.objects.none(),
                                            widget=forms.SelectMultiple(attrs={"size": 8}),
                                            help_text=gettext_lazy("可按住 Ctrl（⌘）多选。"))
    interval = forms.ChoiceField(label=gettext_lazy("数据粒度"), choices=INTERVAL_CHOICES, initial="day")
    start = forms.DateField(label=gettext_lazy("开始日期"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=gettext_lazy("结束日期（含）"),
                          widget=forms.DateInput(attrs={"type": "date"}))
    file_format = forms.ChoiceField(label=gettext_lazy("文件格式"), choices=ExportFormat.choices,
                                    initial=ExportFormat.XLSX, required=False)

    def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        meters = self.fields["meters"]
        assert isinstance(meters, forms.ModelMultipleChoiceField)
        meters.queryset = Meter.objects.filter(enterprise_id=enterprise.pk).order_by("code")
        meters.label_from_instance = _meter_label  # type: ignore[method-assign,assignment]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("结束日期不能早于开始日期。"))
            elif (end - start).days >= MAX_EXPORT_DAYS:
                self.add_error("end", _("一次最多导出 %(days)d 天的数据，请缩短时间范围。") % {
                    "days": MAX_EXPORT_DAYS})
            elif start > _today():
                self.add_error("start", _("开始日期不能晚于今天。"))
        return data

    def series_query(self) -> SeriesQuery:
        data = self.cleaned_data
        return SeriesQuery(meter_ids=tuple(meter.pk for meter in data["meters"]), interval=data["interval"],
                           start=data["start"], end=data["end"])
