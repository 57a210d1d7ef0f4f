"""Out-of-reach entries and write attempts for the report pages and export jobs (metering/reports)."""

from __future__ import annotations

import itertools
from typing import Any

from django_scopes import scopes_disabled

from metering.reports.models import ExportJob
from tests.metering.registry_factories import meter_for
from tests.tenancy_objects import Attempt, out_of_reach, write_attempts

_serial = itertools.count(1)


def export_job_for(enterprise: Any, **fields: Any) -> ExportJob:
    """A finished job of `enterprise` (with a unique title, so the walk can look for it in bodies)."""
    values = {"kind": ExportJob.Kind.METER_SERIES, "file_format": "csv", "state": ExportJob.State.DONE,
              "progress": 100, "title": f"巡检导出任务{next(_serial):06d}号", "query": {}, **fields}
    with scopes_disabled():  # test setup
        return ExportJob.objects.create(enterprise=enterprise, **values)


for _name in ("metering:export_job_detail", "metering:export_job_status", "metering:export_job_download"):
    out_of_reach(_name)(lambda world: {"pk": export_job_for(world.outsider).pk})


@write_attempts("metering:report_export")
def _export_create(world: Any, own: Any) -> list[Attempt]:
    meter = meter_for(world.outsider)
    fields = {"meters": [meter.pk], "interval": "day", "start": "2025-03-01", "end": "2025-03-31",
              "file_format": "csv"}
    return [
        Attempt("an export job of the outsider's meter, in the outsider's enterprise",
                query={"enterprise": world.outsider.pk}, data=fields),
        Attempt("an export job of the outsider's meter, in the role's own enterprise", data=fields),
    ]
