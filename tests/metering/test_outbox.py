"""The outbox (metering/outbox): finished buckets become messages with the right figures, and a real
local HTTP receiver gets them until it acknowledges. Readings go in through the real ingest
service, rollups through the real recompute task, on PostgreSQL and Redis as in production."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from metering.ingest.services import readings_ingest
from metering.monitoring.tasks import recompute_rollups
from metering.outbox.adapters import GenericJsonAdapter
from metering.outbox.models import OutboxMessage, PlatformEndpoint
from metering.outbox.services import (
    EnqueueRun,
    outbox_enqueue_due,
    outbox_messages_claim,
    queue_delivery,
    retry_delay,
)
from metering.outbox.tasks import deliver_outbox, enqueue_outbox
from portal.access import enterprise_scope
from portal.models import AuditEntry, Enterprise, Region
from tests.conftest import login
from tests.metering.platform_receiver import PlatformReceiver
from tests.metering.test_ingest import make_meter
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2025, 3, 10, tzinfo=CST)  # 00:00 in Shanghai
QUARTER = dt.timedelta(minutes=15)
# The day after DAY, 01:00: DAY's quarters and DAY itself are finished, March is not.
NEXT_MORNING = DAY + dt.timedelta(days=1, hours=1)
KWH_PER_QUARTER = 100.0
ELECTRICITY_CODE = "4101050001010001"
GAS_CODE = "4101050001020001"
# GB/T 2589 当量值 of electricity, the shipped set (DOMAIN.md): 0.1229 kgce/kWh.
KGCE_PER_KWH = Decimal("0.1229")
SECRET = "s3cr3t-platform-token-7f1d"


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def loopback(settings):  # type: ignore[no-untyped-def]
    """The tests' receiver speaks plain HTTP on loopback: allowed only by this setting."""
    settings.OUTBOX_ALLOW_LOOPBACK_HTTP = True


@pytest.fixture
def receiver(loopback) -> Iterator[PlatformReceiver]:  # type: ignore[no-untyped-def]
    with PlatformReceiver() as running:
        yield running


def make_endpoint(url: str, **fields) -> PlatformEndpoint:  # type: ignore[no-untyped-def]
    values = {"name": f"平台 {uuid.uuid4().hex[:6]}", "url": url, "send_from": DAY,
              "intervals": ["15min", "day"], "timeout_s": 2}
    values.update(fields)
    endpoint = PlatformEndpoint(**values)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def ingest(enterprise: Enterprise, code: str, points: list[tuple[dt.datetime, float]]) -> None:
    with enterprise_scope(enterprise.pk):
        result = readings_ingest(enterprise_id=enterprise.pk, source="http",
                                 items=[{"meter": code, "ts": ts.isoformat(), "value": v}
                                        for ts, v in points])
    assert result.accepted == len(points), result.as_dict()


def a_day_of_electricity(enterprise: Enterprise, code: str = "E-1",
                         per_quarter: float = KWH_PER_QUARTER) -> None:
    """A cumulative kWh register read every quarter of DAY (and the quarter before it): each
    quarter uses `per_quarter`, the day 96 × that."""
    make_meter(enterprise, code, data_item_code=ELECTRICITY_CODE)
    ingest(enterprise, code, [(DAY + i * QUARTER, 1000.0 + per_quarter * (i + 1)) for i in range(-1, 96)])


def enqueue(now: dt.datetime = NEXT_MORNING) -> EnqueueRun:
    # As the beat task runs it (a SystemTask: across tenants), with the clock set to `now`.
    with unscoped():
        return outbox_enqueue_due(now=now)


def messages(**filters) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with unscoped():  # inspecting what the outbox stored
        found = OutboxMessage.objects.filter(**filters)
        return list(found.order_by("bucket_start", "interval", "endpoint_id"))


def make_all_due() -> None:
    """Let the retry schedule's wait pass (the schedule itself is asserted where it matters)."""
    with unscoped():
        OutboxMessage.objects.exclude(status="acknowledged").update(
            next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


# --- enqueue: which buckets, and what is in them --------------------------------------------------


def test_finished_buckets_are_enqueued_with_the_figures(world) -> None:
    a_day_of_electricity(world.tenant_a)
    make_meter(world.tenant_a, "G-1", energy_type="natural_gas", unit="m³", data_item_code=GAS_CODE)
    ingest(world.tenant_a, "G-1", [(DAY + i * QUARTER, 50.0 + (i + 1)) for i in range(-1, 96)])
    assert recompute_rollups() == 2
    endpoint = make_endpoint("https://platform.example.invalid/ingest")

    # At 10:00 only the quarters that ended by 09:58 (the settle time) are finished: 00:00–09:30.
    run = enqueue(now=DAY + dt.timedelta(hours=10))
    quarters = messages(interval="15min")
    assert run.created == len(quarters) == 39
    assert quarters[-1].bucket_start == DAY + dt.timedelta(hours=9, minutes=30)
    assert not messages(interval="day")

    run = enqueue(now=NEXT_MORNING)
    assert run.created == 96 - 39 + 1
    (day,) = messages(interval="day")
    assert day.endpoint == endpoint and day.enterprise == world.tenant_a
    assert day.status == "pending" and day.revision == 1 and day.attempts == 0
    payload = day.payload
    assert payload["schema"] == "nengtan.outbox.v1"
    assert payload["enterprise"]["credit_code"] == world.tenant_a.credit_code
    assert payload["interval"] == "day" and payload["statistics_type"] == "day"
    assert payload["bucket_start"] == "2025-03-10T00:00:00+08:00"
    assert payload["bucket_end"] == "2025-03-11T00:00:00+08:00"
    lines = {line["energy_type"]: line for line in payload["by_energy_type"]}
    electricity, gas = lines["electricity"], lines["natural_gas"]
    assert electricity["quantity"] == 9600.0 and electricity["unit"] == "kWh"
    assert electricity["data_item_codes"] == [ELECTRICITY_CODE]
    assert Decimal(str(electricity["tce"])) == Decimal(9600) * KGCE_PER_KWH / 1000  # 1.17984 tce
    assert electricity["scope"] == 2 and electricity["co2_t"] > 0
    assert gas["quantity"] == 96.0 and gas["unit"] == "m³" and gas["data_item_codes"] == [GAS_CODE]
    assert gas["scope"] == 1 and gas["co2_t"] > 0
    assert payload["total_tce"] == pytest.approx(electricity["tce"] + gas["tce"], abs=1e-6)
    assert payload["co2_by_scope"]["2"] == pytest.approx(electricity["co2_t"], abs=1e-6)
    assert payload["co2_by_scope"]["1"] == pytest.approx(gas["co2_t"], abs=1e-6)
    assert (payload["expected_slots"], payload["received_slots"]) == (2 * 96, 2 * 96)
    assert payload["completeness"] == 1.0
    assert payload["factor_sets"] and all(isinstance(name, str) for name in payload["factor_sets"])
    first = messages(interval="15min")[0].payload
    assert first["bucket_start"] == "2025-03-10T00:00:00+08:00" and first["statistics_type"] == "realtime"
    assert {line["energy_type"]: line["quantity"] for line in first["by_energy_type"]} == {
        "electricity": 100.0, "natural_gas": 1.0}

    # Nothing new: a second pass at the same time enqueues nothing and changes nothing.
    assert enqueue(now=NEXT_MORNING) == EnqueueRun(created=0, revised=0)


def test_the_beat_task_enqueues_every_interval_and_queues_delivery(
        world, django_capture_on_commit_callbacks) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint("https://platform.example.invalid/ingest", intervals=["15min", "day", "month"],
                  send_from=DAY.replace(day=1))
    # Real clock: DAY (March 2025) and its month are long finished. The reading before DAY makes
    # a quarter (and a day) of 9 March too.
    with django_capture_on_commit_callbacks() as callbacks:
        assert enqueue_outbox() == 97 + 2 + 1
    assert callbacks == [queue_delivery]
    with django_capture_on_commit_callbacks() as callbacks:
        assert enqueue_outbox() == 0
    assert callbacks == []  # nothing new: no delivery pass queued
    (month,) = messages(interval="month")
    assert month.bucket_start == dt.datetime(2025, 3, 1, tzinfo=CST)
    assert month.payload["bucket_start"] == "2025-03-01T00:00:00+08:00"
    assert month.payload["expected_slots"] == 31 * 96


def test_beat_schedule_has_the_outbox_entries() -> None:
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert schedule["outbox-enqueue"]["task"] == "outbox.tasks.enqueue_outbox"
    assert schedule["outbox-deliver"]["task"] == "outbox.tasks.deliver_outbox"


def test_nothing_is_enqueued_for_enterprises_the_endpoint_does_not_serve(world) -> None:
    for enterprise in (world.tenant_a, world.tenant_b, world.outsider):
        a_day_of_electricity(enterprise)
    with unscoped():
        pending = Enterprise.objects.create(name="郑州待审企业有限公司", credit_code="91410105MA44F0P00X",
                                            region=world.tenant_a.region, status=Enterprise.Status.PENDING)
    a_day_of_electricity(pending)
    recompute_rollups()
    henan = Region.objects.get(code="410000")
    zhengzhou = Region.objects.get(code="410100")
    henan_industry = make_endpoint("https://henan.example.invalid/", region=henan,
                                   enterprise_kinds=["industrial"],
                                   intervals=["day"])
    zhengzhou_all = make_endpoint("https://zz.example.invalid/", region=zhengzhou, intervals=["day"])
    data_centers = make_endpoint("https://dc.example.invalid/", enterprise_kinds=["data_center"],
                                 intervals=["day"])
    make_endpoint("https://off.example.invalid/", enabled=False, intervals=["day"])

    enqueue()

    def served(endpoint: PlatformEndpoint) -> set[int]:
        return {message.enterprise_id for message in messages(endpoint=endpoint)}

    assert served(henan_industry) == {world.tenant_a.pk, world.tenant_b.pk}
    assert served(zhengzhou_all) == {world.tenant_a.pk}  # not Luoyang's, not the pending one
    assert served(data_centers) == {world.outsider.pk}
    assert len(messages()) == 4  # the disabled endpoint got nothing


# --- deliver --------------------------------------------------------------------------------------


def test_messages_are_delivered_and_acknowledged_with_the_secret_as_header(
        world, receiver, monkeypatch) -> None:
    monkeypatch.setenv("HENAN_PLATFORM_TOKEN", SECRET)
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["day"], auth_env_var="HENAN_PLATFORM_TOKEN")
    enqueue()

    assert deliver_outbox() == 1

    (message,) = messages()
    assert message.status == "acknowledged" and message.attempts == 1
    assert message.last_status_code == 200 and message.acknowledged_revision == 1
    assert message.acknowledged_at is not None and message.last_error == ""
    (request,) = receiver.received
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["content-type"].startswith("application/json")
    assert request.headers["idempotency-key"] == f"{message.message_id}:1"
    body = request.json
    assert body["message_id"] == str(message.message_id) and body["revision"] == 1
    assert body["enterprise"]["credit_code"] == world.tenant_a.credit_code
    assert body["bucket_start"] == "2025-03-10T00:00:00+08:00"
    assert body["total_tce"] == float(Decimal(9600) * KGCE_PER_KWH / 1000)
    assert body["sent_at"].endswith("+08:00")
    # Acknowledged messages are never sent again.
    assert deliver_outbox() == 0 and len(receiver.received) == 1


def test_failures_are_retried_with_backoff_until_acknowledged(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["day"])
    enqueue()
    receiver.fail_next(2, status=503, body=b'{"error": "maintenance"}')

    deliver_outbox()
    (message,) = messages()
    assert message.status == "retrying" and message.attempts == 1 and message.last_status_code == 503
    assert "HTTP 503" in message.last_error and "maintenance" in message.last_error
    assert message.last_attempt_at is not None
    wait = message.next_attempt_at - message.last_attempt_at
    assert abs(wait.total_seconds() - django_settings.OUTBOX_RETRY_BASE_S) < 1
    deliver_outbox()  # not due yet: nothing is sent
    assert len(receiver.received) == 1

    make_all_due()
    deliver_outbox()
    (message,) = messages()
    assert message.status == "retrying" and message.attempts == 2
    wait = message.next_attempt_at - message.last_attempt_at
    assert abs(wait.total_seconds() - 2 * django_settings.OUTBOX_RETRY_BASE_S) < 1

    make_all_due()
    assert deliver_outbox() == 1
    (message,) = messages()
    assert message.status == "acknowledged" and message.attempts == 3 and message.last_error == ""
    assert len(receiver.received) == 3
    assert len({json.dumps(body, sort_keys=True) for body in (
        {k: v for k, v in b.items() if k != "sent_at"} for b in receiver.bodies())}) == 1


def test_retry_delay_doubles_and_is_capped() -> None:
    base, cap = django_settings.OUTBOX_RETRY_BASE_S, django_settings.OUTBOX_RETRY_CAP_S
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [base, 2 * base, 4 * base, 8 * base]
    assert retry_delay(50).total_seconds() == cap
    assert retry_delay(10_000).total_seconds() == cap


def test_a_hanging_platform_times_out_and_the_rest_of_its_batch_waits(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["15min"], timeout_s=1)
    enqueue()
    receiver.hang_next(1, seconds=3)

    assert deliver_outbox() == 0
    # One attempt timed out; the endpoint's other 95 claimed messages were not tried in that pass.
    assert len(receiver.received) == 1
    attempted = messages(attempts=1)
    assert len(attempted) == 1 and "超时" in attempted[0].last_error and attempted[0].status == "retrying"
    waiting = messages(attempts=0)
    assert len(waiting) == 95 and {m.status for m in waiting} == {"pending"}
    assert {m.next_attempt_at for m in waiting} == {attempted[0].next_attempt_at}

    make_all_due()
    deliver_outbox()
    assert {m.status for m in messages()} == {"acknowledged"}
    assert len(messages()) == 96


def test_a_connection_refused_is_retried_with_the_error_recorded(world, loopback) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    with PlatformReceiver() as gone:
        url = gone.url
    make_endpoint(url, intervals=["day"])
    enqueue()
    deliver_outbox()
    (message,) = messages()
    assert message.status == "retrying" and message.last_status_code is None
    assert "连接失败" in message.last_error and "ConnectError" in message.last_error


def test_a_refusal_is_failed_with_its_reason_and_resent_by_enterprise_staff(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    endpoint = make_endpoint(receiver.url, name="河南省重点用能单位能耗在线监测平台", intervals=["day"])
    enqueue()
    receiver.answer_next(1, 422, '{"error": "统一社会信用代码未登记"}'.encode())

    deliver_outbox()
    (message,) = messages()
    assert message.status == "failed" and message.last_status_code == 422
    assert "统一社会信用代码未登记" in message.last_error
    deliver_outbox()  # failed is not retried by itself
    assert len(receiver.received) == 1

    staff = Client()
    login(staff, world.user("a_staff"))
    page = staff.get(reverse("metering:upload_list"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "河南省重点用能单位能耗在线监测平台" in text and "统一社会信用代码未登记" in text
    assert "立即重发失败报文" in text
    filtered = staff.get(reverse("metering:upload_list"), {"status": "acknowledged"}).content.decode()
    assert "没有符合条件的上传报文" in filtered

    # An official in reach reads the page, without the button, and may not resend.
    official = Client()
    login(official, world.user("zhengzhou_reviewer"))
    read = official.get(reverse("metering:upload_list"), {"enterprise": world.tenant_a.pk}).content.decode()
    assert "统一社会信用代码未登记" in read and "立即重发失败报文" not in read
    refused = official.post(f"{reverse('metering:upload_resend')}?enterprise={world.tenant_a.pk}",
                            {"endpoint": endpoint.pk})
    assert refused.status_code == 403
    assert messages()[0].status == "failed"

    response = staff.post(reverse("metering:upload_resend"), {"endpoint": endpoint.pk})
    assert response.status_code == 302
    (message,) = messages()
    assert message.status == "pending"
    entry = AuditEntry.objects.get(action="outbox_resend")
    assert entry.actor == world.user("a_staff") and entry.enterprise_id_snapshot == world.tenant_a.pk
    assert entry.changes["count"] == 1 and entry.changes["message_ids"] == [message.pk]

    assert deliver_outbox() == 1
    assert messages()[0].status == "acknowledged"


def test_platform_errors_other_than_refusals_are_retried(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["day"])
    enqueue()
    for status, body in ((429, b"slow down"), (408, b""), (200, b'{"ack": false}'), (200, b'{"code": 17}')):
        receiver.answer_next(1, status, body)
        make_all_due()
        deliver_outbox()
        (message,) = messages()
        assert message.status == "retrying", (status, body)
        assert message.last_status_code == status
    receiver.answer_next(1, 200, b'{"code": 0, "msg": "ok"}')
    make_all_due()
    assert deliver_outbox() == 1


@pytest.mark.parametrize(("status", "body", "require", "expected"), [
    (200, b"", False, (True, False)),
    (204, b"", False, (True, False)),
    (200, b"OK", False, (True, False)),
    (200, b'{"ack": true}', True, (True, False)),
    (200, b'{"code": 0}', True, (True, False)),
    (200, b'{"code": "0"}', False, (True, False)),
    (200, b"", True, (False, True)),
    (200, b'{"received": 1}', True, (False, True)),
    (202, b'{"ack": false}', False, (False, True)),
    (200, b'{"code": 500}', False, (False, True)),
    (500, b"", False, (False, True)),
    (302, b"", False, (False, True)),
    (408, b"", False, (False, True)),
    (429, b"", False, (False, True)),
    (400, b"bad", False, (False, False)),
    (401, b"", False, (False, False)),
    (404, b"", False, (False, False)),
])
def test_generic_adapter_ack_rules(status, body, require, expected) -> None:
    verdict = GenericJsonAdapter().verdict(status_code=status, content=body, require_ack_body=require)
    assert (verdict.acknowledged, verdict.retry) == expected
    assert verdict.acknowledged or verdict.reason


def test_two_endpoints_each_get_their_own_copy(world, loopback) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    with PlatformReceiver() as province, PlatformReceiver() as nation:
        first = make_endpoint(province.url, intervals=["day"])
        second = make_endpoint(nation.url, intervals=["day"])
        enqueue()
        province.fail_next(1)
        deliver_outbox()
        by_endpoint = {m.endpoint_id: m for m in messages()}
        assert by_endpoint[first.pk].status == "retrying"
        assert by_endpoint[second.pk].status == "acknowledged"
        assert by_endpoint[first.pk].message_id != by_endpoint[second.pk].message_id
        make_all_due()
        deliver_outbox()
        assert {m.status for m in messages()} == {"acknowledged"}
        assert len(nation.received) == 1 and len(province.received) == 2
        assert province.bodies()[-1]["total_tce"] == nation.bodies()[0]["total_tce"]


def test_a_corrected_bucket_is_resent_with_a_higher_revision(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["15min", "day"])
    enqueue()
    deliver_outbox()
    assert {m.status for m in messages()} == {"acknowledged"} and len(receiver.received) == 97

    # A back-dated reading at 10:07 (register 50 kWh above 10:00's): the 10:00 quarter now holds
    # 100 + 50 kWh and the 10:15 quarter 50; the day's total is unchanged.
    ten = DAY + dt.timedelta(hours=10)
    register_at_ten = 1000.0 + KWH_PER_QUARTER * 41
    ingest(world.tenant_a, "E-1", [(ten + dt.timedelta(minutes=7), register_at_ten + 50.0)])
    assert recompute_rollups() == 1
    run = enqueue(now=NEXT_MORNING + dt.timedelta(minutes=5))
    assert run == EnqueueRun(created=0, revised=2)
    revised = messages(revision=2)
    assert [m.bucket_start for m in revised] == [ten, ten + QUARTER]
    assert {m.status for m in revised} == {"pending"}
    assert messages(interval="day")[0].revision == 1  # same figures: not re-sent

    deliver_outbox()
    corrections = receiver.bodies()[97:]
    assert [body["revision"] for body in corrections] == [2, 2]
    by_start = {body["bucket_start"]: body for body in corrections}
    assert by_start["2025-03-10T10:00:00+08:00"]["by_energy_type"][0]["quantity"] == 150.0
    assert by_start["2025-03-10T10:15:00+08:00"]["by_energy_type"][0]["quantity"] == 50.0
    original = {m.bucket_start: str(m.message_id) for m in revised}
    assert by_start["2025-03-10T10:00:00+08:00"]["message_id"] == original[ten]
    assert {m.acknowledged_revision for m in messages(revision=2)} == {2}


def test_a_bucket_recomputed_while_its_send_is_in_flight_keeps_the_new_revision(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["day"])
    enqueue()
    with unscoped():
        token = uuid.uuid4()
        (claimed,) = outbox_messages_claim(token=token)
    # The correction lands while the old revision is on the wire.
    late = DAY + dt.timedelta(hours=23, minutes=50)
    ingest(world.tenant_a, "E-1", [(late, 1000.0 + KWH_PER_QUARTER * 96 + 7)])
    recompute_rollups()
    assert enqueue().revised == 1
    (message,) = messages()
    assert message.revision == 2 and message.status == "pending" and message.claim_token is None
    # The old send's outcome can no longer touch the row: its claim is gone.
    with unscoped():
        assert OutboxMessage.objects.filter(pk=claimed.id, claim_token=token).count() == 0
    deliver_outbox()
    (message,) = messages()
    assert message.status == "acknowledged" and message.acknowledged_revision == 2
    assert receiver.bodies()[-1]["revision"] == 2


# --- secrets --------------------------------------------------------------------------------------


def test_the_secret_is_sent_but_never_stored_or_logged(world, receiver, monkeypatch, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    endpoint = make_endpoint(receiver.url, intervals=["day"], auth_env_var="NATION_PLATFORM_KEY",
                             auth_header="X-Api-Key")
    enqueue()

    deliver_outbox()  # the variable is not set yet: retried, and the error names the variable only
    (message,) = messages()
    assert message.status == "retrying" and "NATION_PLATFORM_KEY" in message.last_error
    assert not receiver.received

    monkeypatch.setenv("NATION_PLATFORM_KEY", SECRET)
    receiver.fail_next(1, status=500)
    make_all_due()
    deliver_outbox()
    make_all_due()
    assert deliver_outbox() == 1
    assert [r.headers.get("x-api-key") for r in receiver.received] == [SECRET, SECRET]
    assert "authorization" not in receiver.received[0].headers

    endpoint.refresh_from_db()
    assert endpoint.auth_env_var == "NATION_PLATFORM_KEY"
    with connection.cursor() as cursor:
        for table in ("outbox_platformendpoint", "outbox_outboxmessage", "outbox_outboxcursor",
                      "portal_auditentry"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - constant table names
            assert SECRET not in repr(cursor.fetchall()), table
    assert SECRET not in caplog.text
    assert "NATION_PLATFORM_KEY" in caplog.text or "500" in caplog.text  # the failures were logged


def test_endpoint_urls_must_be_https_unless_loopback_http_is_allowed(settings) -> None:
    settings.OUTBOX_ALLOW_LOOPBACK_HTTP = False
    with pytest.raises(ValidationError) as refused:
        make_endpoint("http://127.0.0.1:8080/ingest")
    assert "HTTPS" in str(refused.value)
    with pytest.raises(ValidationError):
        make_endpoint("http://platform.example.invalid/ingest")
    settings.OUTBOX_ALLOW_LOOPBACK_HTTP = True
    make_endpoint("http://127.0.0.1:8080/ingest")
    with pytest.raises(ValidationError):  # loopback only, even then
        make_endpoint("http://platform.example.invalid/ingest")
    with pytest.raises(ValidationError):
        make_endpoint("https://platform.example.invalid/", auth_env_var="not a name")
    with pytest.raises(ValidationError):
        make_endpoint("https://platform.example.invalid/", intervals=["hour"])


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_workers_never_claim_the_same_message(world) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint("https://platform.example.invalid/ingest", intervals=["15min"])
    enqueue()
    barrier = threading.Barrier(2)
    claims: list[list[int]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with unscoped():
                barrier.wait(timeout=10)
                claims.append([item.id for item in outbox_messages_claim(token=uuid.uuid4(), limit=60)])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    first, second = claims
    assert not set(first) & set(second)
    assert len(first) + len(second) == 96  # 60 + the 36 left
    assert {m.status for m in messages()} == {"sent"}


def test_a_dead_workers_claim_lapses_and_the_message_is_sent_again(world, receiver) -> None:
    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, intervals=["day"])
    enqueue()
    with unscoped():
        (claimed,) = outbox_messages_claim(token=uuid.uuid4())
    assert deliver_outbox() == 0 and not receiver.received  # the lease still runs: nobody else sends
    with unscoped():  # the worker died; its lease ends
        lapsed = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        OutboxMessage.objects.filter(pk=claimed.id).update(claimed_until=lapsed)
    assert deliver_outbox() == 1
    assert messages()[0].status == "acknowledged" and len(receiver.received) == 1


# --- the page -------------------------------------------------------------------------------------


def test_the_uploads_page_shows_status_and_an_empty_state(world, receiver) -> None:
    client = Client()
    login(client, world.user("b_admin"))
    empty = client.get(reverse("metering:upload_list")).content.decode()
    assert "目前没有为本单位配置上传平台" in empty

    a_day_of_electricity(world.tenant_a)
    recompute_rollups()
    make_endpoint(receiver.url, name="国家重点用能单位能耗在线监测平台", intervals=["15min", "day"])
    enqueue()
    deliver_outbox()
    login(client, world.user("a_admin"))
    page = client.get(reverse("metering:upload_list"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "国家重点用能单位能耗在线监测平台" in text
    assert "2025-03-10 23:45" in text  # the last acknowledged quarter
    assert "数据上传" in text and 'aria-current="page"' in text
    assert page.context["page"].paginator.count == 97
    assert len(page.context["page"].object_list) == 50
    days = client.get(reverse("metering:upload_list"), {"interval": "day"})
    assert days.context["page"].paginator.count == 1
    assert "100%" in days.content.decode()


def test_a_park_endpoint_sends_the_park_with_its_members(world) -> None:
    a_day_of_electricity(world.outsider)  # a member of world.park
    recompute_rollups()
    parks = make_endpoint("https://parks.example.invalid/", enterprise_kinds=["park"], intervals=["day"])
    enqueue()
    (message,) = messages(endpoint=parks)
    assert message.enterprise == world.park
    assert message.payload["enterprise"]["credit_code"] == world.park.credit_code
    electricity = {line["energy_type"]: line for line in message.payload["by_energy_type"]}["electricity"]
    assert electricity["quantity"] == 9600.0  # the member's consumption, rolled up into the park


def test_loopback_http_is_off_unless_a_test_turns_it_on() -> None:
    assert django_settings.OUTBOX_ALLOW_LOOPBACK_HTTP is False


def test_platform_admins_configure_endpoints_in_the_admin_and_the_trail_names_no_secret(world) -> None:
    admin = Client()
    login(admin, world.user("platform_admin"))
    henan = Region.objects.get(code="410000")
    response = admin.post(reverse("admin:outbox_platformendpoint_add"), {
        "name": "河南省能耗在线监测平台", "url": "https://henan.example.invalid/api/upload",
        "adapter": "generic_json", "region": henan.pk, "enterprise_kinds": ["industrial", "data_center"],
        "intervals": ["15min", "day", "month"], "enabled": "on", "auth_env_var": "HENAN_PLATFORM_TOKEN",
        "auth_header": "Authorization", "timeout_s": 10,
        "send_from_0": "2025-03-01", "send_from_1": "00:00:00",
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    endpoint = PlatformEndpoint.objects.get(name="河南省能耗在线监测平台")
    assert endpoint.enterprise_kinds == ["industrial", "data_center"] and endpoint.region == henan
    entry = AuditEntry.objects.get(object_type="outbox.PlatformEndpoint", action="create")
    assert entry.changes["auth_env_var"]["after"] == "HENAN_PLATFORM_TOKEN"

    refused = admin.post(reverse("admin:outbox_platformendpoint_add"), {
        "name": "明文平台", "url": "http://plain.example.invalid/", "adapter": "generic_json",
        "intervals": ["day"], "auth_header": "Authorization", "timeout_s": 10,
        "send_from_0": "2025-03-01", "send_from_1": "00:00:00"})
    assert refused.status_code == 200 and "HTTPS" in refused.content.decode()

    official = Client()
    login(official, world.user("henan_officer"))
    assert official.get(reverse("admin:outbox_platformendpoint_changelist")).status_code == 403
