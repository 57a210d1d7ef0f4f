"""How a report cell reads: on the page (thousands separators, percentages as percentages, a dash
for "no figure") and in a file (CSV text, Excel numbers with a number format)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from metering.reports.tables import DATETIME, NUMBER, PERCENT, VALUE, Column

LOCAL_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
NO_FIGURE = "—"
HUNDRED = Decimal(100)
# A bucket's consumption is a float sum: it carries binary noise in its last digits
# (2725.1909999996424). Six decimals keep far more than any meter resolves and drop the noise.
VALUE_PLACES = 6
VALUE_PAGE_PLACES = 4


def rounded(value: Decimal | float | int, places: int) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def signed_change(column: Column) -> bool:
    # A change column says its direction (+3.20% / −1.05%); a share never needs a sign.
    return column.key == "change"


def page_cell(value: Any, column: Column) -> str:
    if value is None or value == "":
        return NO_FIGURE if column.kind != "text" else ""
    if column.kind == NUMBER:
        return f"{rounded(value, column.places):,}"
    if column.kind == PERCENT:
        percent = rounded(Decimal(str(value)) * HUNDRED, column.places)
        sign = "+" if signed_change(column) and percent > 0 else ""
        return f"{sign}{percent}%".replace("-", "−")
    if column.kind == VALUE and isinstance(value, float | int | Decimal):
        return f"{round(float(value), VALUE_PAGE_PLACES):,}"
    if column.kind == DATETIME and isinstance(value, dt.datetime):
        return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    return str(value)


def csv_cell(value: Any, column: Column | None = None) -> str:
    """A CSV cell: plain numbers (no separators, so spreadsheets read them), percentages with %."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(LOCAL_TZ).isoformat(timespec="seconds")
    if column is not None and column.kind == NUMBER:
        return str(rounded(value, column.places))
    if column is not None and column.kind == VALUE and isinstance(value, float | int):
        return repr(round(float(value), VALUE_PLACES))
    if column is not None and column.kind == PERCENT:
        return f"{rounded(Decimal(str(value)) * HUNDRED, column.places)}%"
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def excel_value(value: Any, column: Column | None = None) -> Any:
    """What an Excel cell holds: numbers as numbers (rounded like the page), local time without a
    zone (Excel has none; the header says 北京时间)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    if column is not None and column.kind == NUMBER:
        return float(rounded(value, column.places))
    if column is not None and column.kind == VALUE and isinstance(value, float | int):
        return round(float(value), VALUE_PLACES)
    if column is not None and column.kind == PERCENT:
        return float(rounded(Decimal(str(value)), column.places + 2))
    if isinstance(value, Decimal):
        return float(value)
    return value


def excel_number_format(column: Column | None) -> str | None:
    if column is None:
        return None
    if column.kind == NUMBER:
        return "#,##0" + ("." + "0" * column.places if column.places else "")
    if column.kind == PERCENT:
        return "0." + "0" * column.places + "%"
    return None
