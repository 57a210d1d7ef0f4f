"""How alarms write instants and figures, in their details, mails and pages."""

from __future__ import annotations

import datetime as dt
import zoneinfo

ALARM_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def local_text(ts: dt.datetime) -> str:
    """An instant as alarms show it: 2026-12-01 18:30, in Asia/Shanghai (北京时间)."""
    return ts.astimezone(ALARM_TZ).strftime("%Y-%m-%d %H:%M")


def figure(value: float) -> str:
    """12.5, 5,002, 0.8: three decimals at most, trailing zeros dropped, thousands grouped."""
    text = f"{value:,.3f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
