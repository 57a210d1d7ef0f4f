"""The MQTT topic and payload contract: how a message becomes reading items.

Default contract (kept exactly as documented in the README)
-----------------------------------------------------------
- topic ``nengtan/<credit code>/<meter code>``, payload
  ``{"ts": "<ISO 8601 with offset>", "value": <number>}``
- topic ``nengtan/<credit code>/batch``, payload
  ``{"readings": [{"meter": "<meter code>", "ts": "…", "value": …}, …]}``

The credit code in the topic names the tenant. The broker enforces it: the portal writes
Mosquitto's password and ACL files (``manage.py mqtt_credentials``) so a gateway logged in as
``<credit code>.<token id>`` (one account per gateway token) may publish only under
``nengtan/<credit code>/#``. The consumer therefore
trusts the prefix to say whose readings these are, and still only accepts meters of that
enterprise (publishing ``nengtan/<A>/<B's meter>`` is an unknown meter of A).

Per-enterprise mappings (``MqttMapping``)
-----------------------------------------
Gateways that cannot speak the default contract keep their own topic tail and payload shape,
but they MUST still publish under ``nengtan/<credit code>/`` — otherwise the broker's ACL
refuses the publish. A mapping's ``topic_pattern`` is matched against the topic RELATIVE to
that prefix: the pattern ``plant1/{meter}/data`` matches ``nengtan/<credit code>/plant1/M-01/data``.
Patterns use MQTT wildcards (``+`` one level, ``#`` the rest, last only) and named single-level
segments in braces; ``{meter}`` captures the meter code. Because every mapped topic lives under
``nengtan/``, the consumer's one shared subscription ``$share/<group>/nengtan/#`` covers them:
no extra subscription and no extra ACL entry is needed. An enterprise's enabled mappings are
tried first (by name order); a topic no mapping matches falls back to the default contract.

Field paths are dotted paths into the JSON payload (``data.0.v``: key ``data``, list index 0,
key ``v``). With ``readings_path`` set the path leads to a list and ``meter_path``/``ts_path``/
``value_path`` are relative to each element; otherwise they are relative to the payload.
An empty ``meter_path`` takes the meter code from the topic's ``{meter}`` segment.
With ``ts_is_epoch_ms`` the timestamp is milliseconds since the Unix epoch (UTC).

Everything here is pure parsing, free of database access; the consumer resolves credit codes
and mappings and hands the items to ``metering.ingest.services.readings_ingest``, which validates each
item (known meter of that enterprise, finite number, timestamp with offset).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TOPIC_ROOT = "nengtan"
BATCH_SEGMENT = "batch"
# A message bigger than this is quarantined instead of parsed: one gateway must not be able to
# make the consumer hold huge documents in memory. Batches of ~10k readings fit comfortably.
MAX_MESSAGE_BYTES = 1024 * 1024
# A batch payload with more readings than this is quarantined whole (ingest works in bounded batches).
MAX_READINGS_PER_MESSAGE = 20_000


class ContractError(ValueError):
    """The message as a whole cannot become readings; the reason says what is wrong and where."""


@dataclass(frozen=True)
class TopicAddress:
    credit_code: str
    tail: tuple[str, ...]  # topic levels after nengtan/<credit code>/


@dataclass(frozen=True)
class MappingSpec:
    """The parts of an MqttMapping the parser needs (detached from the ORM, cacheable)."""

    id: int
    name: str
    topic_pattern: str
    readings_path: str = ""
    meter_path: str = ""
    ts_path: str = "ts"
    value_path: str = "value"
    ts_is_epoch_ms: bool = False


@dataclass(frozen=True)
class ItemProblem:
    """One reading inside a message that could not even be assembled (a path missing)."""

    index: int
    reason: str
    raw: Any


@dataclass
class ParsedMessage:
    items: list[dict[str, Any]] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)
    mapping_id: int | None = None
    # Each item's index in the message, set only when problems left gaps (else item i is reading i):
    # an error about an item must name the reading the gateway sent, not its position among the rest.
    indexes: list[int] | None = None

    def close_gaps(self, count: int) -> ParsedMessage:
        """Record the message indexes of the items once problems were taken out of `count` readings."""
        if self.problems:
            taken_out = {problem.index for problem in self.problems}
            self.indexes = [index for index in range(count) if index not in taken_out]
        return self


def split_topic(topic: str) -> TopicAddress:
    """`nengtan/<credit code>/<rest…>` → address; anything else is a contract error."""
    levels = topic.split("/")
    if len(levels) < 3 or levels[0] != TOPIC_ROOT or not levels[1] or not all(levels[2:]):
        raise ContractError(
            f"主题 {topic!r} 不符合约定：应为 {TOPIC_ROOT}/<统一社会信用代码>/<表计编号> 或 …/batch"
        )
    return TopicAddress(credit_code=levels[1], tail=tuple(levels[2:]))


def decode_payload(payload: bytes) -> dict[str, Any]:
    """Bytes → JSON object, with a reason that says what is wrong."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ContractError(f"消息过大：{len(payload)} 字节，上限 {MAX_MESSAGE_BYTES} 字节")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"消息不是有效的 UTF-8：第 {exc.start} 字节处无法解码") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"消息不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}") from exc
    except ValueError as exc:  # valid JSON Python refuses: an integer of more than 4 300 digits
        raise ContractError(f"消息不是有效的 JSON：数字过长（{exc}）") from exc
    except RecursionError as exc:
        raise ContractError("消息不是有效的 JSON：嵌套过深") from exc
    if not isinstance(document, dict):
        raise ContractError(f"消息必须是 JSON 对象，收到的是 {type(document).__name__}")
    return document


def match_topic(pattern: str, tail: Sequence[str]) -> dict[str, str] | None:
    """Match topic levels against an MQTT-style pattern; returns the named segments or None."""
    pattern_levels = pattern.strip("/").split("/")
    captured: dict[str, str] = {}
    for position, expected in enumerate(pattern_levels):
        if expected == "#":
            return captured if position == len(pattern_levels) - 1 else None
        if position >= len(tail):
            return None
        actual = tail[position]
        if expected == "+":
            continue
        if expected.startswith("{") and expected.endswith("}") and len(expected) > 2:
            captured[expected[1:-1]] = actual
            continue
        if expected != actual:
            return None
    return captured if len(pattern_levels) == len(tail) else None


_MISSING = object()


def resolve_path(document: Any, path: str) -> Any:
    """Follow a dotted path (keys and list indexes); returns _MISSING when any step is absent."""
    node = document
    for step in path.split("."):
        if isinstance(node, Mapping):
            if step not in node:
                return _MISSING
            node = node[step]
        elif isinstance(node, list) and step.lstrip("-").isdigit():
            index = int(step)
            if not -len(node) <= index < len(node):
                return _MISSING
            node = node[index]
        else:
            return _MISSING
    return node


def epoch_ms_to_iso(value: Any) -> Any:
    """Epoch milliseconds → ISO 8601 UTC string; anything else is passed on for ingest to reject."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return value
    try:
        moment = dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return value
    return moment.isoformat()


def parse_default(address: TopicAddress, document: Mapping[str, Any]) -> ParsedMessage:
    """The default contract: one reading per meter topic, or a list on the batch topic."""
    if len(address.tail) != 1:
        raise ContractError(
            f"主题层级 {'/'.join(address.tail)!r} 既不是表计编号也不是 {BATCH_SEGMENT}，"
            "且没有匹配的 MQTT 映射"
        )
    segment = address.tail[0]
    if segment == BATCH_SEGMENT:
        readings = document.get("readings", _MISSING)
        if readings is _MISSING:
            raise ContractError('批量消息缺少 "readings" 列表')
        if not isinstance(readings, list):
            raise ContractError(f'批量消息的 "readings" 必须是列表，收到的是 {type(readings).__name__}')
        _check_count(len(readings))
        parsed = ParsedMessage()
        # The hot loop of batch ingest: JSON objects decode to plain dicts, so an exact type check
        # (not the slow ABC isinstance) decides, and the reading dict itself is handed on, since
        # ingest reads only its "meter", "ts" and "value".
        items_append = parsed.items.append
        for index, reading in enumerate(readings):
            if type(reading) is dict:
                items_append(reading)
            else:
                parsed.problems.append(ItemProblem(index, f"第 {index} 条读数必须是 JSON 对象", reading))
        return parsed.close_gaps(len(readings))
    return ParsedMessage(items=[single_reading(segment, document)])


def single_reading(meter_code: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """The one reading of a message on nengtan/<credit code>/<meter code> under the default
    contract (the consumer's fast path builds it here too, so the two cannot drift apart)."""
    return {"meter": meter_code, "ts": document.get("ts"), "value": document.get("value")}


def parse_mapped(
    mapping: MappingSpec, captured: Mapping[str, str], document: Mapping[str, Any]
) -> ParsedMessage:
    parsed = ParsedMessage(mapping_id=mapping.id)
    topic_meter = captured.get("meter")
    if not mapping.meter_path and topic_meter is None:
        raise ContractError(f"MQTT 映射 {mapping.name!r} 既没有表计编号路径，主题模式中也没有 {{meter}} 段")
    if mapping.readings_path:
        readings = resolve_path(document, mapping.readings_path)
        if readings is _MISSING:
            raise ContractError(
                f"MQTT 映射 {mapping.name!r}：消息中找不到读数列表路径 {mapping.readings_path!r}"
            )
        if not isinstance(readings, list):
            raise ContractError(
                f"MQTT 映射 {mapping.name!r}：路径 {mapping.readings_path!r} 处必须是列表，"
                f"收到的是 {type(readings).__name__}"
            )
        _check_count(len(readings))
        elements: Sequence[Any] = readings
    else:
        elements = [document]
    for index, element in enumerate(elements):
        item, reason = _mapped_item(mapping, topic_meter, element)
        if reason:
            parsed.problems.append(ItemProblem(index, reason, element))
        else:
            parsed.items.append(item)
    return parsed.close_gaps(len(elements))


def parse_message(
    address: TopicAddress, document: Mapping[str, Any], mappings: Sequence[MappingSpec] = ()
) -> ParsedMessage:
    """Items for one message: the first matching mapping wins, else the default contract."""
    for mapping in mappings:
        captured = match_topic(mapping.topic_pattern, address.tail)
        if captured is not None:
            return parse_mapped(mapping, captured, document)
    return parse_default(address, document)


def _check_count(count: int) -> None:
    if count > MAX_READINGS_PER_MESSAGE:
        raise ContractError(f"一条消息最多 {MAX_READINGS_PER_MESSAGE} 条读数，收到 {count} 条")


def _mapped_item(mapping: MappingSpec, topic_meter: str | None, element: Any) -> tuple[dict[str, Any], str]:
    where = f"MQTT 映射 {mapping.name!r}"
    meter: Any = topic_meter
    if mapping.meter_path:
        meter = resolve_path(element, mapping.meter_path)
        if meter is _MISSING:
            return {}, f"{where}：找不到表计编号路径 {mapping.meter_path!r}"
        if isinstance(meter, int) and not isinstance(meter, bool):
            meter = str(meter)  # gateways often number their meters
    ts = resolve_path(element, mapping.ts_path)
    if ts is _MISSING:
        return {}, f"{where}：找不到时间路径 {mapping.ts_path!r}"
    value = resolve_path(element, mapping.value_path)
    if value is _MISSING:
        return {}, f"{where}：找不到数值路径 {mapping.value_path!r}"
    if mapping.ts_is_epoch_ms:
        ts = epoch_ms_to_iso(ts)
    return {"meter": meter, "ts": ts, "value": value}, ""
