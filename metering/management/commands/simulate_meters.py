"""`manage.py simulate_meters`: realistic demo meters on a local Modbus server and over MQTT.

Serves the demo register map (`metering.demo.simulator.DEMO_LAYOUT`) for every demo enterprise's
unit id, with cumulative energy registers that rise along a daily load curve and noisy power
registers, and publishes the MQTT-fed demo enterprise's readings on the default topic
contract (`nengtan/<credit code>/<meter code>`, {"ts", "value"}, QoS 1). Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from metering.demo.simulator import (
    DEMO_MODBUS_HOST,
    DEMO_MODBUS_PORT,
    DEMO_MQTT_LAYOUT,
    DemoPlant,
    MqttTarget,
    RegisterBank,
    SimulatedModbusServer,
    mqtt_connect_args,
    mqtt_messages,
)

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0
MQTT_QOS = 1
MQTT_KEEPALIVE_S = 30
# Unit ids served when the database has no demo devices (yet): the seed's first two.
FALLBACK_UNIT_IDS = (1, 2)


class Command(BaseCommand):
    help = (
        "Serve simulated meters on a local Modbus TCP server and publish MQTT readings, until SIGTERM/SIGINT."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--modbus-host", default=DEMO_MODBUS_HOST)
        parser.add_argument("--modbus-port", type=int, default=DEMO_MODBUS_PORT)
        parser.add_argument(
            "--mqtt-url",
            default=None,
            help="broker to publish to (default: settings.MQTT_URL; MQTT is skipped when empty)",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=DEFAULT_INTERVAL_S,
            help="seconds between register updates and MQTT publications",
        )
        parser.add_argument(
            "--iterations", type=int, default=0, help="stop after this many updates (0: run on)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0:
            raise CommandError("--interval must be > 0.")
        mqtt_url = settings.MQTT_URL if options["mqtt_url"] is None else options["mqtt_url"]
        units, credit_code = self._demo_targets()
        plants = {unit_id: DemoPlant(unit_id=unit_id) for unit_id in units}
        banks = {unit_id: RegisterBank() for unit_id in units}
        now = timezone.now()
        for unit_id, plant in plants.items():
            plant.update(banks[unit_id], now)
        server = SimulatedModbusServer(banks, host=options["modbus_host"], port=options["modbus_port"])
        try:
            server.start()
        except RuntimeError as exc:
            raise CommandError(
                f"cannot serve Modbus on {options['modbus_host']}:{options['modbus_port']}: {exc}"
            ) from exc
        self.stdout.write(f"Modbus simulator on {server.host}:{server.port}, unit ids {sorted(units)}")

        targets: list[MqttTarget] = []
        client: mqtt.Client | None = None
        if mqtt_url and credit_code:
            from metering.demo.data import DEMO_MQTT_PLANT_UNIT
            from metering.demo.simulator import DEMO_MQTT_PLANT_SCALE

            targets = [
                MqttTarget(credit_code, DemoPlant(unit_id=DEMO_MQTT_PLANT_UNIT, layout=DEMO_MQTT_LAYOUT,
                                                    scale=DEMO_MQTT_PLANT_SCALE))
            ]
            client = self._mqtt_client(mqtt_url)
            self.stdout.write(
                f"publishing MQTT readings under nengtan/{credit_code}/ every {options['interval']}s"
            )
        elif not mqtt_url:
            self.stdout.write("MQTT_URL is empty: not publishing MQTT readings")
        self.stdout.flush()

        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous_handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        iterations = 0
        try:
            while not stop.is_set():
                now = timezone.now()
                for unit_id, plant in plants.items():
                    plant.update(banks[unit_id], now)
                if client is not None:
                    for topic, payload in mqtt_messages(targets, now):
                        client.publish(topic, payload, qos=MQTT_QOS)
                iterations += 1
                if options["iterations"] and iterations >= options["iterations"]:
                    break
                stop.wait(options["interval"])
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            server.stop()
            if client is not None:
                client.loop_stop()
                client.disconnect()
        self.stdout.write("simulate_meters stopped")

    def _demo_targets(self) -> tuple[list[int], str | None]:
        """Unit ids and the MQTT enterprise's credit code from the seeded demo, if the database has them."""
        from metering.demo.data import demo_modbus_units, demo_mqtt_credit_code

        try:
            units = sorted(set(demo_modbus_units().values())) or list(FALLBACK_UNIT_IDS)
            return units, demo_mqtt_credit_code()
        except DatabaseError as exc:
            logger.warning(
                "database unavailable, serving unit ids %s without MQTT: %s", FALLBACK_UNIT_IDS, exc
            )
            return list(FALLBACK_UNIT_IDS), None

    def _mqtt_client(self, url: str) -> mqtt.Client:
        try:
            args = mqtt_connect_args(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"nengtan-simulator-{os.getpid()}",
            protocol=mqtt.MQTTv5,
        )
        if args["username"]:
            client.username_pw_set(str(args["username"]), args["password"])  # type: ignore[arg-type]
        # connect_async + loop_start: the loop reconnects by itself if the broker restarts.
        client.connect_async(str(args["host"]), int(args["port"]), keepalive=MQTT_KEEPALIVE_S)  # type: ignore[call-overload]
        client.loop_start()
        return client
