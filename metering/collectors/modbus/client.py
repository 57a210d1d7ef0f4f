"""A synchronous Modbus connection to one device, with per-request timeout, retries and back-off.

pymodbus's own retry loop is switched off (`retries=0`): we retry here so the back-off
between attempts and the reconnect after a broken link follow the device's settings, and so
the whole poll stays inside the time budget its claim was taken for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

logger = logging.getLogger(__name__)

# Back-off doubles per attempt but never waits longer than this between two attempts.
MAX_BACKOFF_S = 30.0


class ModbusReadError(Exception):
    """A read that failed after its retries. `unreachable` means the device never answered."""

    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class ConnectionSettings:
    protocol: str  # "tcp" | "rtu_over_tcp" | "rtu"
    host: str = ""
    port: int = 502
    serial_port: str = ""
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    unit_id: int = 1
    timeout_s: float = 3.0
    retries: int = 2
    backoff_s: float = 0.5

    @classmethod
    def from_device(cls, device: Any) -> ConnectionSettings:
        return cls(
            protocol=device.protocol,
            host=device.host,
            port=device.port,
            serial_port=device.serial_port,
            baudrate=device.baudrate,
            parity=device.parity,
            stopbits=device.stopbits,
            unit_id=device.unit_id,
            timeout_s=device.timeout_s,
            retries=device.retries,
            backoff_s=device.backoff_s,
        )

    @property
    def label(self) -> str:
        where = self.serial_port if self.protocol == "rtu" else f"{self.host}:{self.port}"
        return f"{self.protocol}://{where} unit {self.unit_id}"


def backoff_delay_s(settings: ConnectionSettings, attempt: int) -> float:
    """Wait before retry number `attempt` (1-based): back-off, doubled per attempt, capped."""
    return min(settings.backoff_s * (2 ** (attempt - 1)), MAX_BACKOFF_S)


def worst_case_read_s(settings: ConnectionSettings) -> float:
    """How long one read may take with all its retries: connect + answer per attempt, plus back-off."""
    attempts = settings.retries + 1
    waits = sum(backoff_delay_s(settings, n) for n in range(1, attempts))
    return attempts * 2 * settings.timeout_s + waits


def _make_client(settings: ConnectionSettings) -> ModbusTcpClient | ModbusSerialClient:
    if settings.protocol == "rtu":
        return ModbusSerialClient(
            settings.serial_port,
            framer=FramerType.RTU,
            baudrate=settings.baudrate,
            parity=settings.parity,
            stopbits=settings.stopbits,
            timeout=settings.timeout_s,
            retries=0,
        )
    framer = FramerType.RTU if settings.protocol == "rtu_over_tcp" else FramerType.SOCKET
    return ModbusTcpClient(
        settings.host,
        port=settings.port,
        framer=framer,
        timeout=settings.timeout_s,
        retries=0,
    )


class DeviceConnection:
    """One device's link for the length of a poll. Use as a context manager."""

    def __init__(self, settings: ConnectionSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._sleep = sleep
        self._client: ModbusTcpClient | ModbusSerialClient | None = None
        self.requests_sent = 0

    def __enter__(self) -> DeviceConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _connected_client(self) -> ModbusTcpClient | ModbusSerialClient:
        if self._client is None:
            self._client = _make_client(self.settings)
        if not self._client.connected and not self._client.connect():
            self.close()
            raise ConnectionError(f"cannot connect to {self.settings.label}")
        return self._client

    def read_registers(self, *, register_type: str, address: int, count: int) -> list[int]:
        """Read `count` registers, retrying with back-off on a timeout or a broken link.

        A Modbus exception response (illegal address, …) is the device's answer, not a
        transport failure: it is not retried.
        """
        last_error = ""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                self._sleep(backoff_delay_s(self.settings, attempt))
            try:
                client = self._connected_client()
                self.requests_sent += 1
                read = (
                    client.read_holding_registers
                    if register_type == "holding"
                    else client.read_input_registers
                )
                response = read(address, count=count, device_id=self.settings.unit_id)
            except (ConnectionError, ModbusException, OSError, TimeoutError) as exc:
                last_error = str(exc) or exc.__class__.__name__
                logger.info(
                    "modbus read %s %s@%d×%d failed (attempt %d): %s",
                    self.settings.label,
                    register_type,
                    address,
                    count,
                    attempt + 1,
                    last_error,
                )
                self.close()  # a half-read frame would poison the next request; start clean
                continue
            if response.isError():
                raise ModbusReadError(
                    f"{register_type} {address}+{count}: device answered with exception {response}",
                    unreachable=False,
                )
            registers = list(response.registers)
            if len(registers) < count:
                raise ModbusReadError(
                    f"{register_type} {address}+{count}: device returned {len(registers)} registers",
                    unreachable=False,
                )
            return registers[:count]
        raise ModbusReadError(
            f"{register_type} {address}+{count}: no answer from {self.settings.label} after "
            f"{self.settings.retries + 1} attempt(s): {last_error}",
            unreachable=True,
        )
