"""Simulated meters: a real pymodbus TCP server and an MQTT publisher, for `make run` and tests.

- `RegisterBank` holds one unit's holding and input registers and counts the read requests
  it answers (tests use the count to check that adjacent registers are read in one request).
- `SimulatedModbusServer` serves banks on a local port from a background thread (pymodbus's
  SimDevice API: the legacy ModbusDeviceContext is deprecated in the installed 3.x).
- `SilentTcpServer` accepts connections and never answers: a hung device, for timeout tests.
- `DEMO_LAYOUT` is THE register map of the demo plant. `metering.demo` creates meters and
  Modbus points from it and `DemoPlant` serves values at exactly those addresses, so the two
  cannot drift apart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import random
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

from pymodbus import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from metering.collectors.modbus.decoding import encode_value, register_count

logger = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Registers per bank and type: the demo map and the tests stay well below this.
REGISTER_SPACE = 1024
# Modbus function codes answered from the holding / input bank.
READ_HOLDING_FC, READ_INPUT_FC = 3, 4
SERVER_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ReadRequest:
    unit_id: int
    register_type: str
    address: int
    count: int


class RegisterBank:
    """One unit's registers. Thread-safe: the server reads them from its own thread."""

    def __init__(self, size: int = REGISTER_SPACE) -> None:
        self.size = size
        self._registers = {"holding": [0] * size, "input": [0] * size}
        self._lock = threading.Lock()
        self.reads: list[ReadRequest] = []

    def set_registers(self, register_type: str, address: int, values: Sequence[int]) -> None:
        if address < 0 or address + len(values) > self.size:
            raise ValueError(
                f"registers {address}..{address + len(values) - 1} are outside 0..{self.size - 1}"
            )
        with self._lock:
            self._registers[register_type][address : address + len(values)] = list(values)

    def set_value(
        self, register_type: str, address: int, raw: float, *, data_type: str, byte_order: str
    ) -> None:
        """Store a raw value (before the point's scale/offset) as the device would lay it out."""
        self.set_registers(
            register_type, address, encode_value(raw, data_type=data_type, byte_order=byte_order)
        )

    def registers(self, register_type: str, address: int, count: int) -> list[int]:
        with self._lock:
            return list(self._registers[register_type][address : address + count])

    def reads_of(self, register_type: str | None = None) -> list[ReadRequest]:
        with self._lock:
            return [r for r in self.reads if register_type is None or r.register_type == register_type]

    def clear_reads(self) -> None:
        with self._lock:
            self.reads.clear()

    async def on_access(
        self,
        unit_id: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> None:
        """pymodbus SimDevice action: copy our registers into the server's block and count reads."""
        register_type = {READ_HOLDING_FC: "holding", READ_INPUT_FC: "input"}.get(function_code)
        if register_type is None or set_values is not None:
            return None
        offset = address - start_address
        with self._lock:
            current_registers[offset : offset + count] = self._registers[register_type][
                address : address + count
            ]
            self.reads.append(ReadRequest(unit_id, register_type, address, count))
        return None


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sim_device(unit_id: int, bank: RegisterBank) -> SimDevice:
    async def action(function_code, start_address, address, count, current_registers, set_values):  # type: ignore[no-untyped-def]
        return await bank.on_access(
            unit_id, function_code, start_address, address, count, current_registers, set_values
        )

    def registers() -> list[SimData]:
        return [SimData(0, count=bank.size, values=0, datatype=DataType.REGISTERS)]

    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    # Separate holding and input blocks (coils, discrete inputs, holding, input), as real meters have.
    return SimDevice(id=unit_id, simdata=(bits, list(bits), registers(), registers()), action=action)


class _BackgroundLoopServer:
    """Runs an asyncio server in a daemon thread; start() returns once it listens."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    async def _serve(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self._serve()
        except BaseException as exc:  # reported to the thread waiting in start()
            self._error = exc
            self._ready.set()

    def start(self) -> _BackgroundLoopServer:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._main())
            self._loop.close()

        self._thread = threading.Thread(target=run, name=self.__class__.__name__, daemon=True)
        self._thread.start()
        if not self._ready.wait(SERVER_START_TIMEOUT_S):
            raise RuntimeError(f"{self.__class__.__name__} did not start within {SERVER_START_TIMEOUT_S}s")
        if self._error:
            raise RuntimeError(f"{self.__class__.__name__} failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        if self._loop and self._stop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(SERVER_START_TIMEOUT_S)

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimulatedModbusServer(_BackgroundLoopServer):
    """A pymodbus TCP server for the given unit ids. `framer="rtu"` serves RTU frames over TCP."""

    def __init__(
        self,
        banks: dict[int, RegisterBank],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        framer: str = "socket",
    ) -> None:
        super().__init__()
        if not banks:
            raise ValueError("serve at least one unit")
        self.banks = banks
        self.host = host
        self.port = port or free_tcp_port()
        self.framer = FramerType.RTU if framer == "rtu" else FramerType.SOCKET

    async def _serve(self) -> None:
        server = ModbusTcpServer(
            [_sim_device(unit_id, bank) for unit_id, bank in self.banks.items()],
            framer=self.framer,
            address=(self.host, self.port),
        )
        await server.serve_forever(background=True)
        self._ready.set()
        assert self._stop is not None
        await self._stop.wait()
        await server.shutdown()


class SilentTcpServer(_BackgroundLoopServer):
    """Accepts TCP connections, reads what comes, never answers: a hung device or gateway."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.host = host
        self.port = port or free_tcp_port()
        self.connections = 0

    async def _serve(self) -> None:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                while await reader.read(1024):
                    pass
            finally:
                writer.close()

        server = await asyncio.start_server(swallow, self.host, self.port)
        self._ready.set()
        assert self._stop is not None
        async with server:
            await self._stop.wait()


# --------------------------------------------------------------------------- the demo plant

DEMO_MODBUS_HOST = "127.0.0.1"
DEMO_MODBUS_PORT = 15020
DEMO_DEVICE_NAME = "演示电力监控网关"
# Cumulative registers count from this instant, so a restarted simulator continues where it
# left off instead of looking like a meter reset.
DEMO_EPOCH = dt.datetime(2024, 1, 1, tzinfo=SHANGHAI)
HOURS_PER_DAY = 24.0
# Share of the mean load that swings with the time of day (day shift vs night).
DAILY_SWING = 0.3


@dataclass(frozen=True)
class DemoMeter:
    """One meter of the demo plant, and (for Modbus) where its cumulative register lives."""

    code: str
    name: str
    level: int
    energy_type: str
    unit: str
    mean_rate_per_h: float  # own (unmetered-below) consumption per hour, in `unit`
    parent: str = ""
    site: tuple[str, ...] = ()  # workshop, then equipment name
    register_type: str = "holding"
    address: int = 0
    data_type: str = "float32"
    byte_order: str = "ABCD"
    scale: float = 1.0
    offset: float = 0.0
    power_address: int | None = None  # instantaneous kW register (electricity), served, not mapped

    @property
    def count(self) -> int:
        return register_count(self.data_type)


# The Modbus-fed plant: level 1 boundary meters (electricity, natural gas, water), level 2
# workshops, level 3 equipment, in every byte/word order the collector supports.
DEMO_LAYOUT: tuple[DemoMeter, ...] = (
    DemoMeter(
        "E-001",
        "总进线电能表",
        1,
        "electricity",
        "kWh",
        120.0,
        site=(),
        address=0,
        data_type="uint32",
        byte_order="ABCD",
        scale=0.1,
        power_address=100,
    ),
    DemoMeter(
        "G-001", "天然气总表", 1, "natural_gas", "m³", 8.0, address=2, data_type="float32", byte_order="CDAB"
    ),
    DemoMeter(
        "W-001",
        "自来水总表",
        1,
        "water",
        "t",
        1.5,
        address=4,
        data_type="uint32",
        byte_order="DCBA",
        scale=0.01,
    ),
    DemoMeter(
        "E-101",
        "一车间电能表",
        2,
        "electricity",
        "kWh",
        60.0,
        parent="E-001",
        site=("一车间",),
        address=6,
        data_type="float64",
        byte_order="ABCD",
        power_address=101,
    ),
    DemoMeter(
        "E-102",
        "二车间电能表",
        2,
        "electricity",
        "kWh",
        45.0,
        parent="E-001",
        site=("二车间",),
        address=10,
        data_type="uint64",
        byte_order="BADC",
        scale=0.001,
        power_address=102,
    ),
    DemoMeter(
        "G-101",
        "一车间燃气表",
        2,
        "natural_gas",
        "m³",
        20.0,
        parent="G-001",
        site=("一车间",),
        address=14,
        data_type="float32",
        byte_order="BADC",
    ),
    DemoMeter(
        "E-111",
        "空压机电能表",
        3,
        "electricity",
        "kWh",
        180.0,
        parent="E-101",
        site=("一车间", "空压机"),
        register_type="input",
        address=0,
        data_type="float32",
        byte_order="ABCD",
        power_address=103,
    ),
    DemoMeter(
        "E-112",
        "熔炼电炉电能表",
        3,
        "electricity",
        "kWh",
        320.0,
        parent="E-101",
        site=("一车间", "熔炼电炉"),
        register_type="input",
        address=2,
        data_type="int32",
        byte_order="CDAB",
        scale=0.1,
        power_address=104,
    ),
    DemoMeter(
        "E-121",
        "注塑机电能表",
        3,
        "electricity",
        "kWh",
        150.0,
        parent="E-102",
        site=("二车间", "注塑机"),
        register_type="input",
        address=4,
        data_type="uint32",
        byte_order="ABCD",
        scale=0.1,
        power_address=105,
    ),
)

# The MQTT-fed demo enterprise has the same plant, its readings published as
# nengtan/<credit code>/<meter code> instead of served from registers (register fields unused).
DEMO_MQTT_LAYOUT: tuple[DemoMeter, ...] = DEMO_LAYOUT


def _totals(layout: Iterable[DemoMeter]) -> dict[str, float]:
    """Mean hourly consumption per meter including everything metered below it."""
    meters = list(layout)
    totals = {m.code: m.mean_rate_per_h for m in meters}
    # Children are listed after their parents: add from the bottom up.
    for meter in reversed(meters):
        if meter.parent:
            totals[meter.parent] += totals[meter.code]
    return totals


# The Shanghai demo enterprise's plant (fed over MQTT) runs above the 2000 tce a year that the
# Shanghai fund asks of enterprises (seed 001 二.6), so its demo application meets it: ≈ 2400 tce.
DEMO_MQTT_PLANT_SCALE = 1.6


@dataclass
class DemoPlant:
    """Values of the demo meters of one enterprise (`unit_id` scales them so tenants differ)."""

    unit_id: int = 1
    layout: tuple[DemoMeter, ...] = DEMO_LAYOUT
    rng: random.Random = field(default_factory=random.Random)
    scale: float = 1.0  # on top of the unit's size (the MQTT plant: DEMO_MQTT_PLANT_SCALE)

    def __post_init__(self) -> None:
        # Each enterprise its own size: 0.8×, 1.0×, 1.2×, …
        self.size = (0.8 + 0.2 * ((self.unit_id - 1) % 5)) * self.scale
        self.totals = {code: rate * self.size for code, rate in _totals(self.layout).items()}

    def cumulative(self, meter: DemoMeter, at: dt.datetime) -> float:
        """Closed form of ∫ mean·(1 + swing·sin(2πt/day)) dt: rises monotonically and is the
        same after a restart. Parents equal their children plus their own load."""
        hours = (at - DEMO_EPOCH).total_seconds() / 3600.0
        omega = 2 * math.pi / HOURS_PER_DAY
        mean = self.totals[meter.code]
        return mean * (hours - DAILY_SWING / omega * (math.cos(omega * hours) - 1))

    def power(self, meter: DemoMeter, at: dt.datetime) -> float:
        """Instantaneous demand with measurement noise (kW for electricity)."""
        hours = (at - DEMO_EPOCH).total_seconds() / 3600.0
        mean = self.totals[meter.code]
        swing = 1 + DAILY_SWING * math.sin(2 * math.pi * hours / HOURS_PER_DAY)
        return max(0.0, mean * swing * (1 + self.rng.gauss(0, 0.03)))

    def raw_register_value(self, meter: DemoMeter, at: dt.datetime) -> float:
        """What the device stores so that raw × scale + offset is the engineering value."""
        return (self.cumulative(meter, at) - meter.offset) / meter.scale

    def update(self, bank: RegisterBank, at: dt.datetime) -> None:
        for meter in self.layout:
            bank.set_value(
                meter.register_type,
                meter.address,
                self.raw_register_value(meter, at),
                data_type=meter.data_type,
                byte_order=meter.byte_order,
            )
            if meter.power_address is not None:
                bank.set_value(
                    "holding",
                    meter.power_address,
                    self.power(meter, at) * 10,
                    data_type="int16",
                    byte_order="ABCD",
                )


@dataclass(frozen=True)
class MqttTarget:
    credit_code: str
    plant: DemoPlant


def mqtt_messages(targets: Iterable[MqttTarget], at: dt.datetime) -> list[tuple[str, bytes]]:
    """(topic, payload) of the default contract for every MQTT-fed demo meter."""
    stamp = at.astimezone(SHANGHAI).replace(microsecond=0).isoformat()
    messages = []
    for target in targets:
        for meter in target.plant.layout:
            payload = {"ts": stamp, "value": round(target.plant.cumulative(meter, at), 3)}
            messages.append((f"nengtan/{target.credit_code}/{meter.code}", json.dumps(payload).encode()))
    return messages


def mqtt_connect_args(url: str) -> dict[str, object]:
    """host, port, username and password from mqtt://user:pass@host:port."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", ""):
        raise ValueError(
            f"MQTT_URL must use mqtt://host:port (TLS is not used by the simulator), got {url!r}"
        )
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": parsed.port or 1883,
        "username": unquote(parsed.username) if parsed.username else None,
        "password": unquote(parsed.password) if parsed.password else None,
    }
