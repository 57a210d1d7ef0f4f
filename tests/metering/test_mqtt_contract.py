"""The MQTT topic/payload contract as pure parsing (the consumer tests cover it end to end)."""

from __future__ import annotations

import pytest

from metering.collectors.mqtt.contract import (
    MAX_MESSAGE_BYTES,
    ContractError,
    MappingSpec,
    decode_payload,
    epoch_ms_to_iso,
    match_topic,
    parse_message,
    split_topic,
)

CODE = "91410105MA00000001"


def test_default_single_and_batch_topics():
    single = parse_message(split_topic(f"nengtan/{CODE}/M-01"),
                           {"ts": "2025-01-01T08:00:00+08:00", "value": 3})
    assert single.items == [{"meter": "M-01", "ts": "2025-01-01T08:00:00+08:00", "value": 3}]

    batch = parse_message(split_topic(f"nengtan/{CODE}/batch"), {"readings": [
        {"meter": "M-01", "ts": "2025-01-01T08:00:00+08:00", "value": 1},
        "not an object",
        {"meter": "M-02", "ts": "2025-01-01T08:00:00+08:00", "value": 2},
    ]})
    assert [item["meter"] for item in batch.items] == ["M-01", "M-02"]
    assert [(p.index, "JSON 对象" in p.reason) for p in batch.problems] == [(1, True)]
    assert batch.indexes == [0, 2]  # M-02 is reading 2 of the message, not 1
    assert single.indexes is None


@pytest.mark.parametrize("topic", ["nengtan", "nengtan/x", "other/x/y", f"nengtan/{CODE}/", "nengtan//M1"])
def test_topics_outside_the_contract_are_errors(topic):
    with pytest.raises(ContractError):
        split_topic(topic)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\xff\xfe{}", "UTF-8"),
    (b'{"ts": ', "JSON"),
    (b"[1, 2]", "JSON 对象"),
    (b"x" * (MAX_MESSAGE_BYTES + 1), "过大"),
])
def test_payload_errors_say_what_is_wrong(payload, reason):
    with pytest.raises(ContractError, match=reason):
        decode_payload(payload)


def test_batch_without_readings_list_is_an_error():
    with pytest.raises(ContractError, match="readings"):
        parse_message(split_topic(f"nengtan/{CODE}/batch"), {"readings": {"meter": "M"}})
    with pytest.raises(ContractError, match="映射"):
        parse_message(split_topic(f"nengtan/{CODE}/a/b"), {"ts": "x", "value": 1})


def test_topic_patterns():
    assert match_topic("gw/+/{meter}/up", ("gw", "l1", "M-9", "up")) == {"meter": "M-9"}
    assert match_topic("gw/+/{meter}/up", ("gw", "l1", "M-9")) is None
    assert match_topic("gw/+/{meter}/up", ("gw", "l1", "M-9", "up", "x")) is None
    assert match_topic("plant/#", ("plant", "a", "b")) == {}
    assert match_topic("plant/#", ("other", "a")) is None


def test_mapping_with_list_paths_and_epoch_ms():
    mapping = MappingSpec(id=1, name="plant", topic_pattern="plant/#", readings_path="data.points",
                          meter_path="id", ts_path="t", value_path="v.0", ts_is_epoch_ms=True)
    parsed = parse_message(split_topic(f"nengtan/{CODE}/plant/x"), {"data": {"points": [
        {"id": 7, "t": 1735689600000, "v": [1.5]},
        {"id": "M-2", "t": 1735689600000},
    ]}}, [mapping])
    assert parsed.items == [{"meter": "7", "ts": "2025-01-01T00:00:00+00:00", "value": 1.5}]
    assert parsed.problems[0].index == 1
    assert "v.0" in parsed.problems[0].reason
    assert parsed.indexes == [0]


def test_mapping_without_a_meter_source_is_an_error():
    mapping = MappingSpec(id=1, name="bad", topic_pattern="x/+")
    with pytest.raises(ContractError, match="meter"):
        parse_message(split_topic(f"nengtan/{CODE}/x/y"), {"ts": "t", "value": 1}, [mapping])


def test_epoch_conversion_passes_garbage_on_for_ingest_to_reject():
    assert epoch_ms_to_iso("soon") == "soon"
    assert epoch_ms_to_iso(True) is True
    assert epoch_ms_to_iso(0) == "1970-01-01T00:00:00+00:00"
