"""Plan the read requests for a device: adjacent registers are read in one request.

Points of the same register type whose ranges touch, overlap or sit a few registers apart
are merged into one block, up to the protocol's 125 registers per read. Fewer round trips
matter on slow serial lines and gateways that answer one request at a time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from metering.collectors.modbus.decoding import register_count

# Modbus Application Protocol V1.1b3, 6.3/6.4: read holding/input registers returns at most
# 125 registers (the 253-byte PDU limit).
MAX_REGISTERS_PER_READ = 125
# Reading a few unused registers costs less than another round trip; more than this and
# we would mostly read registers nobody asked for (and some devices refuse unmapped ones).
MAX_GAP_REGISTERS = 4


@dataclass(frozen=True)
class PointSpec:
    """What the planner and decoder need of one ModbusPoint (decoupled from the ORM)."""

    point_id: int
    register_type: str  # "holding" | "input"
    address: int
    data_type: str
    byte_order: str
    scale: float = 1.0
    offset: float = 0.0
    meter_id: int = 0
    meter_code: str = ""

    @property
    def count(self) -> int:
        return register_count(self.data_type)

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.count


@dataclass
class ReadBlock:
    """One read request: `count` registers of one type from `address`, covering `points`."""

    register_type: str
    address: int
    count: int
    points: list[PointSpec] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.address + self.count

    def registers_for(self, point: PointSpec, registers: list[int]) -> list[int]:
        start = point.address - self.address
        return registers[start : start + point.count]


def plan_reads(
    points: Iterable[PointSpec],
    *,
    max_gap: int = MAX_GAP_REGISTERS,
    max_registers: int = MAX_REGISTERS_PER_READ,
) -> list[ReadBlock]:
    """Group points into as few read blocks as the limits allow, ordered by type and address."""
    if not 1 <= max_registers <= MAX_REGISTERS_PER_READ:
        raise ValueError(f"max_registers must be 1..{MAX_REGISTERS_PER_READ}")
    blocks: list[ReadBlock] = []
    ordered = sorted(points, key=lambda p: (p.register_type, p.address, p.count))
    for point in ordered:
        current = blocks[-1] if blocks else None
        if (
            current is not None
            and current.register_type == point.register_type
            and point.address <= current.end + max_gap
            and max(current.end, point.end) - current.address <= max_registers
        ):
            current.count = max(current.end, point.end) - current.address
            current.points.append(point)
        else:
            blocks.append(ReadBlock(point.register_type, point.address, point.count, [point]))
    return blocks
