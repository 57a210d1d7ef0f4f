"""The rule a meter is watched with: its own `AlarmRule`, or the platform defaults.

Platform defaults (a meter with no rule of its own):

- offline: no new reading for `DEFAULT_OFFLINE_AFTER_MIN` (60) minutes, for an active meter that
  has reported at least once (a meter never commissioned is not "offline", it is not connected);
- jump: a quarter-hour's consumption above `DEFAULT_JUMP_FACTOR` (5) × the median of the meter's
  quarter-hours of the 24 hours before it (needing `JUMP_MIN_HISTORY` quarters with a median
  above zero: a meter that was idle has no "normal" to jump from);
- reset: a cumulative register that drops without a plausible rollover (换表或清零), as
  metering/storage/consumption.py classifies it;
- no thresholds: limits are the enterprise's to set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from metering.alarms.models import DEFAULT_JUMP_FACTOR, DEFAULT_OFFLINE_AFTER_MIN, AlarmRule

# The history a quarter-hour is compared with for a jump, and how much of it must exist.
JUMP_HISTORY = dt.timedelta(hours=24)
JUMP_MIN_HISTORY = 8


@dataclass(frozen=True)
class EffectiveRule:
    enabled: bool = True
    max_quarter_consumption: float | None = None
    min_quarter_consumption: float | None = None
    max_value: float | None = None
    min_value: float | None = None
    offline_after_minutes: int | None = DEFAULT_OFFLINE_AFTER_MIN
    jump_factor: float | None = DEFAULT_JUMP_FACTOR
    detect_resets: bool = True
    is_default: bool = False

    @property
    def offline_after(self) -> dt.timedelta | None:
        if self.offline_after_minutes is None:
            return None
        return dt.timedelta(minutes=self.offline_after_minutes)


PLATFORM_DEFAULTS = EffectiveRule(is_default=True)


def effective_rule(rule: AlarmRule | None) -> EffectiveRule:
    """What the meter is watched with: its rule's values, or PLATFORM_DEFAULTS when it has none."""
    if rule is None:
        return PLATFORM_DEFAULTS
    return EffectiveRule(
        enabled=rule.enabled,
        max_quarter_consumption=rule.max_quarter_consumption,
        min_quarter_consumption=rule.min_quarter_consumption,
        max_value=rule.max_value,
        min_value=rule.min_value,
        offline_after_minutes=rule.offline_after_minutes,
        jump_factor=rule.jump_factor,
        detect_resets=rule.detect_resets,
    )
