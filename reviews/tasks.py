"""Celery tasks of reviews: thin wrappers that call services (reviews/notifications.py)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from portal.celery import SystemTask


# SystemTask: a review mail goes to people of several roles about one enterprise's submission;
# it reads only its own row. Retries are explicit (not autoretry): the service reports an SMTP
# failure after writing it on the row, and the task waits the row's back-off before trying again.
# Once its retries are spent the row stays unsent and the sweep below offers it again.
@shared_task(base=SystemTask, bind=True, name="reviews.tasks.send_notification_mail", acks_late=True,
             ignore_result=True, max_retries=None)
def send_notification_mail(self: Any, mail_id: int) -> bool:
    from reviews.notifications import TASK_RETRIES, notification_mail_send, retry_delay

    outcome = notification_mail_send(mail_id)
    # Run eagerly (no broker configured) a retry would run at once, not later: the sweep takes it.
    if outcome.failed and not self.request.is_eager and self.request.retries < TASK_RETRIES:
        raise self.retry(countdown=retry_delay(outcome.attempts).total_seconds())
    return outcome.sent


@shared_task(base=SystemTask, name="reviews.tasks.send_due_notification_mails", ignore_result=True,
             max_retries=0)
def send_due_notification_mails() -> dict[str, int]:
    """Review mails whose task gave up or was never queued, at their next attempt time."""
    from reviews.notifications import notification_mails_send_due

    run = notification_mails_send_due()
    return {"sent": run.sent, "failed": run.failed}
