"""Register decoding for every data type and byte/word order, and request planning."""

from __future__ import annotations

import math

import pytest

from metering.collectors.modbus.decoding import (
    DATA_TYPES,
    DecodingError,
    decode_registers,
    encode_value,
    scaled_value,
)
from metering.collectors.modbus.planning import MAX_REGISTERS_PER_READ, PointSpec, plan_reads

# The bytes 0x01 0x02 … of a value, most significant first, as each order puts them on the wire.
WIRE_32 = {
    "ABCD": [0x0102, 0x0304],
    "DCBA": [0x0403, 0x0201],
    "BADC": [0x0201, 0x0403],
    "CDAB": [0x0304, 0x0102],
}
WIRE_64 = {
    "ABCD": [0x0102, 0x0304, 0x0506, 0x0708],
    "DCBA": [0x0807, 0x0605, 0x0403, 0x0201],
    "BADC": [0x0201, 0x0403, 0x0605, 0x0807],
    "CDAB": [0x0708, 0x0506, 0x0304, 0x0102],
}


@pytest.mark.parametrize("order", sorted(WIRE_32))
def test_32_bit_orders_match_the_usual_conventions(order):
    assert decode_registers(WIRE_32[order], data_type="uint32", byte_order=order) == 0x01020304
    assert encode_value(0x01020304, data_type="uint32", byte_order=order) == WIRE_32[order]


@pytest.mark.parametrize("order", sorted(WIRE_64))
def test_64_bit_orders_match_the_usual_conventions(order):
    assert decode_registers(WIRE_64[order], data_type="uint64", byte_order=order) == 0x0102030405060708


def test_float32_one_in_every_order():
    assert decode_registers([0x3F80, 0x0000], data_type="float32", byte_order="ABCD") == 1.0
    assert decode_registers([0x0000, 0x3F80], data_type="float32", byte_order="CDAB") == 1.0
    assert decode_registers([0x803F, 0x0000], data_type="float32", byte_order="BADC") == 1.0
    assert decode_registers([0x0000, 0x803F], data_type="float32", byte_order="DCBA") == 1.0


def test_16_bit_values_swap_bytes_only_for_little_endian_orders():
    assert decode_registers([0xFFFE], data_type="int16", byte_order="ABCD") == -2
    assert decode_registers([0xFFFE], data_type="int16", byte_order="CDAB") == -2
    assert decode_registers([0xFEFF], data_type="int16", byte_order="BADC") == -2
    assert decode_registers([0x3412], data_type="uint16", byte_order="DCBA") == 0x1234


VALUES = {
    "int16": [-32768, -1, 0, 12345],
    "uint16": [0, 65535, 40000],
    "int32": [-2147483648, -123456, 2147483647],
    "uint32": [0, 4294967295, 3000000000],
    "int64": [-(2**63), -9007199254740991, 2**62 + 5],
    "uint64": [0, 2**64 - 1, 2**63 + 11],
    "float32": [-1.5, 0.0, 65536.5, float("inf")],
    "float64": [-1234.56789, math.pi, 1e300],
}


@pytest.mark.parametrize("data_type", sorted(DATA_TYPES))
@pytest.mark.parametrize("order", ["ABCD", "DCBA", "BADC", "CDAB"])
def test_encode_and_decode_round_trip(data_type, order):
    for value in VALUES[data_type]:
        registers = encode_value(value, data_type=data_type, byte_order=order)
        assert len(registers) == DATA_TYPES[data_type][1]
        assert decode_registers(registers, data_type=data_type, byte_order=order) == value


def test_bad_input_says_what_is_wrong():
    with pytest.raises(DecodingError, match="needs 2 register"):
        decode_registers([1], data_type="float32", byte_order="ABCD")
    with pytest.raises(DecodingError, match="unknown byte order"):
        decode_registers([1, 2], data_type="int32", byte_order="XYZW")
    with pytest.raises(DecodingError, match="unknown data type"):
        decode_registers([1], data_type="int8", byte_order="ABCD")
    with pytest.raises(DecodingError, match="does not fit"):
        encode_value(70000, data_type="uint16", byte_order="ABCD")
    with pytest.raises(DecodingError, match="not a finite number"):
        scaled_value(float("nan"), scale=1.0, offset=0.0)


def test_scale_and_offset():
    assert scaled_value(-250, scale=0.1, offset=5.0) == pytest.approx(-20.0)


def _spec(
    point_id: int, address: int, data_type: str = "float32", register_type: str = "holding"
) -> PointSpec:
    return PointSpec(
        point_id=point_id,
        register_type=register_type,
        address=address,
        data_type=data_type,
        byte_order="ABCD",
    )


def test_adjacent_and_nearby_points_share_one_request():
    blocks = plan_reads([_spec(1, 0), _spec(2, 2), _spec(3, 4, "int16"), _spec(4, 7)])  # gap of 2 at 5..6
    assert [(b.register_type, b.address, b.count) for b in blocks] == [("holding", 0, 9)]
    assert [p.point_id for p in blocks[0].points] == [1, 2, 3, 4]


def test_distant_points_and_other_register_types_are_separate_requests():
    blocks = plan_reads(
        [_spec(1, 0), _spec(2, 100), _spec(3, 2, register_type="input"), _spec(4, 10)], max_gap=4
    )
    assert [(b.register_type, b.address, b.count) for b in blocks] == [
        ("holding", 0, 2),
        ("holding", 10, 2),
        ("holding", 100, 2),
        ("input", 2, 2),
    ]


def test_overlapping_points_are_read_once():
    blocks = plan_reads([_spec(1, 0, "float64"), _spec(2, 2, "float32")])
    assert [(b.address, b.count) for b in blocks] == [(0, 4)]


def test_a_request_never_exceeds_125_registers():
    points = [_spec(i, i * 2) for i in range(100)]  # 200 contiguous registers
    blocks = plan_reads(points)
    assert [b.count for b in blocks] == [124, 76]
    assert all(b.count <= MAX_REGISTERS_PER_READ for b in blocks)
    assert sum(len(b.points) for b in blocks) == 100


def test_registers_for_slices_each_point_out_of_its_block():
    block = plan_reads([_spec(1, 10), _spec(2, 13, "int16")])[0]
    assert block.registers_for(block.points[1], [0, 1, 2, 3]) == [3]
