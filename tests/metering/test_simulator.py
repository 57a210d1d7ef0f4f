"""The demo simulator, the demo seed, `simulate_meters` over a real broker and the embedded
`run_collectors` loop."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO
from pathlib import Path
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from metering.collectors.modbus.polling import modbus_device_claim, modbus_device_poll
from metering.demo.data import DEMO_MQTT_USERNAME, demo_modbus_units, seed_metering_demo
from metering.demo.simulator import (
    DEMO_LAYOUT,
    DEMO_MQTT_LAYOUT,
    SHANGHAI,
    DemoPlant,
    RegisterBank,
    SimulatedModbusServer,
    free_tcp_port,
)
from metering.models import Meter, ModbusDevice, ModbusPoint, Reading, SiteNode
from portal.access import enterprise_scope
from portal.models import Role
from tests.factories import UserFactory
from tests.metering.modbus_support import add_point, make_device, make_meter

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30.0


def test_demo_registers_rise_and_parents_cover_their_children():
    plant = DemoPlant(unit_id=2)
    start = dt.datetime(2026, 3, 1, tzinfo=SHANGHAI)
    by_code = {m.code: m for m in DEMO_LAYOUT}
    for meter in DEMO_LAYOUT:
        values = [plant.cumulative(meter, start + dt.timedelta(minutes=10 * i)) for i in range(24 * 6 * 2)]
        assert all(b > a for a, b in itertools.pairwise(values)), meter.code
    at = start + dt.timedelta(hours=5)
    children = [m for m in DEMO_LAYOUT if m.parent == "E-001"]
    own = by_code["E-001"].mean_rate_per_h * plant.size
    parent_rate = plant.cumulative(by_code["E-001"], at + dt.timedelta(hours=1)) - plant.cumulative(
        by_code["E-001"], at
    )
    children_rate = sum(
        plant.cumulative(c, at + dt.timedelta(hours=1)) - plant.cumulative(c, at) for c in children
    )
    assert parent_rate > children_rate
    assert parent_rate - children_rate == pytest.approx(own, rel=0.35)  # own load, with the daily swing
    powers = {round(plant.power(by_code["E-001"], at), 3) for _ in range(5)}
    assert len(powers) > 1  # noisy


def test_every_demo_meter_fits_its_register_for_years():
    plant = DemoPlant(unit_id=5)  # the largest plant
    far = dt.datetime(2034, 1, 1, tzinfo=SHANGHAI)
    bank = RegisterBank()
    plant.update(bank, far)  # raises if a value does not fit its data type
    assert any(bank.registers("holding", 0, 2))


def _demo_users(world):  # type: ignore[no-untyped-def]
    UserFactory(username="demo_enterprise", role=Role.ENTERPRISE_ADMIN, enterprise=world.tenant_a)
    UserFactory(username="demo_enterprise_b", role=Role.ENTERPRISE_ADMIN, enterprise=world.tenant_b)
    UserFactory(username=DEMO_MQTT_USERNAME, role=Role.ENTERPRISE_ADMIN, enterprise=world.outsider)


@pytest.mark.django_db
def test_seed_does_nothing_without_demo_enterprises(world):
    seed_metering_demo()
    assert not Meter.objects.exists() and not ModbusDevice.objects.exists()


@pytest.mark.django_db
def test_seed_is_idempotent_and_the_simulator_serves_exactly_what_it_maps(world):
    _demo_users(world)
    seed_metering_demo()
    counts = (
        Meter.objects.count(),
        SiteNode.objects.count(),
        ModbusDevice.objects.count(),
        ModbusPoint.objects.count(),
        Reading.objects.count(),
    )
    seed_metering_demo()
    assert (
        Meter.objects.count(),
        SiteNode.objects.count(),
        ModbusDevice.objects.count(),
        ModbusPoint.objects.count(),
        Reading.objects.count(),
    ) == counts
    assert Meter.objects.filter(enterprise=world.tenant_a).count() == len(DEMO_LAYOUT)
    assert Meter.objects.filter(enterprise=world.outsider).count() == len(DEMO_MQTT_LAYOUT)
    assert not ModbusDevice.objects.filter(enterprise=world.outsider).exists()  # MQTT-fed
    assert set(Meter.objects.filter(enterprise=world.tenant_a).values_list("level", flat=True)) == {1, 2, 3}
    e111 = Meter.objects.get(enterprise=world.tenant_a, code="E-111")
    assert (e111.parent.code, e111.parent.parent.code) == ("E-101", "E-001")
    assert e111.site_node.kind == SiteNode.Kind.EQUIPMENT and e111.site_node.parent.name == "一车间"
    assert Reading.objects.filter(meter=e111).count() >= 7 * 24  # a week of hourly history

    units = demo_modbus_units()
    assert units == {world.tenant_a.pk: 1, world.tenant_b.pk: 2}
    now = timezone.now()
    plants = {unit: DemoPlant(unit_id=unit) for unit in units.values()}
    banks = {unit: RegisterBank() for unit in units.values()}
    for unit, plant in plants.items():
        plant.update(banks[unit], now)
    with SimulatedModbusServer(banks) as server:
        ModbusDevice.objects.update(port=server.port)
        for device in ModbusDevice.objects.all():
            with enterprise_scope(device.enterprise_id):
                token = modbus_device_claim(device_id=device.pk, force=True)
                outcome = modbus_device_poll(device_id=device.pk, claim_token=token, write=False)
            assert outcome.ok, outcome.errors
            assert len(outcome.points) == len(DEMO_LAYOUT)
            plant = plants[device.unit_id]
            by_code = {m.code: m for m in DEMO_LAYOUT}
            for result in outcome.points:
                expected = plant.cumulative(by_code[result.point.meter_code], now)
                assert result.value == pytest.approx(expected, rel=1e-6), result.point.meter_code
            assert outcome.requests == 2  # one request for the holding block, one for the input block


@pytest.mark.django_db
def test_simulate_meters_publishes_the_default_mqtt_contract(world, mqtt_url):
    _demo_users(world)
    seed_metering_demo()
    received: list[tuple[str, dict]] = []
    subscribed = threading.Event()
    parsed = urlparse(mqtt_url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-test-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"nengtan/{world.outsider.credit_code}/#", qos=1)
    client.on_subscribe = lambda c, u, mid, rc, p: subscribed.set()
    client.on_message = lambda c, u, msg: received.append((msg.topic, json.loads(msg.payload)))
    client.connect(parsed.hostname, parsed.port or 1883)
    client.loop_start()
    try:
        assert subscribed.wait(WAIT_S)
        out = StringIO()
        call_command(
            "simulate_meters",
            "--modbus-port",
            str(free_tcp_port()),
            "--mqtt-url",
            mqtt_url,
            "--interval",
            "0.2",
            "--iterations",
            "3",
            stdout=out,
        )
        deadline = time.monotonic() + WAIT_S
        while len(received) < 3 * len(DEMO_MQTT_LAYOUT) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    assert "unit ids [1, 2]" in out.getvalue()
    topics = {topic for topic, _ in received}
    assert topics == {f"nengtan/{world.outsider.credit_code}/{m.code}" for m in DEMO_MQTT_LAYOUT}
    for _, payload in received:
        assert set(payload) == {"ts", "value"} and isinstance(payload["value"], float)
        assert dt.datetime.fromisoformat(payload["ts"]).utcoffset() == dt.timedelta(hours=8)
    e001 = sorted((p["ts"], p["value"]) for t, p in received if t.endswith("/E-001"))
    assert e001[-1][1] >= e001[0][1]  # cumulative


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_run_collectors_once_polls_due_devices_in_threads(world, settings, tmp_path):
    settings.SPOOL_DIR = tmp_path
    bank = RegisterBank()
    bank.set_value("holding", 0, 99, data_type="uint16", byte_order="ABCD")
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "嵌入式", port=server.port)
        meter = make_meter(world.tenant_a, "RC-1")
        add_point(device, meter, address=0, data_type="uint16")
        out = StringIO()
        call_command("run_collectors", "--once", stdout=out)
    assert Reading.objects.get(meter=meter).value == 99
    device.refresh_from_db()
    assert device.status == ModbusDevice.Status.ONLINE and device.claim_token == ""
    assert "run_collectors stopped" in out.getvalue()


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or 'postgres'}@{host}:{port}/{db['NAME']}"


@pytest.mark.django_db
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_collectors_exits_cleanly_on_signal(tmp_path, signum):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SPOOL_DIR": str(tmp_path),
        "NENGTAN_ENV": "test",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_collectors", "--interval", "0.2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_line = process.stdout.readline()  # type: ignore[union-attr]
        assert "run_collectors: polling due Modbus devices" in first_line
        time.sleep(0.5)  # a few cycles
        process.send_signal(signum)
        output, _ = process.communicate(timeout=WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "run_collectors stopped" in output
