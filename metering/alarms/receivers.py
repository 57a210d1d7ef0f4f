"""Alarms' receivers: monitoring announces each committed recompute (`rollups_recomputed`); alarms
evaluates the meter's new quarter-hours and readings inside that meter's enterprise scope."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.core.cache import cache

from metering.models import Meter
from portal.access import enterprise_scope

logger = logging.getLogger(__name__)


def evaluate_after_recompute(
    sender: Any, *, meter: Meter, earliest: dt.datetime, latest: dt.datetime, **kwargs: Any
) -> None:
    from metering.alarms.evaluation import alarms_evaluate

    with enterprise_scope(meter.enterprise_id):
        alarms_evaluate(meter=meter, earliest=earliest, latest=latest)


# "A mail run is queued and has not started": alarms opening meanwhile (a gateway outage takes
# hundreds of meters offline in one sweep) queue nothing more, the run takes them all. The key
# expires, so a run lost on its way never blocks queueing; the sweep is the net beneath both.
ALARM_MAIL_QUEUED_KEY = "alarms:mails:queued"
ALARM_MAIL_QUEUED_TTL_S = 60


def queue_alarm_mails() -> None:
    """Queue a mail run right after an alarm opened. Never fails the caller: the alarm is stored
    un-mailed, and the sweep (ALARM_SWEEP_INTERVAL_S) mails it if the broker is down."""
    from metering.alarms.tasks import send_alarm_mails

    try:
        if cache.add(ALARM_MAIL_QUEUED_KEY, 1, ALARM_MAIL_QUEUED_TTL_S):
            send_alarm_mails.delay()
    except Exception:
        logger.warning("could not queue the alarm mails; the sweep will send them", exc_info=True)
