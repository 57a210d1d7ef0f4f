"""The Modbus collector over real connections: a pymodbus server, the poll services, the claim,
the Celery tasks, the `poll_modbus` command, and the spool when the database is down."""

from __future__ import annotations

import math
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from metering.collectors.modbus import polling
from metering.collectors.modbus.decoding import DATA_TYPES, encode_value
from metering.collectors.modbus.polling import modbus_device_claim, modbus_device_poll, modbus_spool_drain
from metering.demo.simulator import RegisterBank, SilentTcpServer, SimulatedModbusServer, free_tcp_port
from metering.ingest.spool import Spool
from metering.models import ModbusDevice, Reading
from portal.access import enterprise_scope
from tests.metering.modbus_support import (
    add_point,
    database_restored,
    make_device,
    make_meter,
    take_test_database_down,
)

pytestmark = pytest.mark.services

ORDERS = ("ABCD", "DCBA", "BADC", "CDAB")
# (raw value on the device, scale, offset) per type: negatives, extremes that survive a float64,
# fractions, and a scale/offset on each type.
SAMPLES = {
    "int16": (-12345, 0.1, 0.0),
    "uint16": (65000, 1.0, -5.0),
    "int32": (-2000000000, 0.01, 0.0),
    "uint32": (4000000000, 0.001, 1.5),
    "int64": (-9007199254740991, 1.0, 0.0),
    "uint64": (2**53 - 1, 2.0, 0.0),
    "float32": (-1234.5, 1.0, 0.25),
    "float64": (-98765.4321, 0.5, 100.0),
}


def poll_now(device: ModbusDevice, **kwargs):  # type: ignore[no-untyped-def]
    with enterprise_scope(device.enterprise_id):
        token = modbus_device_claim(device_id=device.pk, force=True)
        assert token
        return modbus_device_poll(device_id=device.pk, claim_token=token, **kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("register_type", ["holding", "input"])
def test_every_type_and_order_decodes_to_the_right_value(world, register_type):
    bank = RegisterBank()
    expected = {}
    with SimulatedModbusServer({7: bank}) as server:
        device = make_device(world.tenant_a, "全类型", port=server.port, unit_id=7)
        address = 0
        for order in ORDERS:
            for data_type, (raw, scale, offset) in SAMPLES.items():
                meter = make_meter(world.tenant_a, f"{data_type}-{order}")
                bank.set_registers(
                    register_type, address, encode_value(raw, data_type=data_type, byte_order=order)
                )
                add_point(
                    device,
                    meter,
                    register_type=register_type,
                    address=address,
                    data_type=data_type,
                    byte_order=order,
                    scale=scale,
                    offset=offset,
                )
                expected[meter.pk] = raw * scale + offset
                address += DATA_TYPES[data_type][1] + 1  # a one-register gap: still merged

        outcome = poll_now(device)

    assert outcome.ok, outcome.errors
    stored = dict(Reading.objects.filter(meter_id__in=expected).values_list("meter_id", "value"))
    assert set(stored) == set(expected)
    for meter_id, value in expected.items():
        assert math.isclose(stored[meter_id], value, rel_tol=1e-6), (meter_id, stored[meter_id], value)
    # 32 points, 32 × (words + 1) - 1 registers: fewer requests than points, none over 125 registers.
    reads = bank.reads_of(register_type)
    assert len(reads) == outcome.requests < len(expected)
    assert all(r.count <= 125 for r in reads)
    device.refresh_from_db()
    assert device.status == ModbusDevice.Status.ONLINE
    assert (device.polls_total, device.polls_ok, device.consecutive_failures) == (1, 1, 0)
    assert device.claim_token == "" and device.claimed_until is None
    assert device.last_success_at is not None and device.next_poll_at > timezone.now()


@pytest.mark.django_db
def test_rtu_over_tcp_reads_through_the_rtu_framer(world):
    bank = RegisterBank()
    bank.set_value("holding", 3, 42.5, data_type="float32", byte_order="CDAB")
    with SimulatedModbusServer({2: bank}, framer="rtu") as server:
        device = make_device(
            world.tenant_a,
            "RTU 网关",
            port=server.port,
            unit_id=2,
            protocol=ModbusDevice.Protocol.RTU_OVER_TCP,
        )
        meter = make_meter(world.tenant_a, "RTU-1")
        add_point(device, meter, address=3, data_type="float32", byte_order="CDAB")
        outcome = poll_now(device)
    assert outcome.ok, outcome.errors
    assert Reading.objects.get(meter=meter).value == 42.5


@pytest.mark.django_db
def test_adjacent_registers_are_read_in_one_request_counted_by_the_server(world):
    bank = RegisterBank()
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "分组", port=server.port)
        layout = [
            ("holding", 0, "float32"),
            ("holding", 2, "uint32"),
            ("holding", 4, "int16"),
            ("holding", 6, "float32"),  # one unused register (5) between: still one request
            ("holding", 40, "float64"),  # far away: its own request
            ("input", 0, "int32"),
            ("input", 2, "int32"),
        ]
        for n, (register_type, address, data_type) in enumerate(layout):
            add_point(
                device,
                make_meter(world.tenant_a, f"G-{n}"),
                register_type=register_type,
                address=address,
                data_type=data_type,
            )
        outcome = poll_now(device)
    assert outcome.ok, outcome.errors
    assert sorted((r.register_type, r.address, r.count) for r in bank.reads) == [
        ("holding", 0, 8),
        ("holding", 40, 4),
        ("input", 0, 4),
    ]
    assert Reading.objects.filter(meter__code__startswith="G-").count() == len(layout)


@pytest.mark.django_db
def test_a_refused_merged_range_falls_back_to_single_points(world):
    bank = RegisterBank(size=10)  # registers 10+ do not exist on this device
    bank.set_value("holding", 8, 7, data_type="uint16", byte_order="ABCD")
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "越界", port=server.port)
        good = make_meter(world.tenant_a, "OK-1")
        bad = make_meter(world.tenant_a, "BAD-1")
        add_point(device, good, address=8, data_type="uint16")
        add_point(device, bad, address=10, data_type="uint16")  # merged with 8, but illegal
        outcome = poll_now(device)
    assert Reading.objects.get(meter=good).value == 7
    assert not Reading.objects.filter(meter=bad).exists()
    assert outcome.reachable and not outcome.ok
    device.refresh_from_db()
    assert device.status == ModbusDevice.Status.ONLINE
    assert "holding 10+1" in device.last_error and device.consecutive_failures == 1


@pytest.mark.django_db
def test_an_unreachable_device_is_recorded_offline_with_its_error(world):
    device = make_device(world.tenant_a, "离线", port=free_tcp_port(), retries=2, backoff_s=0.01)
    add_point(device, make_meter(world.tenant_a, "OFF-1"), address=0)
    sleeps: list[float] = []
    outcome = poll_now(device, sleep=sleeps.append)
    assert not outcome.reachable
    assert sleeps == [0.01, 0.02]  # back-off doubles per retry
    device.refresh_from_db()
    assert device.status == ModbusDevice.Status.OFFLINE
    assert (device.polls_total, device.polls_ok, device.consecutive_failures) == (1, 0, 1)
    assert "no answer" in device.last_error and device.claim_token == ""
    assert device.success_rate == 0.0


@pytest.mark.django_db
def test_the_claim_respects_due_time_and_other_holders(world):
    device = make_device(world.tenant_a, "认领", port=free_tcp_port())
    with enterprise_scope(world.tenant_a.pk):
        first = modbus_device_claim(device_id=device.pk)
        assert first
        assert modbus_device_claim(device_id=device.pk) is None  # held
        assert modbus_device_claim(device_id=device.pk, force=True) is None  # even forced
        # Someone else's token cannot poll it.
        assert not modbus_device_poll(device_id=device.pk, claim_token="not-the-token").claimed
        ModbusDevice.objects.filter(pk=device.pk).update(
            claimed_until=None, next_poll_at=timezone.now() + timezone.timedelta(minutes=5)
        )
        assert modbus_device_claim(device_id=device.pk) is None  # not due
        assert modbus_device_claim(device_id=device.pk, force=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_claims_exactly_one_wins(world):
    device = make_device(world.tenant_a, "并发", port=free_tcp_port())
    add_point(device, make_meter(world.tenant_a, "C-1"), address=0)
    barrier = threading.Barrier(8)
    tokens: list[str | None] = []

    def claim() -> None:
        from django.db import connection

        try:
            with enterprise_scope(world.tenant_a.pk):
                barrier.wait()
                tokens.append(modbus_device_claim(device_id=device.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [t for t in tokens if t]
    assert len(tokens) == 8 and len(winners) == 1
    assert ModbusDevice.objects.get(pk=device.pk).claim_token == winners[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dead_device_does_not_delay_a_healthy_one(world):
    bank = RegisterBank()
    bank.set_value("holding", 0, 1234.5, data_type="float32", byte_order="ABCD")
    finished: list[str] = []

    with SimulatedModbusServer({1: bank}) as healthy_server, SilentTcpServer() as silent:
        dead = make_device(
            world.tenant_a, "无响应", port=silent.port, timeout_s=1.0, retries=2, backoff_s=0.5
        )
        add_point(dead, make_meter(world.tenant_a, "DEAD-1"), address=0)
        healthy = make_device(world.tenant_b, "正常", port=healthy_server.port, timeout_s=1.0, retries=2)
        healthy_meter = make_meter(world.tenant_b, "LIVE-1")
        add_point(healthy, healthy_meter, address=0)

        def poll(device: ModbusDevice, label: str) -> None:
            from django.db import connection

            try:
                with enterprise_scope(device.enterprise_id):
                    token = modbus_device_claim(device_id=device.pk)
                    assert token
                    modbus_device_poll(device_id=device.pk, claim_token=token)
                finished.append(label)
            finally:
                connection.close()

        dead_thread = threading.Thread(target=poll, args=(dead, "dead"))
        dead_thread.start()  # the dead device starts first and waits out timeouts and back-off
        healthy_thread = threading.Thread(target=poll, args=(healthy, "healthy"))
        healthy_thread.start()
        healthy_thread.join()
        healthy_done_while_dead_still_polling = dead_thread.is_alive()
        dead_thread.join()

    assert finished == ["healthy", "dead"]
    assert healthy_done_while_dead_still_polling
    assert silent.connections >= 1  # the dead device really was asked
    assert Reading.objects.get(meter=healthy_meter).value == 1234.5
    statuses = dict(ModbusDevice.objects.values_list("name", "status"))
    assert statuses == {"无响应": "offline", "正常": "online"}


@pytest.mark.django_db
def test_dispatch_claims_due_devices_and_polls_each_in_its_tenant_scope(world, settings, tmp_path):
    from metering.tasks import dispatch_due_devices

    settings.CELERY_TASK_ALWAYS_EAGER = True  # the worker is this process
    settings.SPOOL_DIR = tmp_path
    from portal.celery import app

    app.conf.task_always_eager = True
    bank_a, bank_b = RegisterBank(), RegisterBank()
    bank_a.set_value("holding", 0, 11, data_type="uint16", byte_order="ABCD")
    bank_b.set_value("holding", 0, 22, data_type="uint16", byte_order="ABCD")
    try:
        with SimulatedModbusServer({1: bank_a, 2: bank_b}) as server:
            device_a = make_device(world.tenant_a, "甲", port=server.port, unit_id=1)
            device_b = make_device(world.tenant_b, "乙", port=server.port, unit_id=2)
            meter_a, meter_b = make_meter(world.tenant_a, "D-A"), make_meter(world.tenant_b, "D-B")
            add_point(device_a, meter_a, address=0, data_type="uint16")
            add_point(device_b, meter_b, address=0, data_type="uint16")
            disabled = make_device(world.tenant_a, "停用", port=server.port, enabled=False)
            add_point(disabled, make_meter(world.tenant_a, "D-OFF"), address=0, data_type="uint16")

            assert dispatch_due_devices() == 2
            assert dispatch_due_devices() == 0  # next_poll_at moved on: nothing due
    finally:
        app.conf.task_always_eager = False
    assert Reading.objects.get(meter=meter_a).value == 11
    assert Reading.objects.get(meter=meter_b).value == 22
    assert not Reading.objects.filter(meter__code="D-OFF").exists()


@pytest.mark.django_db
def test_poll_modbus_once_prints_registers_values_and_meters(world):
    bank = RegisterBank()
    bank.set_value("holding", 10, -2, data_type="int32", byte_order="CDAB")
    bank.set_value("input", 0, 2.5, data_type="float32", byte_order="ABCD")
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "调试", port=server.port)
        add_point(
            device,
            make_meter(world.tenant_a, "CMD-1"),
            address=10,
            data_type="int32",
            byte_order="CDAB",
            scale=0.5,
        )
        add_point(device, make_meter(world.tenant_a, "CMD-2"), register_type="input", address=0)
        out = StringIO()
        call_command("poll_modbus", "--once", "--device", str(device.pk), stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert f"device {device.pk} 调试: ok, 2 request(s)" in text
    assert "holding    10  int32   CDAB  [FFFE FFFF]  → -1  meter CMD-1" in text
    assert "input       0  float32 ABCD  [4020 0000]  → 2.5  meter CMD-2" in text
    assert "readings written: 2" in text
    assert Reading.objects.filter(meter__code__in=["CMD-1", "CMD-2"]).count() == 2


@pytest.mark.django_db
def test_poll_modbus_dry_run_stores_nothing_and_unknown_device_is_an_error(world):
    bank = RegisterBank()
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "试读", port=server.port)
        add_point(device, make_meter(world.tenant_a, "DRY-1"), address=0, data_type="uint16")
        out = StringIO()
        call_command("poll_modbus", "--once", "--dry-run", stdout=out)
    assert "(dry run: nothing stored)" in out.getvalue()
    assert not Reading.objects.filter(meter__code="DRY-1").exists()
    device.refresh_from_db()
    assert device.polls_total == 0 and device.claim_token == ""
    with pytest.raises(CommandError, match="no Modbus device with id 999999"):
        call_command("poll_modbus", "--once", "--device", "999999")
    with pytest.raises(CommandError, match="--once"):
        call_command("poll_modbus")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_readings_read_while_the_database_is_down_are_spooled_and_drained_next_cycle(
    world, settings, tmp_path
):
    settings.SPOOL_DIR = tmp_path
    bank = RegisterBank()
    bank.set_value("holding", 0, 321.0, data_type="float32", byte_order="ABCD")
    real_on_access = bank.on_access

    async def database_dies_during_the_read(*args):  # type: ignore[no-untyped-def]
        take_test_database_down()
        return await real_on_access(*args)

    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "断库", port=server.port)
        meter = make_meter(world.tenant_a, "SPOOL-1")
        add_point(device, meter, address=0)
        with enterprise_scope(world.tenant_a.pk):
            token = modbus_device_claim(device_id=device.pk)
        bank.on_access = database_dies_during_the_read  # type: ignore[method-assign]
        with database_restored():
            with enterprise_scope(world.tenant_a.pk):
                outcome = modbus_device_poll(device_id=device.pk, claim_token=token)
            assert outcome.readings_spooled == 1 and outcome.readings_written == 0
            assert len(Spool(polling.SPOOL_NAME)) == 1
            assert modbus_spool_drain() == 0  # still down: the batch stays
            assert len(Spool(polling.SPOOL_NAME)) == 1

    assert not Reading.objects.filter(meter=meter).exists()
    assert modbus_spool_drain() == 1  # the next cycle, with the database back
    assert len(Spool(polling.SPOOL_NAME)) == 0
    assert Reading.objects.get(meter=meter).value == 321.0


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["suspended", "rejected", "pending"])
def test_devices_of_an_enterprise_that_may_not_send_are_not_dispatched(world, status):
    from django_scopes import scopes_disabled

    from portal.models import Enterprise

    sending = make_device(world.tenant_a, "在用", port=free_tcp_port())
    refused = make_device(world.tenant_b, "停用企业", port=free_tcp_port())
    with scopes_disabled():  # the dispatcher selects across tenants, as it does in production
        assert {pk for pk, _ in polling.modbus_devices_due()} == {sending.pk, refused.pk}
        Enterprise.objects.filter(pk=world.tenant_b.pk).update(status=status)
        assert polling.modbus_devices_due() == [(sending.pk, world.tenant_a.pk)]
