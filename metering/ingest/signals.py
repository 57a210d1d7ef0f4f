"""What ingest tells the parts above it (monitoring), without importing them.

`readings_written` is sent once per batch that stored at least one new reading, inside the
batch's transaction, right after the rows are written, with

    ranges: dict[int, tuple[datetime, datetime]]   meter id -> (earliest ts, latest ts) of the batch

Inside the transaction on purpose (not after commit): what a receiver records (monitoring's
dirty ranges) then commits or rolls back together with the readings, so a process that dies
between the commit and a post-commit hook cannot lose the mark, and a rolled-back batch leaves
none. Receivers keep their own side effects (queueing a task) for `transaction.on_commit`, and
must be cheap: a statement per batch, no work per reading.

`collector_starting` (below) lets them prepare before a long-running collector's first batch.
"""

from __future__ import annotations

from django.dispatch import Signal

readings_written = Signal()

# Sent (no arguments) by a long-running collector once, before it takes its first input: parts
# above open what their receivers of `readings_written` will need (monitoring: its task queue and
# cache), so that cost is paid before the collector asks for messages, not by its first batch.
collector_starting = Signal()
