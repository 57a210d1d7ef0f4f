"""Run a private Mosquitto on a free loopback port with a given configuration.

Tests that need the broker to enforce passwords and ACLs, or to restart, use their own
instance: the shared broker on 1883 is anonymous and other engineers' tests use it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PrivateMosquitto:
    directory: Path
    port: int
    password_file: Path | None = None
    acl_file: Path | None = None
    allow_anonymous: bool = False
    extra: str = ""
    # Started instead of `mosquitto -c <config>` (e.g. deploy/mosquitto/run-broker.sh), with `env`.
    launcher: list[str] | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None

    @property
    def config_file(self) -> Path:
        return self.directory / "m.conf"

    @property
    def log_file(self) -> Path:
        return self.directory / "mosquitto.log"

    def url(self, username: str | None = None, password: str | None = None) -> str:
        auth = f"{username}:{password}@" if username else ""
        return f"mqtt://{auth}127.0.0.1:{self.port}"

    def write_config(self) -> None:
        persistence = self.directory / "data"
        persistence.mkdir(exist_ok=True)
        lines = [
            # Started as root, Mosquitto drops to the `mosquitto` user, which cannot read the test's
            # private temporary directory; stay the user that started it.
            *(["user root"] if os.geteuid() == 0 else []),
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            "persistence true",
            f"persistence_location {persistence}/",
            f"log_dest file {self.log_file}",
            "log_type all",
            "max_inflight_messages 1000",
            "max_queued_messages 100000",
        ]
        if self.password_file:
            lines.append(f"password_file {self.password_file}")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        self.config_file.write_text("\n".join(lines) + "\n" + self.extra)

    def start(self) -> None:
        self.write_config()
        command = self.launcher or [MOSQUITTO, "-c", str(self.config_file)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env={**os.environ, **self.env} if self.env else None)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited: {error} {self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): Mosquitto saves its persistence file on the way out."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@contextmanager
def private_mosquitto(directory: Path, **options: object) -> Iterator[PrivateMosquitto]:
    broker = PrivateMosquitto(directory=directory, port=free_port(), **options)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


PUBLISH_TIMEOUT_S = 30.0


def mqtt_client(url: str, client_id: str, **kwargs: object):  # type: ignore[no-untyped-def]
    """A connected MQTT v5 paho client with its network loop running (caller disconnects)."""
    import paho.mqtt.client as mqtt

    from metering.collectors.mqtt.consumer import BrokerAddress

    broker = BrokerAddress.from_url(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         **kwargs)  # type: ignore[arg-type]
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish_all(url: str, client_id: str, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait until the broker acknowledged every message."""
    client = mqtt_client(url, client_id)
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(PUBLISH_TIMEOUT_S)
            assert info.is_published(), "the broker did not acknowledge a publish"
    finally:
        client.disconnect()
        client.loop_stop()
