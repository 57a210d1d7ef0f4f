"""Attachments: which kinds a submission needs and whether what is attached meets them, and
adding and removing files (type by content, size and count limits, thumbnails, private storage).

What counts as complete and what may be uploaded live here, next to the kinds' rules; the pages
that take and serve files are applications/attachment_views.py.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import zipfile
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NoReturn

import magic
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from applications.definitions import ATTACHMENT_TYPES, AttachmentKind, ProgramDefinition
from applications.models import Attachment, Submission, private_storage
from applications.values import Context, condition_holds, form_check, label_of
from portal import audit
from portal.models import User


@dataclass
class KindStatus:
    kind: AttachmentKind
    label: str
    count: int
    required: bool
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


def kind_required(kind: AttachmentKind, *, values: Mapping[str, Any], context: Context) -> bool:
    if kind.required or kind.min_count > 0:
        return True
    return kind.required_if is not None and condition_holds(kind.required_if, values=values, context=context)


def attachments_check(definition: ProgramDefinition, *, counts: Mapping[str, int], values: Mapping[str, Any],
                      context: Context) -> list[KindStatus]:
    """Each applicable attachment kind with its count and what is still missing."""
    statuses = []
    for kind in definition.attachments:
        if kind.applies_if is not None and not condition_holds(
                kind.applies_if, values=values, context=context):
            continue
        count = counts.get(kind.key, 0)
        required = kind_required(kind, values=values, context=context)
        status = KindStatus(kind=kind, label=label_of(kind.label), count=count, required=required)
        least = max(kind.min_count, 1) if required else 0
        if count < least:
            if least == 1:
                status.problems.append(_("请上传%(kind)s") % {"kind": status.label})
            else:
                status.problems.append(_("%(kind)s至少 %(least)s 个，现有 %(count)s 个") % {
                    "kind": status.label, "least": least, "count": count})
        if kind.max_count is not None and count > kind.max_count:
            status.problems.append(_("%(kind)s最多 %(most)s 个，现有 %(count)s 个") % {
                "kind": status.label, "most": kind.max_count, "count": count})
        statuses.append(status)
    return statuses


# --- uploading ------------------------------------------------------------------------------------
#
# What a file is comes from its bytes (libmagic), never from its name or the browser's content
# type. Office files are zip containers: libmagic names docx/xlsx only when the container's first
# entries give them away, and answers application/zip otherwise, so the container's own
# [Content_Types].xml decides (see `content_type_of`).

HEAD_BYTES = 8 * 1024
THUMBNAIL_PX = 320
# Decoding takes about 4 bytes a pixel: a small file can claim a huge picture. 80 MP is beyond
# what a phone or scanner writes for a document or a site photo.
IMAGE_PIXELS_MAX = 80_000_000
# [Content_Types].xml is a few KiB; more is not an Office file's and is never read.
CONTENT_TYPES_XML_MAX = 256 * 1024
ZIP_MIME = "application/zip"
OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
# What libmagic calls programs (ELF on Linux, PE/MZ on Windows, Mach-O on macOS).
EXECUTABLE_TYPES = frozenset({
    "application/x-executable", "application/x-pie-executable", "application/x-sharedlib",
    "application/x-elf", "application/x-dosexec", "application/vnd.microsoft.portable-executable",
    "application/x-mach-binary", "application/x-msdownload",
})
TYPE_NAMES = {"pdf": "PDF", "jpg": "JPG", "png": "PNG", "docx": "Word (docx)", "xlsx": "Excel (xlsx)"}
DISPLAY_NAME_MAX = 255
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def display_name(name: str | None) -> str:
    """The uploaded name as people read it: no folders, no control or direction-override
    characters, at most 255 characters with its extension kept. Only ever displayed and sent
    back in Content-Disposition; stored files get random names (models._attachment_path)."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNPRINTABLE.sub("", base).strip().strip(".").strip() or "file"
    if len(base) > DISPLAY_NAME_MAX:
        stem, dot, extension = base.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            base = stem[:DISPLAY_NAME_MAX - len(extension) - 1] + "." + extension
        else:
            base = base[:DISPLAY_NAME_MAX]
    return base


def max_size_bytes(kind: AttachmentKind) -> int:
    return int(kind.max_size_mb * 1024 * 1024)


def size_text(size: int | Decimal) -> str:
    mb = Decimal(size) / (1024 * 1024)
    return f"{mb.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP).normalize():f} MB"


def _head(upload: File) -> bytes:  # type: ignore[type-arg]
    upload.seek(0)
    head = upload.read(HEAD_BYTES)
    upload.seek(0)
    return bytes(head)


def _ooxml_type(upload: File) -> str | None:  # type: ignore[type-arg]
    """The Office type a zip container declares for its main part, or None when it is no Office
    file (or a macro-enabled one, which is not docx/xlsx)."""
    try:
        upload.seek(0)
        with zipfile.ZipFile(upload) as container:
            with container.open("[Content_Types].xml") as entry:
                declared = entry.read(CONTENT_TYPES_XML_MAX + 1)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError, EOFError):
        return None
    finally:
        upload.seek(0)
    if len(declared) > CONTENT_TYPES_XML_MAX:
        return None
    text = declared.decode("utf-8", errors="replace")
    found = [mime for mime, main in OOXML_MAIN_PARTS.items() if f'"{main}"' in text]
    return found[0] if len(found) == 1 else None


def content_type_of(upload: File) -> tuple[str, str]:  # type: ignore[type-arg]
    """(MIME type, libmagic's description) read from the file's content."""
    head = _head(upload)
    mime = magic.from_buffer(head, mime=True)
    description = magic.from_buffer(head)
    if head.startswith(b"\x7fELF"):
        mime = mime if mime in EXECUTABLE_TYPES else "application/x-executable"
    elif head.startswith(b"MZ") and mime == "application/octet-stream":
        mime = "application/x-dosexec"
    if head.startswith(b"PK\x03\x04") and mime in (*OOXML_MAIN_PARTS, ZIP_MIME, "application/octet-stream"):
        # Decided by the container, whatever libmagic guessed from its first entries.
        mime = _ooxml_type(upload) or ZIP_MIME
    return mime, description


def _refuse(message: str, code: str) -> NoReturn:
    raise ValidationError(message, code=code)


def _thumbnail_of(upload: File, name: str) -> ContentFile[bytes]:  # type: ignore[type-arg]
    """A JPEG of at most 320 × 320 px, turned upright as the camera's EXIF orientation says.
    A file that does not decode whole is refused: it would show as a broken image to reviewers."""
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            probe.verify()
        upload.seek(0)
        with Image.open(upload) as opened:
            width, height = opened.size
            if width * height > IMAGE_PIXELS_MAX:
                _refuse(_("图片“%(name)s”有 %(width)s × %(height)s 像素，超过 %(most)s 万像素，"
                          "请缩小后上传") % {"name": name, "width": width, "height": height,
                                        "most": IMAGE_PIXELS_MAX // 10_000}, "image_too_large")
            opened.load()
            image = ImageOps.exif_transpose(opened) or opened
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            if image.mode in ("RGBA", "LA", "P", "PA") or "transparency" in image.info:
                rgba = image.convert("RGBA")
                image = Image.new("RGB", rgba.size, "white")
                image.paste(rgba, mask=rgba.getchannel("A"))
            elif image.mode != "RGB":
                image = image.convert("RGB")
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=85, optimize=True)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError,
            struct.error, IndexError) as exc:
        _refuse(_("图片“%(name)s”已损坏或不完整，无法打开（%(error)s），请重新导出后上传") % {
            "name": name, "error": type(exc).__name__}, "corrupt_image")
    finally:
        upload.seek(0)
    return ContentFile(out.getvalue())


def _digest(upload: File) -> tuple[str, int]:  # type: ignore[type-arg]
    sha = hashlib.sha256()
    size = 0
    for chunk in upload.chunks():
        sha.update(chunk)
        size += len(chunk)
    upload.seek(0)
    return sha.hexdigest(), size


def attachment_kind(definition: ProgramDefinition, kind_key: str) -> AttachmentKind | None:
    return next((kind for kind in definition.attachments if kind.key == kind_key), None)


def _acting(user: User | None) -> AbstractContextManager[Any]:
    """The audit rows name `user` where no request (or task) has named the actor already."""
    current = audit.current_context()
    if current.actor is not None or user is None:
        return nullcontext()
    return audit.audit_context(actor=user, channel=current.channel, ip_address=current.ip_address,
                               user_agent=current.user_agent, extra=current.extra)


def attachment_add(*, submission: Submission, kind_key: str, upload: UploadedFile,
                   user: User | None) -> Attachment:
    """Attach `upload` to the submission as one file of kind `kind_key`.

    Refused (ValidationError, its message naming the file and what is wrong) unless the
    submission is editable, the kind is in its definition and applies, the file is within the
    kind's size and count, and its content is one of the kind's types. Images are decoded whole
    and get a thumbnail. The file is read in chunks, never whole into memory."""
    # selectors imports this module (attachments_check), so its helpers are imported here.
    from applications.selectors import submission_context, submission_definition

    name = display_name(upload.name)
    with _acting(user), transaction.atomic():
        # Locked, so two uploads at once cannot both take the last place of a kind.
        locked = (Submission.objects.select_for_update().select_related("enterprise", "program_version")
                  .get(pk=submission.pk))
        if not locked.is_editable:
            _refuse(_("申报已提交，不能再上传附件；退回补正后可以上传"), "not_editable")
        definition = submission_definition(locked)
        kind = attachment_kind(definition, kind_key)
        if kind is None:
            _refuse(_("本项目没有“%(kind)s”这类附件") % {"kind": kind_key}, "unknown_kind")
        label = label_of(kind.label)
        context = submission_context(locked)
        if kind.applies_if is not None:
            values = form_check(definition, locked.data, context=context).values
            if not condition_holds(kind.applies_if, values=values, context=context):
                _refuse(_("按目前填写的内容，本申报不需要“%(kind)s”") % {"kind": label}, "not_applicable")
        limit = max_size_bytes(kind)
        if upload.size is None or upload.size > limit:
            shown, most = size_text(upload.size or 0), size_text(limit)
            if shown == most:  # just over: in MB both would read the same
                shown = _("%(n)s 字节") % {"n": f"{upload.size or 0:,}"}
                most = _("%(n)s 字节") % {"n": f"{limit:,}"}
            _refuse(_("“%(name)s”有 %(size)s，超过“%(kind)s”每个文件 %(limit)s 的上限") % {
                "name": name, "size": shown, "kind": label, "limit": most}, "too_large")
        if upload.size == 0:
            _refuse(_("“%(name)s”是空文件") % {"name": name}, "empty")
        count = locked.attachment_files.filter(kind=kind.key).count()
        if kind.max_count is not None and count >= kind.max_count:
            _refuse(_("“%(kind)s”最多 %(most)s 个，已有 %(count)s 个；请先删除不需要的再上传“%(name)s”") % {
                "kind": label, "most": kind.max_count, "count": count, "name": name}, "too_many")
        content_type, description = content_type_of(upload)
        allowed = {mime: key for key in kind.types for mime in ATTACHMENT_TYPES[key]}
        wanted = "、".join(TYPE_NAMES[key] for key in kind.types)
        if content_type in EXECUTABLE_TYPES:
            _refuse(_("“%(name)s”实际上是可执行程序（%(what)s），不是%(wanted)s文件，不能上传") % {
                "name": name, "what": description.split(",")[0], "wanted": wanted}, "executable")
        if content_type not in allowed:
            _refuse(_("“%(name)s”的内容是 %(what)s（%(mime)s），“%(kind)s”只接受 %(wanted)s 文件") % {
                "name": name, "what": description.split(",")[0], "mime": content_type, "kind": label,
                "wanted": wanted}, "wrong_type")
        thumbnail = _thumbnail_of(upload, name) if content_type in IMAGE_TYPES else None
        sha256, size = _digest(upload)
        attachment = Attachment(submission=locked, kind=kind.key, original_name=name,
                                content_type=content_type, size=size, sha256=sha256, uploaded_by=user)
        stored: list[str] = []
        try:
            attachment.file.save(name, upload, save=False)
            stored.append(attachment.file.name or "")
            if thumbnail is not None:
                attachment.thumbnail.save(f"{name}.thumbnail.jpg", thumbnail, save=False)
                stored.append(attachment.thumbnail.name or "")
            attachment.full_clean()
            attachment.save()
        except BaseException:
            _delete_files(stored)
            raise
    return attachment


def _delete_files(names: list[str]) -> None:
    storage = private_storage()
    for name in names:
        if name:
            storage.delete(name)


def attachment_remove(*, attachment: Attachment, user: User | None) -> None:
    """Remove an attachment while its submission is editable. Its files go once the deletion
    is committed, so a rolled-back removal never leaves a row without its file."""
    with _acting(user), transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=attachment.submission_id)
        if not locked.is_editable:
            _refuse(_("申报已提交，不能删除附件“%(name)s”") % {"name": attachment.original_name},
                    "not_editable")
        names = [attachment.file.name or "", attachment.thumbnail.name or ""]
        attachment.delete()
        transaction.on_commit(lambda: _delete_files(names))
