"""Turn Modbus registers into numbers and back, for every data type and byte/word order.

We decode with `struct` ourselves rather than with pymodbus's
`ModbusClientMixin.convert_from_registers`: that helper only knows a `word_order` of
"big" or "little" (ABCD and CDAB), while field meters also ship DCBA (fully little-endian)
and BADC (bytes swapped inside each word). One small decoder covers all four orders the
same way, and the simulator encodes with its inverse, so both sides agree by construction.

Order letters name the bytes of the value from most to least significant (A = MSB) as they
appear on the wire. For 64-bit values the pattern extends naturally: ABCD → ABCDEFGH,
DCBA → HGFEDCBA, BADC → BADCFEHG, CDAB → GHEFCDAB (word order reversed).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

BYTE_ORDERS = ("ABCD", "DCBA", "BADC", "CDAB")

# data type -> (struct format character, registers the value occupies)
DATA_TYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "int64": ("q", 4),
    "uint64": ("Q", 4),
    "float32": ("f", 2),
    "float64": ("d", 4),
}


class DecodingError(ValueError):
    """The registers cannot be decoded as the point says (wrong count, unknown type or order)."""


def register_count(data_type: str) -> int:
    try:
        return DATA_TYPES[data_type][1]
    except KeyError:
        raise DecodingError(
            f"unknown data type {data_type!r}; expected one of {', '.join(DATA_TYPES)}"
        ) from None


def _wire_to_big_endian(wire: bytes, byte_order: str) -> bytes:
    """Reorder the bytes as read off the wire into the value's big-endian (ABCD…) bytes.

    Each of the four transformations is its own inverse, so the same function also turns a
    big-endian value into its wire bytes (used by `encode_value`).
    """
    if byte_order == "ABCD":
        return wire
    if byte_order == "DCBA":
        return wire[::-1]
    if byte_order == "BADC":
        return b"".join(wire[i + 1 : i + 2] + wire[i : i + 1] for i in range(0, len(wire), 2))
    if byte_order == "CDAB":
        return b"".join(wire[i : i + 2] for i in range(len(wire) - 2, -2, -2))
    raise DecodingError(f"unknown byte order {byte_order!r}; expected one of {', '.join(BYTE_ORDERS)}")


def decode_registers(registers: Sequence[int], *, data_type: str, byte_order: str) -> int | float:
    """Decode the raw value (before scale and offset) from the registers of one point."""
    fmt, count = DATA_TYPES.get(data_type, ("", 0))
    if not fmt:
        register_count(data_type)  # raises with the list of known types
    if len(registers) != count:
        raise DecodingError(f"{data_type} needs {count} register(s), got {len(registers)}")
    if any(not 0 <= r <= 0xFFFF for r in registers):
        raise DecodingError(f"register values must be 0..65535, got {list(registers)}")
    wire = struct.pack(f">{count}H", *registers)
    return struct.unpack(f">{fmt}", _wire_to_big_endian(wire, byte_order))[0]


def encode_value(value: int | float, *, data_type: str, byte_order: str) -> list[int]:
    """The registers a device holding `value` (raw) in this type and order puts on the wire."""
    fmt, count = DATA_TYPES.get(data_type, ("", 0))
    if not fmt:
        register_count(data_type)
    if fmt not in ("f", "d"):
        value = int(value)
    try:
        big_endian = struct.pack(f">{fmt}", value)
    except struct.error as exc:
        raise DecodingError(f"{value!r} does not fit {data_type}: {exc}") from exc
    return list(struct.unpack(f">{count}H", _wire_to_big_endian(big_endian, byte_order)))


def scaled_value(raw: int | float, *, scale: float, offset: float) -> float:
    """Engineering value = raw × scale + offset. NaN and infinities are refused, never stored."""
    value = float(raw) * scale + offset
    if not math.isfinite(value):
        raise DecodingError(f"decoded value is not a finite number (raw {raw!r})")
    return value
