"""One JSON error shape for the whole API.

    {"error": {"status": 400, "code": "invalid", "message": "…", "fields": {"credit_code": ["…"]}}}

`fields` appears only for validation errors and maps each field (or list index) to its messages.

Errors raised inside DRF views go through `exception_handler` (REST_FRAMEWORK EXCEPTION_HANDLER).
Errors that never reach a DRF view (an unknown /api/ URL, a crash, a CSRF failure in a plain
Django view under /api/) go through the project's `handler400/403/404/500`, which answer the
same shape for /api/ paths and the ordinary HTML pages everywhere else.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
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
    return _("未找到。")


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


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, message), status=status_code,
                        json_dumps_params={"ensure_ascii": False})


def json_not_found(request: Any, exception: Exception | None = None) -> JsonResponse:
    return json_error(status.HTTP_404_NOT_FOUND, "not_found", not_found_message())


def is_api_request(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


# --- project-wide handlers (portal/urls.py handler400/403/404/500) ---------------------------

def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_error(status.HTTP_400_BAD_REQUEST, "bad_request", _("请求格式有误。"))
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_error(status.HTTP_403_FORBIDDEN, "permission_denied", _("没有执行该操作的权限。"))
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_request(request):
        return json_not_found(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    # Django has already logged the exception (django.request); the client gets no traceback.
    if is_api_request(request):
        return json_error(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error",
                          _("服务器内部错误，请稍后再试。"))
    return defaults.server_error(request)
