"""HTTP ingest (`POST /api/v1/readings/`) for gateways that push.

The ingest body is read by hand rather than through DRF parsers: Django's
DATA_UPLOAD_MAX_MEMORY_SIZE would turn a large body into an opaque 400, and every way a body
can be unusable (too large, not UTF-8, not JSON, not the expected shape) must answer with a
clear error and leave a quarantine entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from django.db import DatabaseError
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metering.collectors.http.authentication import (
    GatewayPrincipal,
    GatewayTokenAuthentication,
    principal_enterprise_id,
    require_enterprise_sends,
)
from metering.ingest.quarantine import QUARANTINE_PAYLOAD_BYTES
from metering.ingest.services import quarantine_message, readings_ingest
from metering.models import Source
from portal.access import enterprise_scope
from portal.api.errors import error_body
from portal.outage import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE_CODE, is_database_unavailable

logger = logging.getLogger(__name__)

MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_BATCH_READINGS = 50_000
READ_CHUNK_BYTES = 256 * 1024
# An oversized body is read on (only to hash it for the quarantine entry) up to this much.
OVERSIZED_HASH_LIMIT_BYTES = 64 * 1024 * 1024


class _BadBody(Exception):
    def __init__(self, status_code: int, code: str, message: str, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.reason = reason


def _read_body(request: Request) -> tuple[bytes, int, str | None]:
    """The body (or its first MAX_BATCH_BYTES + 1 bytes), its full size, and for an oversized body
    the sha256 of what was read."""
    raw_request = request._request
    declared = int(raw_request.META.get("CONTENT_LENGTH") or 0)
    kept = bytearray()
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = raw_request.read(READ_CHUNK_BYTES)
        if not chunk:
            break
        total += len(chunk)
        digest.update(chunk)
        if len(kept) <= MAX_BATCH_BYTES:
            kept += chunk
        if total > OVERSIZED_HASH_LIMIT_BYTES:
            break
    size = max(declared, total)
    if size > MAX_BATCH_BYTES:
        return bytes(kept[:QUARANTINE_PAYLOAD_BYTES]), size, digest.hexdigest()
    return bytes(kept), size, None


def _parse_batch(body: bytes) -> list[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadBody(
            400,
            "invalid_encoding",
            _("请求体不是有效的 UTF-8 编码（第 %(pos)d 字节起）。") % {"pos": exc.start},
            f"invalid UTF-8 at byte {exc.start}: {exc.reason}",
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadBody(
            400,
            "invalid_json",
            _("请求体不是有效的 JSON：第 %(line)d 行第 %(col)d 列。")
            % {"line": exc.lineno, "col": exc.colno},
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from None
    except RecursionError:
        raise _BadBody(
            400, "invalid_json", _("请求体 JSON 嵌套过深。"), "invalid JSON: nested too deeply"
        ) from None
    except ValueError as exc:  # valid JSON Python refuses: an integer of more than 4 300 digits
        raise _BadBody(
            400, "invalid_json", _("请求体 JSON 中的数字过长，无法解析。"), f"invalid JSON: {exc}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("readings"), list):
        raise _BadBody(
            400,
            "invalid_shape",
            _('请求体应为 {"readings": [...]} 形式的 JSON 对象。'),
            'body must be a JSON object {"readings": [...]}',
        )
    readings = document["readings"]
    if len(readings) > MAX_BATCH_READINGS:
        raise _BadBody(
            413,
            "too_many_readings",
            _("一批最多 %(max)d 条读数，本批 %(count)d 条。")
            % {"max": MAX_BATCH_READINGS, "count": len(readings)},
            f"batch holds {len(readings)} readings, limit {MAX_BATCH_READINGS}",
        )
    return readings


class ReadingsIngestView(APIView):
    """Post a batch of readings for your enterprise (gateway token, or an enterprise user's token)."""

    authentication_classes = [GatewayTokenAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes: list = []
    # JSON only: the browsable renderer needs parsers to draw its form and crashed on a browser's
    # `Accept: text/html` after the readings were already stored.
    renderer_classes = [JSONRenderer]
    throttle_classes: list = []

    def post(self, request: Request) -> Response:
        enterprise_id = principal_enterprise_id(request.user)
        if enterprise_id is None:
            raise PermissionDenied(_("只有企业账号或企业网关令牌可以上传读数。"))
        if not isinstance(request.user, GatewayPrincipal):
            # A gateway's enterprise is checked with its token; an enterprise user's here.
            user: Any = request.user
            require_enterprise_sends(user.enterprise)
        channel = request.path
        # The edge for gateways: the middleware does not know gateway tokens, so the scope is set here.
        with enterprise_scope(enterprise_id):
            try:
                body, size, oversized_sha256 = _read_body(request)
                if oversized_sha256 is not None:
                    raise _BadBody(
                        413,
                        "payload_too_large",
                        _("请求体过大：%(size)d 字节，上限 %(max)d 字节。请分批上传。")
                        % {"size": size, "max": MAX_BATCH_BYTES},
                        f"body too large: {size} bytes, limit {MAX_BATCH_BYTES}",
                    )
                readings = _parse_batch(body)
                result = readings_ingest(
                    enterprise_id=enterprise_id, items=readings, source=Source.HTTP, channel=channel
                )
            except _BadBody as bad:
                quarantine_message(
                    enterprise_id=enterprise_id,
                    source=Source.HTTP,
                    channel=channel,
                    payload=body,
                    reason=bad.reason,
                    payload_size=size,
                    payload_sha256=oversized_sha256,
                )
                return Response(error_body(bad.status_code, bad.code, bad.message), status=bad.status_code)
            except DatabaseError as exc:
                # Whatever the database said (down, a read-only standby after failover, a schema
                # mid-deploy), nothing of the batch was stored: the gateway keeps it and resends.
                logger.warning("HTTP ingest of enterprise %s not stored, answering 503: %s%s", enterprise_id,
                               exc.__class__.__name__, "" if is_database_unavailable(exc) else f": {exc}")
                return Response(
                    error_body(503, DATABASE_UNAVAILABLE_CODE, _("数据库暂时不可用，请稍后重传本批读数。")),
                    status=status.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
                )
        return Response(result.as_dict())
