"""Number formats of monitoring's pages: percentages as percentages, figures with their units."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

register = template.Library()

NO_VALUE = "—"


@register.filter
def percent(fraction: Any, digits: int = 1) -> str:
    """0.96875 → "96.9%"; None (nothing to measure) → "—"."""
    if fraction is None or fraction == "":
        return NO_VALUE
    return f"{float(fraction) * 100:.{int(digits)}f}%"


@register.filter
def figure(value: Any, digits: int = 2) -> str:
    """A figure with thousands separators and fixed decimals: 1234.5 → "1,234.50"; None → "—"."""
    if value is None or value == "":
        return NO_VALUE
    return f"{float(value):,.{int(digits)}f}"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """mapping[key] in a template (level keys are the strings "1", "2", "3")."""
    if not mapping:
        return None
    return mapping.get(str(key))


@register.filter
def local_time(iso: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An ISO 8601 instant of the board's data (already in +08:00) as the pages write times."""
    if not iso:
        return NO_VALUE
    return dt.datetime.fromisoformat(str(iso)).strftime(fmt)
