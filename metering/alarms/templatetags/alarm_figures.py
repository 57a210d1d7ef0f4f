"""`figure`: a limit or factor as people write it (12.5, 50, 0.25), not as a float prints (50.0)."""

from __future__ import annotations

from django import template

from metering.alarms.formatting import figure as _figure

register = template.Library()


@register.filter
def figure(value: float | int | None) -> str:
    return "" if value is None else _figure(float(value))
