"""Celery tasks of reports: thin wrappers that call services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from portal.celery import TenantTask

EXPORT_RETRY_DELAY_S = 30
EXPORT_MAX_RETRIES = 5


# TenantTask: the job's enterprise is the scope, so the export reads nothing of anyone else.
# A database outage is retried (the job returns to the queue, see export_job_run); every other
# failure is recorded on the job, with its reason, and not retried.
@shared_task(
    base=TenantTask,
    name="reports.tasks.run_export_job",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=EXPORT_RETRY_DELAY_S,
    max_retries=EXPORT_MAX_RETRIES,
)
def run_export_job(job_id: int, *, enterprise_id: int) -> str | None:
    from metering.reports.services import export_job_run

    job = export_job_run(job_id=job_id)
    return job.state if job is not None else None
