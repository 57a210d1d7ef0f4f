"""Which report models leave an audit row on every write.

An export job is a person's request for a tenant's data: who asked for what, when it ran and how it
ended is part of the record. Its progress counters are left out: they move every few thousand rows
while the file is written (telemetry of the run, not anyone's decision), and the job's start and
end, which are audited, bracket them.
"""

from metering.reports import models
from portal import audit

UNAUDITED_FIELDS = ("progress", "rows_written", "heartbeat_at")
audit.register(models.ExportJob, unaudited_fields=UNAUDITED_FIELDS)
