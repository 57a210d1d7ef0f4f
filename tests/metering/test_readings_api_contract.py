"""The readings API's contract (issue 8 item 6): an explicit time zone, quality flags, cursor pages,
and bucket fields `ts`, `value`, `expected`, `received`, `quality`. Day sums against raw are in
tests/metering/test_rollups.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from metering.monitoring.tasks import recompute_rollups
from portal.access import enterprise_scope
from tests.api_clients import api_client_with_key, key_header
from tests.metering.test_ingest import make_meter
from tests.metering.test_rollups import DAY, ingest, user_client

pytestmark = pytest.mark.django_db


def readings_url(meter_id: int) -> str:
    return f"/api/v1/meters/{meter_id}/readings/"


def test_timestamps_are_in_shanghai_time_whatever_zone_is_active(world):
    meter = make_meter(world.tenant_a, "E-TZ")
    ingest(world.tenant_a.pk, "E-TZ", [(DAY, 10.0), (DAY + dt.timedelta(minutes=15), 12.5)])
    recompute_rollups()
    client = user_client(world, "a_admin")
    with timezone.override("America/New_York"):
        raw = client.get(readings_url(meter.pk)).json()
        hours = client.get(readings_url(meter.pk), {"interval": "hour"}).json()
    assert raw["time_zone"] == "Asia/Shanghai" and raw["utc_offset"] == "+08:00"
    assert [row["ts"] for row in raw["results"]] == ["2025-03-10T00:00:00+08:00", "2025-03-10T00:15:00+08:00"]
    assert hours["results"][0]["ts"] == "2025-03-10T00:00:00+08:00"
    assert sorted(hours["results"][0]) == ["expected", "quality", "received", "ts", "value"]
    assert hours["results"][0]["expected"] == 4


def test_raw_readings_carry_their_quality_flag(world):
    meter = make_meter(world.tenant_a, "E-Q")
    from metering.ingest.services import readings_ingest

    items = [{"meter": "E-Q", "ts": (DAY + dt.timedelta(minutes=15 * i)).isoformat(), "value": 5.0 + i,
              "quality": quality} for i, quality in enumerate((0, 1, 2))]
    with enterprise_scope(world.tenant_a.pk):
        result = readings_ingest(enterprise_id=world.tenant_a.pk, source="http", items=items)
    assert result.accepted == 3
    rows = user_client(world, "a_admin").get(readings_url(meter.pk)).json()["results"]
    assert [(row["value"], row["quality"]) for row in rows] == [(5.0, 0), (6.0, 1), (7.0, 2)]


def test_raw_readings_page_by_cursor_without_loss_or_repeat(world):
    meter = make_meter(world.tenant_a, "E-CUR")
    ingest(world.tenant_a.pk, "E-CUR", [(DAY + dt.timedelta(minutes=15 * i), float(i)) for i in range(25)])
    client = user_client(world, "a_admin")
    page = client.get(readings_url(meter.pk), {"page_size": 10}).json()
    assert "count" not in page  # cursor pages: no offset, no count
    values: list[float] = []
    while True:
        values += [row["value"] for row in page["results"]]
        if page["next"] is None:
            break
        assert "cursor=" in page["next"]
        page = client.get(page["next"]).json()
    assert values == [float(i) for i in range(25)]


@pytest.mark.parametrize(("query", "field"), [
    ({"start": "2025-03-10T00:00:00"}, "start"),  # no offset: ambiguous
    ({"start": "yesterday"}, "start"),
    ({"start": "0001-01-01T00:00:00+01:00"}, "start"),  # before the first representable instant
    ({"end": "9999-12-31T23:59:59-01:00"}, "end"),  # after the last
    ({"start": "2025-03-11T00:00:00+08:00", "end": "2025-03-10T00:00:00+08:00"}, "end"),
])
def test_bad_ranges_answer_400_naming_the_parameter(world, query, field):
    meter = make_meter(world.tenant_a, "E-BAD")
    response = user_client(world, "a_admin").get(readings_url(meter.pk), query)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_an_offset_postgresql_cannot_store_is_taken_as_its_instant(world):
    """ISO 8601 allows -23:23, PostgreSQL only ±15:59: the range is compared as UTC instants
    (schemathesis found the 500 this was)."""
    meter = make_meter(world.tenant_a, "E-OFF")
    ingest(world.tenant_a.pk, "E-OFF", [(DAY, 1.0), (DAY + dt.timedelta(hours=1), 2.0)])
    # 2025-03-09T16:30-23:23 is 2025-03-10T15:53Z, after both readings.
    client = user_client(world, "a_admin")
    later = client.get(readings_url(meter.pk), {"start": "2025-03-09T16:30:00-23:23"})
    assert later.status_code == 200 and later.json()["results"] == []
    earlier = client.get(readings_url(meter.pk), {"end": "2025-03-08T16:30:00-23:23"})  # 2025-03-09T15:53Z
    assert earlier.status_code == 200 and earlier.json()["results"] == []
    both = client.get(readings_url(meter.pk), {"start": "2025-03-08T16:30:00-23:23"})
    assert [row["value"] for row in both.json()["results"]] == [1.0, 2.0]


def test_an_api_client_reads_readings_with_its_scope(world):
    meter = make_meter(world.tenant_a, "E-KEY")
    ingest(world.tenant_a.pk, "E-KEY", [(DAY, 1.0)])
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a,
                                       scopes=["readings:read"])
    response = APIClient().get(readings_url(meter.pk), **key_header(key))
    assert response.status_code == 200
    assert response.json()["results"] == [{"ts": "2025-03-10T00:00:00+08:00", "value": 1.0, "quality": 0}]
