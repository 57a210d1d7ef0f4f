"""Celery tasks of alarms: thin wrappers that call services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from portal.celery import SystemTask

logger = logging.getLogger(__name__)


# SystemTask: the sweep looks at every tenant's meters and alarms; each alarm mail is composed in
# its own enterprise's scope (metering/alarms/mail.py). No Celery retry: what fails stays marked
# (alarm un-mailed, meter still silent) and the next minute's sweep takes it again.
@shared_task(base=SystemTask, name="alarms.tasks.sweep_alarms", ignore_result=True, max_retries=0)
def sweep_alarms() -> dict[str, int]:
    """Offline meters, event alarms gone quiet, and mails due (new, or to retry)."""
    from metering.alarms.evaluation import alarms_check_offline
    from metering.alarms.mail import alarm_mails_send
    from metering.alarms.services import alarms_close_quiet_events

    raised, closed = alarms_check_offline()
    quiet = alarms_close_quiet_events()
    mails = alarm_mails_send()
    return {"offline_raised": raised, "offline_closed": closed, "events_closed": quiet,
            "mails_sent": mails.sent, "mails_failed": mails.failed}


@shared_task(base=SystemTask, name="alarms.tasks.send_alarm_mails", ignore_result=True, max_retries=0)
def send_alarm_mails() -> int:
    """Mail the alarms due now (queued when one opens; the sweep is the net beneath it)."""
    from metering.alarms.mail import alarm_mails_send
    from metering.alarms.receivers import ALARM_MAIL_QUEUED_KEY

    try:
        # From here on, a newly opened alarm queues a new run: this one may have read past it.
        cache.delete(ALARM_MAIL_QUEUED_KEY)
    except Exception:
        logger.warning("could not clear the alarm mail queue marker", exc_info=True)
    return alarm_mails_send().sent
