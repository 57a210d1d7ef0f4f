"""Pages that take and hand out a submission's attachments.

Reading goes through `portal.access.get_submission_for_user` (officials read filed submissions'
files in their reach), writing through `get_rw_submission_for_user`; an attachment is looked up
within its submission only, so another submission's id answers 404 like one out of reach. The
rules of what may be uploaded are `applications.attachments.attachment_add`'s.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db.models.fields.files import FieldFile
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotModified,
)
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST, require_safe

from applications.attachments import (
    attachment_add,
    attachment_kind,
    attachment_remove,
    max_size_bytes,
    size_text,
)
from applications.models import Attachment, Submission
from applications.selectors import submission_definition
from portal.access import get_rw_submission_for_user, get_submission_for_user

UPLOAD_FIELD = "file"


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts a file's bytes as they arrive and skips it past the kind's limit: the rest of it is
    read and thrown away, never held in memory or written to disk."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.too_large: tuple[str, int] | None = None

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = (str(self.file_name or ""), self.received)
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _attachment(submission: Submission, attachment_id: int) -> Attachment:
    attachment = Attachment.objects.filter(submission=submission, pk=attachment_id).first()
    if attachment is None:
        raise Http404
    return attachment


def _back(request: HttpRequest, submission: Submission) -> HttpResponse:
    """To the form's attachments page (ui9's), else where the upload came from."""
    try:
        return redirect(reverse("applications:submission_attachments",
                                kwargs={"submission_id": submission.pk}))
    except NoReverseMatch:
        pass
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return redirect(referer)
    return redirect("/")


def _answer(request: HttpRequest, submission: Submission, kind: str, *, done: str = "",
            errors: list[str] | None = None, attachment: Attachment | None = None) -> HttpResponse:
    """htmx gets the verdict as a fragment to put next to the upload (200 either way, so htmx
    swaps it in); a plain form post gets it as a message on the page it is sent back to. The
    messages carry the kind as a tag (`attachment-<kind>`) so the page can show each by its upload."""
    if getattr(request, "htmx", False):
        if errors:
            body = format_html('<div class="attachment-result attachment-result--error" role="alert" '
                               'data-kind="{}"><ul>{}</ul></div>', kind,
                               format_html_join("", "<li>{}</li>", ((error,) for error in errors)))
            return HttpResponse(body)
        link = ""
        if attachment is not None:
            link = format_html(' <a href="{}">{}</a>', reverse("applications:attachment_download", kwargs={
                "submission_id": submission.pk, "attachment_id": attachment.pk}), _("下载"))
        response = HttpResponse(format_html(
            '<div class="attachment-result attachment-result--ok" role="status" data-kind="{}">{}{}</div>',
            kind, done, link))
        response["HX-Trigger"] = "attachments-changed"
        return response
    tags = f"attachment attachment-{kind}"
    for error in errors or []:
        messages.error(request, error, extra_tags=tags)
    if done:
        messages.success(request, done, extra_tags=tags)
    return _back(request, submission)


@csrf_exempt  # the size limit must be set before the body is read; CSRF is checked in _upload
@login_required
@require_POST
def attachment_upload(request: HttpRequest, submission_id: int, kind: str) -> HttpResponse:
    submission = get_rw_submission_for_user(request.user, submission_id)
    found = attachment_kind(submission_definition(submission), kind)
    if found is None:
        raise Http404
    limiter = SizeLimitUploadHandler(request, max_size_bytes(found))
    request.upload_handlers.insert(0, limiter)
    return _upload(request, submission, kind, limiter)


@csrf_protect
def _upload(request: HttpRequest, submission: Submission, kind: str,
            limiter: SizeLimitUploadHandler) -> HttpResponse:
    upload = request.FILES.get(UPLOAD_FIELD)
    if limiter.too_large is not None:
        name, received = limiter.too_large
        return _answer(request, submission, kind, errors=[
            _("“%(name)s”超过每个文件 %(limit)s 的上限（已收到 %(size)s 时停止接收），未上传") % {
                "name": name, "limit": size_text(limiter.limit), "size": size_text(received)}])
    if upload is None:
        return _answer(request, submission, kind, errors=[_("请选择要上传的文件")])
    try:
        attachment = attachment_add(submission=submission, kind_key=kind, upload=upload,
                                    user=request.user)  # type: ignore[arg-type]
    except ValidationError as exc:
        return _answer(request, submission, kind, errors=exc.messages)
    return _answer(request, submission, kind, attachment=attachment,
                   done=_("已上传“%(name)s”（%(size)s）") % {"name": attachment.original_name,
                                                         "size": size_text(attachment.size)})


def _disposition(disposition: str, name: str) -> str:
    """RFC 6266 with the RFC 5987 `filename*` carrying the original (often Chinese) name, and a
    plain ASCII `filename` for clients that know only that."""
    plain = "".join(char if char.isascii() and char.isprintable() and char not in '"\\;' else "_"
                    for char in name)
    fallback = re.sub(r"_+", "_", plain).strip()
    return f"{disposition}; filename=\"{fallback or 'attachment'}\"; filename*=UTF-8''{quote(name, safe='')}"


def _file_response(request: HttpRequest, file: FieldFile, *, content_type: str, name: str, etag: str,
                   disposition: str) -> HttpResponseBase:
    tag = f'"{etag}"'
    headers = {"ETag": tag, "Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}
    # The access check above runs on every request; a copy the browser keeps is only revalidated.
    if tag in [value.strip() for value in request.headers.get("If-None-Match", "").split(",")]:
        response: HttpResponseBase = HttpResponseNotModified()
        for header, value in headers.items():
            response[header] = value
        return response
    try:
        handle = file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = _disposition(disposition, name)
    # Nothing in an uploaded file may run as part of the site, even opened in a tab.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    for header, value in headers.items():
        response[header] = value
    return response


@login_required
@require_safe
def attachment_download(request: HttpRequest, submission_id: int, attachment_id: int) -> HttpResponseBase:
    attachment = _attachment(get_submission_for_user(request.user, submission_id), attachment_id)
    return _file_response(request, attachment.file, content_type=attachment.content_type,
                          name=attachment.original_name, etag=attachment.sha256, disposition="attachment")


@login_required
@require_safe
def attachment_thumbnail(request: HttpRequest, submission_id: int, attachment_id: int) -> HttpResponseBase:
    attachment = _attachment(get_submission_for_user(request.user, submission_id), attachment_id)
    if not attachment.thumbnail:
        raise Http404
    stem = attachment.original_name.rsplit(".", 1)[0]
    return _file_response(request, attachment.thumbnail, content_type="image/jpeg",
                          name=f"{stem}.thumbnail.jpg", etag=f"{attachment.sha256[:32]}-thumbnail",
                          disposition="inline")


@login_required
@require_POST
def attachment_delete(request: HttpRequest, submission_id: int, attachment_id: int) -> HttpResponse:
    submission = get_rw_submission_for_user(request.user, submission_id)
    attachment = _attachment(submission, attachment_id)
    try:
        attachment_remove(attachment=attachment, user=request.user)  # type: ignore[arg-type]
    except ValidationError as exc:
        return _answer(request, submission, attachment.kind, errors=exc.messages)
    return _answer(request, submission, attachment.kind,
                   done=_("已删除“%(name)s”") % {"name": attachment.original_name})
