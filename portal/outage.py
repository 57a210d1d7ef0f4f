"""While the database is unavailable, every answer says so: 503 with Retry-After, never a 500.

A gateway that gets 503 keeps its batch and sends it again after `Retry-After` seconds (the
README states this as the gateway's contract); a 500 would say "this request is broken".

Where the database is first touched differs by client: the session middleware loads a cookie's
session, the reach middleware looks up an `Authorization: Token …`, the ingest view looks up a
gateway token, and any view may query. Exceptions raised in a view reach
`DatabaseOutageMiddleware.process_exception`. Exceptions raised inside another middleware are
turned into a 500 response by Django before any outer middleware sees them, so the
`got_request_exception` receiver below marks the request, and the middleware (outside all
middleware that read the database) answers 503 in place of that 500.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from portal.api.errors import error_body, is_api_request

logger = logging.getLogger(__name__)

# What a client is asked to wait before it tries again: a PostgreSQL restart or a failover to a
# standby takes seconds to a minute; a shorter wait only adds load while it comes back.
DATABASE_RETRY_AFTER_S = 30
DATABASE_UNAVAILABLE_CODE = "database_unavailable"
# SQLSTATEs that mean "the database cannot take this now", whatever exception class the driver
# maps them to: read_only_sql_transaction (a standby after failover answers InternalError), the
# connection-exception class 08 and the operator-intervention class 57 (shutdown, restart).
UNAVAILABLE_SQLSTATES = frozenset({"25006"})
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "57"})
_OUTAGE_MARK = "_database_outage"


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True when `exc` says the database is away or refuses work for now, not that a query is wrong."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DatabaseError):
        sqlstate = getattr(exc.__cause__, "pgcode", None) or ""
        return sqlstate in UNAVAILABLE_SQLSTATES or sqlstate[:2] in UNAVAILABLE_SQLSTATE_CLASSES
    return False


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the one JSON error shape under /api/, a short page elsewhere."""
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_S)}
    message = _("数据库暂时不可用，请稍后重试。")
    if is_api_request(request):
        return JsonResponse(error_body(503, DATABASE_UNAVAILABLE_CODE, message), status=503, headers=headers,
                            json_dumps_params={"ensure_ascii": False})
    return HttpResponse(message, status=503, headers=headers, content_type="text/plain; charset=utf-8")


class DatabaseOutageMiddleware:
    """Turn an answer that failed on an unavailable database into 503 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, _OUTAGE_MARK, False):
            return database_unavailable_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        logger.warning("database unavailable, answering 503 to %s %s: %s", request.method, request.path,
                       exception.__class__.__name__)
        return database_unavailable_response(request)


def _mark_database_outage(sender: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
    # Sent by Django inside its `except` block, so sys.exc_info() is the exception being answered.
    if request is not None and is_database_unavailable(sys.exc_info()[1]):
        setattr(request, _OUTAGE_MARK, True)


got_request_exception.connect(_mark_database_outage, dispatch_uid="portal.outage.mark_database_outage")
