"""The Modbus path through a real Celery worker on the real Redis broker.

Beat's job (`dispatch_due_devices`) is sent to a worker process, which claims the due device
and sends `poll_device` (a TenantTask) that reads a real pymodbus server and writes readings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from metering.demo.simulator import RegisterBank, SimulatedModbusServer
from metering.models import Reading
from tests.metering.modbus_support import add_point, make_device, make_meter

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKER_WAIT_S = 60


def _worker_env(redis_url: str) -> dict[str, str]:
    database = settings.DATABASES["default"]
    env = dict(os.environ)
    env.update(
        NENGTAN_ENV="test",
        REDIS_URL=redis_url,
        DATABASE_URL=(
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        MQTT_URL="",
    )
    return env


def test_a_real_worker_polls_a_due_device_and_writes_its_readings(world, redis_url):
    import redis

    # The default queue, on this run's own Redis database (REDIS_URL), so the worker takes both
    # the dispatch and the poll it sends.
    queue = "celery"
    bank = RegisterBank()
    bank.set_value("holding", 10, 12345.5, data_type="float32", byte_order="CDAB")
    with SimulatedModbusServer({3: bank}) as server:
        meter = make_meter(world.tenant_a, "E-CELERY")
        device = make_device(world.tenant_a, "celery-device", port=server.port, unit_id=3)
        add_point(device, meter, address=10, data_type="float32", byte_order="CDAB")

        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--concurrency=1",
             "-Q", queue, "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=ROOT, env=_worker_env(redis_url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            from portal.celery import app

            app.conf.broker_url = redis_url
            app.conf.task_always_eager = False
            with app.connection_for_write() as connection:
                app.send_task("metering.tasks.dispatch_due_devices", queue=queue, connection=connection)
            deadline = time.monotonic() + WORKER_WAIT_S
            readings: list[Reading] = []
            while time.monotonic() < deadline and not readings:
                readings = list(Reading.objects.filter(meter=meter))
                time.sleep(0.5)
        finally:
            worker.terminate()
            output, _ = worker.communicate(timeout=30)
            app.conf.task_always_eager = settings.CELERY_TASK_ALWAYS_EAGER
            redis.Redis.from_url(redis_url).delete(queue)

    assert readings, f"the worker wrote no reading within {WORKER_WAIT_S} s; worker output:\n{output}"
    assert readings[0].value == pytest.approx(12345.5)
    assert "metering.tasks.poll_device" in output
    device.refresh_from_db()
    assert device.status == "online"
    assert device.polls_ok == 1
