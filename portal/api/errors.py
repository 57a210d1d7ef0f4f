"""One JSON error shape for the whole API.

    {"error": {"status": 400, "code": "invalid", "message": "…", "fields": {"credit_code": ["…"]}}}

`fields` appears only for validation errors and maps each field (or list index) to its messages.

Errors raised inside DRF views go through `exception_handler` (REST_FRAMEWORK EXCEPTION_HANDLER).
Errors that never reach a DRF view (an unknown /api/ URL, a crash, a CSRF failure in a plain
Django view under /api/) go through the project's `handler400/403/404/500`, which answer the
same shape for /api/ paths and the ordinary HTML pages everywhere else.

Some answers bypass both: with DEBUG on Django answers 404 and 500 with its debug pages, DRF
renders errors as HTML (browsable API) or YAML (schema) when the client asks for those, and a
plain view answers 405 with an empty text body. `ApiErrorShapeMiddleware`, the outermost
middleware, reshapes every such error under /api/ into the one shape, keeping status and headers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import defaults
from django_scopes import ScopeError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

API_PREFIX = "/api/"


def error_body(status_code: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def not_found_message() -> str:
    # One wording for "missing" and "not yours", so the two can never be told apart.
    return str(STATUS_ERRORS[404][1])


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404) or (
        isinstance(exc, exceptions.NotFound) and str(exc.detail) == str(exceptions.NotFound.default_detail)
    ):
        exc = exceptions.NotFound(not_found_message())
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, ScopeError):
        # A query without a scope is a programming error; it must never leak data. Fail closed
        # (handler500 answers the JSON shape without the traceback).
        raise exc
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        message = _("提交的数据有误，请按字段说明修改。")
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = error_body(response.status_code, "invalid", message, fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        response.data = error_body(
            response.status_code, codes if isinstance(codes, str) else "error", str(detail)
        )
    return response


# The code and message of an error answer that carries none of its own (Django's pages, plain
# views), by status. One wording per status, shared with the handlers below.
STATUS_ERRORS: dict[int, tuple[str, Promise]] = {
    400: ("bad_request", gettext_lazy("请求格式有误。")),
    401: ("not_authenticated", gettext_lazy("需要登录或提供有效的接口令牌。")),
    403: ("permission_denied", gettext_lazy("没有执行该操作的权限。")),
    404: ("not_found", gettext_lazy("未找到。")),
    405: ("method_not_allowed", gettext_lazy("该地址不支持此请求方法。")),
    406: ("not_acceptable", gettext_lazy("无法按请求的格式（Accept）作答，本接口只以 JSON 作答。")),
    500: ("server_error", gettext_lazy("服务器内部错误，请稍后再试。")),
}
GENERIC_ERROR_MESSAGE = gettext_lazy("请求未能完成。")
# Headers that describe the body being replaced; every other header (Allow, Retry-After,
# WWW-Authenticate, the security headers, Vary) is kept.
BODY_HEADERS = frozenset({"content-type", "content-length", "content-disposition", "content-language"})


def status_error(status_code: int) -> JsonResponse:
    """The one-shape answer for a status when nothing more specific is known."""
    code, message = STATUS_ERRORS.get(status_code, (None, GENERIC_ERROR_MESSAGE))
    if code is None:
        try:
            code = HTTPStatus(status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        except ValueError:
            code = "error"
    return json_error(status_code, code, str(message))


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, message), status=status_code,
                        json_dumps_params={"ensure_ascii": False})


def json_not_found(request: Any, exception: Exception | None = None) -> JsonResponse:
    return status_error(status.HTTP_404_NOT_FOUND)


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


# --- project-wide handlers (portal/urls.py handler400/403/404/500) ---------------------------

def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return status_error(status.HTTP_400_BAD_REQUEST)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return status_error(status.HTTP_403_FORBIDDEN)
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    # Django has already logged the exception (django.request); the client gets no traceback.
    if is_api_request(request):
        return status_error(status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)


# --- the last word on every /api/ answer ------------------------------------------------------

def _in_error_shape(response: HttpResponse) -> bool:
    if not response.get("Content-Type", "").startswith("application/json"):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict)


def _reshaped(response: HttpResponse) -> HttpResponse:
    # A DRF error rendered as HTML or YAML already holds the shaped body (its `fields` too);
    # renderers may have added keys of their own beside it.
    data = getattr(response, "data", None)
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        shaped = JsonResponse({"error": data["error"]}, status=response.status_code,
                              json_dumps_params={"ensure_ascii": False})
    else:
        shaped = status_error(response.status_code)
    for header, value in response.items():
        if header.lower() not in BODY_HEADERS:
            shaped[header] = value
    shaped.cookies = response.cookies  # the session and CSRF cookies set further in
    return shaped


class ApiErrorShapeMiddleware:
    """Every error answer under /api/ in the one JSON shape, whatever produced it (DEBUG on or off).

    Outermost in MIDDLEWARE, so it sees the final answer, including those Django makes from an
    exception raised in a middleware further in.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not is_api_request(request)
            or response.streaming
            or _in_error_shape(response)
        ):
            return response
        return _reshaped(response)
