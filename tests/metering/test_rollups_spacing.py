"""The typical spacing a day keeps when its changed stretch steps by it alone (rollups'
`_stored_spacings_still_typical`, which spares reading the whole day) is the spacing a reading of
the whole day gives: after every batch, whatever the batches fill in (gaps closed by steps of the
spacing, back-dated readings off the grid, appends), the stored day spacing is the measured one."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from metering.models import Meter, Reading
from metering.monitoring.models import Rollup
from metering.monitoring.rollups import _day_spacings, local_date, rollups_recompute_dirty
from tests.metering.test_ingest import make_meter
from tests.metering.test_rollups import CST, ingest
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

START = dt.datetime(2025, 4, 1, 20, tzinfo=CST)  # two local days: across midnight


def assert_stored_spacings_are_measured(meters: list[Meter]) -> int:
    with unscoped():  # inspecting what the recompute stored
        stored = {(meter_id, local_date(ts)): spacing for meter_id, ts, spacing in
                  Rollup.objects.filter(interval="day").values_list("meter_id", "ts", "spacing")}
    by_pk = {meter.pk: meter for meter in meters}
    measured = _day_spacings([(by_pk[meter_id], day) for meter_id, day in stored])
    for key, spacing in stored.items():
        assert spacing == (measured[key].total_seconds() if key in measured else None), key
    return len(stored)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kept_spacings_are_the_measured_ones_batch_after_batch(world, seed) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    register = make_meter(world.tenant_a, "S-REG")
    interval = make_meter(world.tenant_a, "S-INT", cumulative=False)
    # A 5-minute grid over 8 hours, a third of it held back for later batches (gaps to close with
    # 5-minute steps), and a few instants off the grid (steps that move the median).
    grid = [START + dt.timedelta(minutes=5 * n) for n in range(96)]
    first, later = [], []
    for n, ts in enumerate(grid):
        # Seeds 3 and 4 first send every other instant (a 10-minute median), then close the grid:
        # the median moves to 5 minutes once more than half is closed.
        held_back = n % 2 == 1 if seed > 2 else rng.random() < 0.35
        (later if held_back else first).append(ts)
    later += [START + dt.timedelta(minutes=5 * rng.randrange(96) + rng.choice([1, 2, 3])) for _ in range(4)]
    rng.shuffle(later)
    batches = [first[i:i + 17] for i in range(0, len(first), 17)]
    batches += [later[i:i + rng.randint(1, 6)] for i in range(0, len(later), 6)]
    stored_total = set()
    for batch in batches:
        for meter in (register, interval):
            with unscoped():
                have = set(Reading.objects.filter(meter=meter).values_list("ts", flat=True))
            fresh = sorted({ts for ts in batch if ts not in have})
            if fresh:
                values = [(ts, (ts - START).total_seconds() / 60) for ts in fresh]
                ingest(world.tenant_a.pk, meter.code, values)
        with unscoped():
            rollups_recompute_dirty()  # what the task does, across tenants
        stored_total.add(assert_stored_spacings_are_measured([register, interval]))
    assert max(stored_total) >= 2  # day buckets of both days were checked


@pytest.mark.parametrize("cumulative", [True, False])
@pytest.mark.parametrize(
    ("back_dated", "median_s"),
    [
        # Appended: the step into the batch (from the reading before it) is 300 s, the next 450 s.
        ([2100, 2550], 375.0),
        # Into the 600–1200 gap: the step into it is 450 s, the step out of it (to 1200) 150 s.
        ([1050], 300.0),
    ],
)
def test_each_step_around_the_batch_counts_towards_the_kept_spacing(  # type: ignore[no-untyped-def]
    world, cumulative, back_dated, median_s
) -> None:
    meter = make_meter(world.tenant_a, "S-EDGE", cumulative=cumulative)
    # Steps of 300, 300, 600 and 600 s: a median of 450 s, the mean of the two middle steps.
    ingest(world.tenant_a.pk, "S-EDGE", [(START + dt.timedelta(seconds=s), s / 100)
                                         for s in (0, 300, 600, 1200, 1800)])
    with unscoped():
        rollups_recompute_dirty()  # what the task does, across tenants
        assert Rollup.objects.get(meter=meter, interval="day").spacing == 450.0
    ingest(world.tenant_a.pk, "S-EDGE", [(START + dt.timedelta(seconds=s), s / 100) for s in back_dated])
    with unscoped():
        rollups_recompute_dirty()
        assert Rollup.objects.get(meter=meter, interval="day").spacing == median_s
    assert_stored_spacings_are_measured([meter])
