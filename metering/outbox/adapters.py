"""Adapters: how one kind of platform wants its messages and how it says "received".

An adapter turns the outbox's envelope (the payload with its message id and revision, see
docs/outbox.md) into the body and headers the platform takes, and reads the platform's answer
into a `Verdict`. The delivery service does the HTTP, the credential and the bookkeeping, so an
adapter never sees the secret and never touches the database. Register a new one in `ADAPTERS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

# How much of a refusing platform's answer is kept as the message's error (enough to read why).
ERROR_BODY_CHARS = 300
# Client errors that mean "try again later", not "this message is wrong" (RFC 9110 / RFC 6585).
RETRIABLE_CLIENT_ERRORS = frozenset({408, 429})


@dataclass(frozen=True)
class Verdict:
    """What an answer means: acknowledged, or not, and then whether to resend by itself."""

    acknowledged: bool
    retry: bool
    reason: str = ""


class Adapter(Protocol):
    name: str
    label: str

    def encode(self, envelope: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
        """Headers (without the credential) and body for one message."""
        ...

    def verdict(self, *, status_code: int, content: bytes, require_ack_body: bool) -> Verdict:
        """Read the platform's answer to one message."""
        ...


def _snippet(content: bytes) -> str:
    return content[:ERROR_BODY_CHARS].decode("utf-8", errors="replace").strip()


class GenericJsonAdapter:
    """JSON over HTTPS POST, one message per request.

    Acknowledged: a 2xx answer. When it is a JSON object with an `ack` field, that must be true;
    with a `code` field (and no `ack`), it must be 0. With `require_ack_body` on, one of the two
    must be present. Not acknowledged: everything else; 4xx other than 408 and 429 marks the
    message failed (the platform refuses it as it is), the rest is resent with back-off.
    """

    name = "generic_json"
    label = "通用 JSON"

    def encode(self, envelope: Mapping[str, Any]) -> tuple[dict[str, str], bytes]:
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            # Lets a platform drop a duplicate delivery of the same revision.
            "Idempotency-Key": f"{envelope['message_id']}:{envelope['revision']}",
        }
        return headers, body.encode("utf-8")

    def verdict(self, *, status_code: int, content: bytes, require_ack_body: bool) -> Verdict:
        if 200 <= status_code < 300:
            return self._verdict_2xx(status_code, content, require_ack_body)
        detail = f"HTTP {status_code}" + (f": {_snippet(content)}" if content else "")
        if 400 <= status_code < 500 and status_code not in RETRIABLE_CLIENT_ERRORS:
            return Verdict(acknowledged=False, retry=False, reason=detail)
        return Verdict(acknowledged=False, retry=True, reason=detail)

    def _verdict_2xx(self, status_code: int, content: bytes, require_ack_body: bool) -> Verdict:
        answer: Any = None
        if content.strip():
            try:
                answer = json.loads(content)
            except ValueError:
                answer = None
        if isinstance(answer, dict) and "ack" in answer:
            if answer["ack"] is True:
                return Verdict(acknowledged=True, retry=False)
            return Verdict(acknowledged=False, retry=True,
                           reason=f"HTTP {status_code} 但平台未确认（ack={answer['ack']!r}）: "
                                  f"{_snippet(content)}")
        if isinstance(answer, dict) and "code" in answer:
            if answer["code"] in (0, "0"):
                return Verdict(acknowledged=True, retry=False)
            return Verdict(acknowledged=False, retry=True,
                           reason=f"HTTP {status_code} 但平台返回错误码 {answer['code']!r}: "
                                  f"{_snippet(content)}")
        if require_ack_body:
            return Verdict(acknowledged=False, retry=True,
                           reason=f"HTTP {status_code} 但应答中没有确认（ack 或 code）: {_snippet(content)}")
        return Verdict(acknowledged=True, retry=False)


ADAPTERS: dict[str, Adapter] = {adapter.name: adapter for adapter in (GenericJsonAdapter(),)}


def adapter_choices() -> list[tuple[str, str]]:
    return [(name, f"{adapter.label}（{name}）") for name, adapter in ADAPTERS.items()]


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise LookupError(f"unknown outbox adapter {name!r}") from None
