"""Forms of the board: they only parse the board's query string (GET, no writes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from metering.board import selectors as board

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# A chosen range longer than this is refused: the board compares periods of months, not decades.
MAX_COMPARE_DAYS = 366


class BoardForm(forms.Form):
    """The board's choices: the trend (its bucket width and the day it is around) and the
    comparison (year on year, month on month, or two chosen date ranges)."""

    trend = forms.ChoiceField(label=_("趋势"), required=False, initial=board.TREND_QUARTERS, choices=[
        (board.TREND_QUARTERS, _("当日每 15 分钟")),
        (board.TREND_DAYS, _("当月每日")),
        (board.TREND_MONTHS, _("当年每月")),
    ])
    date = forms.DateField(label=_("日期"), required=False, widget=DATE_INPUT,
                           help_text=_("趋势所在的日期；留空为今天。"))
    compare = forms.ChoiceField(label=_("对比"), required=False, initial=board.COMPARE_YEAR_ON_YEAR, choices=[
        (board.COMPARE_YEAR_ON_YEAR, _("本月与去年同期")),
        (board.COMPARE_MONTH_ON_MONTH, _("本月与上月同期")),
        (board.COMPARE_CUSTOM, _("自选两个时段")),
    ])
    a_first = forms.DateField(label=_("时段一起"), required=False, widget=DATE_INPUT)
    a_last = forms.DateField(label=_("时段一止"), required=False, widget=DATE_INPUT)
    b_first = forms.DateField(label=_("时段二起"), required=False, widget=DATE_INPUT)
    b_last = forms.DateField(label=_("时段二止"), required=False, widget=DATE_INPUT)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("compare") == board.COMPARE_CUSTOM:
            for first, last in (("a_first", "a_last"), ("b_first", "b_last")):
                start, end = data.get(first), data.get(last)
                if start is None or end is None:
                    self.add_error(first if start is None else last, _("自选时段请填写起止日期。"))
                elif end < start:
                    self.add_error(last, _("截止日期不能早于起始日期。"))
                elif (end - start).days + 1 > MAX_COMPARE_DAYS:
                    self.add_error(last, _("一个时段最长 %(days)d 天。") % {"days": MAX_COMPARE_DAYS})
        return data

    def board_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of `board.board_data` for the choices (the defaults where invalid)."""
        data = self.cleaned_data if self.is_valid() else {}
        kwargs: dict[str, Any] = {
            "trend": data.get("trend") or board.TREND_QUARTERS,
            "day": data.get("date"),
            "compare": data.get("compare") or board.COMPARE_YEAR_ON_YEAR,
        }
        if kwargs["compare"] == board.COMPARE_CUSTOM:
            kwargs["custom"] = ((data["a_first"], data["a_last"]), (data["b_first"], data["b_last"]))
        return kwargs

    @property
    def chosen_day(self) -> dt.date | None:
        return self.cleaned_data.get("date") if self.is_valid() else None
