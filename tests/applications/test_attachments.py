"""Attachments: the real type comes from the content, limits per kind, thumbnails, private storage
served only through the access check, and removal only while the submission is editable."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_scopes import scopes_disabled
from PIL import Image

from applications.attachments import attachment_add, attachment_remove, content_type_of, display_name
from applications.models import Attachment, Program, Submission, SubmissionState
from applications.services import (
    SubmissionRefused,
    program_load,
    submission_save,
    submission_start,
    submission_submit,
)
from portal.models import AuditEntry
from tests.applications.attachment_files import (
    attachment_definition,
    docx_bytes,
    elf_bytes,
    image_bytes,
    pdf_bytes,
    pe_bytes,
    xlsx_bytes,
)
from tests.conftest import login

TODAY = dt.date(2026, 6, 1)
PDF = "application/pdf"


@pytest.fixture(autouse=True)
def private_files(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Attachments in a folder of this test's own, outside MEDIA_ROOT (as in production)."""
    folder = tmp_path / "private"
    settings.STORAGES = {**settings.STORAGES, "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(folder), "base_url": "/no-public-url/"}}}
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return folder


@pytest.fixture
def program(db) -> Program:
    with scopes_disabled():
        program, _ = program_load(definition=attachment_definition())
    return program


@pytest.fixture
def shanghai_program(db) -> Program:
    with scopes_disabled():
        program, _ = program_load(definition=attachment_definition("test_attach_sh", region="310000"))
    return program


def draft(world: Any, program: Program, key: str = "a_admin") -> Submission:
    user = world.user(key)
    with scopes_disabled():
        return submission_start(program=program, enterprise=user.enterprise, user=user, today=TODAY)


def upload(name: str, content: bytes, content_type: str = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def add(submission: Submission, kind: str, name: str, content: bytes, user: Any,
        content_type: str = PDF) -> Attachment:
    with scopes_disabled():
        return attachment_add(submission=submission, kind_key=kind,
                              upload=upload(name, content, content_type), user=user)


def refused(submission: Submission, kind: str, name: str, content: bytes, user: Any,
            content_type: str = PDF) -> str:
    with pytest.raises(ValidationError) as caught:
        add(submission, kind, name, content, user, content_type)
    return " ".join(caught.value.messages)


def complete(submission: Submission, user: Any, **changes: str) -> None:
    data = {"founded": "2010-05-01", "summary": "十字以内", "investment": "80", "energy_tce": "0",
            "commitment": "yes", "claims_big": "no",
            "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}],
            **changes}
    with scopes_disabled():
        submission_save(submission=submission, user=user, changes=data)


def client_for(world: Any, key: str) -> Client:
    client = Client()
    login(client, world.user(key))
    return client


def upload_url(submission: Submission, kind: str) -> str:
    return reverse("applications:attachment_upload", kwargs={"submission_id": submission.pk, "kind": kind})


def file_url(name: str, attachment: Attachment, submission: Submission | None = None) -> str:
    return reverse(f"applications:{name}", kwargs={
        "submission_id": (submission or attachment.submission).pk, "attachment_id": attachment.pk})


def body_of(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- what a file is -------------------------------------------------------------------------------

def test_a_real_pdf_is_stored_privately_with_its_name_hash_and_size(world, program, private_files):
    user = world.user("a_admin")
    submission = draft(world, program)
    content = pdf_bytes("licence")
    attachment = add(submission, "licence", "营业执照.pdf", content, user, content_type="text/plain")
    assert attachment.content_type == PDF  # from the bytes, not what the browser said
    assert (attachment.original_name, attachment.size) == ("营业执照.pdf", len(content))
    import hashlib
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    stored = private_files / attachment.file.name
    assert stored.read_bytes() == content
    assert "营业执照" not in attachment.file.name and not attachment.thumbnail
    assert attachment.file.name.startswith(f"attachments/{world.tenant_a.pk}/")


def test_a_renamed_executable_is_refused_naming_the_file_and_what_it_is(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    message = refused(submission, "licence", "营业执照.pdf", elf_bytes(), user)
    assert "“营业执照.pdf”实际上是可执行程序" in message and "ELF" in message and "PDF" in message
    message = refused(submission, "licence", "scan.pdf", pe_bytes(), user)
    assert "“scan.pdf”实际上是可执行程序" in message
    with scopes_disabled():
        assert not Attachment.objects.filter(submission=submission).exists()


def test_a_type_the_kind_does_not_take_is_refused(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    complete(submission, user, investment="150")
    message = refused(submission, "audit_report", "审计报告.png", image_bytes("PNG", (50, 50)), user,
                      content_type="application/pdf")
    assert message == "“审计报告.png”的内容是 PNG image data（image/png），“专项审计报告”只接受 PDF 文件"
    message = refused(submission, "forms", "附表.docx", pdf_bytes(), user)
    assert "只接受 Word (docx)、Excel (xlsx) 文件" in message


def test_office_files_are_told_by_their_container(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    sheet = add(submission, "forms", "附表.xlsx", xlsx_bytes(), user)
    assert sheet.content_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    # libmagic on this machine sees only a zip in the first 8 KiB here; the container says Word.
    late = docx_bytes(main_first=False)
    import magic
    assert magic.from_buffer(late[:8192], mime=True) == "application/zip"
    document = add(submission, "forms", "说明.docx", late, user)
    assert document.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    # A plain zip named .docx is no Word document.
    plain = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(plain, "w") as container:
        container.writestr("readme.txt", "hello")
    message = refused(submission, "forms", "伪装.docx", plain.getvalue(), user)
    assert "“伪装.docx”的内容是" in message and "application/zip" in message


def test_content_type_of_reads_only_the_head_and_leaves_the_file_rewound():
    file = upload("x.pdf", pdf_bytes())
    file.seek(100)
    assert content_type_of(file)[0] == PDF
    assert file.tell() == 0


def test_display_names_lose_folders_and_control_characters_and_keep_their_extension():
    assert display_name("C:\\Users\\甲\\..\\营业\u202e执照.pdf") == "营业执照.pdf"
    assert display_name("../../etc/passwd") == "passwd"
    long = display_name("长" * 300 + ".pdf")
    assert len(long) == 255 and long.endswith("长.pdf")
    assert display_name("") == "file"


# --- limits ---------------------------------------------------------------------------------------

def test_an_oversized_file_is_refused(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    big = pdf_bytes(pad_to=1024 * 1024 + 10)
    message = refused(submission, "licence", "大文件.pdf", big, user)
    # Just over: megabytes would read the same, so the message says bytes.
    assert message == "“大文件.pdf”有 1,048,586 字节，超过“营业执照”每个文件 1,048,576 字节 的上限"
    message = refused(submission, "licence", "更大.pdf", pdf_bytes(pad_to=1536 * 1024), user)
    assert "“更大.pdf”有 1.5 MB" in message
    assert refused(submission, "licence", "空.pdf", b"", user) == "“空.pdf”是空文件"


def test_an_oversized_upload_is_dropped_as_it_arrives(world, program, private_files):
    submission = draft(world, program)
    client = client_for(world, "a_admin")
    big = pdf_bytes(pad_to=3 * 1024 * 1024)
    response = client.post(upload_url(submission, "licence"), {"file": upload("大文件.pdf", big)},
                           HTTP_HX_REQUEST="true")
    text = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' in text
    assert "“大文件.pdf”超过每个文件 1 MB 的上限" in text and "停止接收" in text
    with scopes_disabled():
        assert not Attachment.objects.filter(submission=submission).exists()
    assert not private_files.exists() or not any(path.is_file() for path in private_files.rglob("*"))


def test_at_most_max_count_files_of_a_kind(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    add(submission, "licence", "正本.pdf", pdf_bytes("1"), user)
    add(submission, "licence", "副本.pdf", pdf_bytes("2"), user)
    message = refused(submission, "licence", "第三份.pdf", pdf_bytes("3"), user)
    assert message == "“营业执照”最多 2 个，已有 2 个；请先删除不需要的再上传“第三份.pdf”"


def test_a_kind_must_be_the_definitions_and_apply(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    assert refused(submission, "nonexistent", "x.pdf", pdf_bytes(), user) == "本项目没有“nonexistent”这类附件"
    assert refused(submission, "park_members", "x.pdf", pdf_bytes(), user) == (
        "按目前填写的内容，本申报不需要“园区成员名单”")


# --- images ---------------------------------------------------------------------------------------

def test_images_get_a_jpeg_thumbnail_at_most_320_px(world, program, private_files):
    user = world.user("a_admin")
    submission = draft(world, program)
    png = add(submission, "photos", "现场.png", image_bytes("PNG", (800, 400)), user)
    assert png.content_type == "image/png"
    with Image.open(private_files / png.thumbnail.name) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (320, 160))
    transparent = add(submission, "photos", "透明.png", image_bytes("PNG", (100, 60), mode="RGBA"), user)
    with Image.open(private_files / transparent.thumbnail.name) as thumbnail:
        assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (100, 60))


def test_a_thumbnail_is_turned_upright_as_exif_says(world, program, private_files):
    user = world.user("a_admin")
    submission = draft(world, program)
    # Orientation 6: the camera was turned; the picture is shown rotated 90° clockwise.
    photo = add(submission, "photos", "竖拍.jpg", image_bytes("JPEG", (600, 300), orientation=6), user)
    with Image.open(private_files / photo.thumbnail.name) as thumbnail:
        assert thumbnail.size == (160, 320)
        rgb = thumbnail.convert("RGB")
        # The red left half of the stored picture is at the top once upright.
        top, bottom = rgb.getpixel((80, 20)), rgb.getpixel((80, 300))
        assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]


def test_a_corrupt_image_is_refused(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    whole = image_bytes("PNG", (400, 400))
    message = refused(submission, "photos", "坏图.png", whole[: len(whole) // 2], user)
    assert message.startswith("图片“坏图.png”已损坏或不完整")
    broken_jpeg = image_bytes("JPEG", (400, 400))[:600]
    assert "“坏.jpg”已损坏" in refused(submission, "photos", "坏.jpg", broken_jpeg, user)
    # A tiny file claiming a huge picture is refused before it is decoded.
    huge = io.BytesIO()
    Image.new("1", (10_000, 8_500)).save(huge, format="PNG")
    assert len(huge.getvalue()) < 1024 * 1024
    assert refused(submission, "photos", "巨图.png", huge.getvalue(), user) == (
        "图片“巨图.png”有 10000 × 8500 像素，超过 8000 万像素，请缩小后上传")


# --- the pages ------------------------------------------------------------------------------------

def test_a_refused_upload_keeps_the_draft_and_its_other_files(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    complete(submission, user, investment="150")
    kept = add(submission, "licence", "营业执照.pdf", pdf_bytes(), user)
    with scopes_disabled():
        before = Submission.objects.get(pk=submission.pk).data
    client = client_for(world, "a_admin")
    response = client.post(upload_url(submission, "audit_report"),
                           {"file": upload("审计报告.pdf", elf_bytes())}, HTTP_REFERER="http://testserver/back/")
    # Back to the attachments page, where the message sits next to the kind's upload.
    assert response.status_code == 302
    assert response["Location"] == reverse("applications:submission_attachments",
                                           kwargs={"submission_id": submission.pk})
    shown = [(str(message), message.tags) for message in response.wsgi_request._messages]
    assert shown == [(
        "“审计报告.pdf”实际上是可执行程序（ELF 64-bit LSB shared object），不是PDF文件，不能上传",
        "attachment attachment-audit_report error")]
    with scopes_disabled():
        assert Submission.objects.get(pk=submission.pk).data == before
        assert list(Attachment.objects.filter(submission=submission)) == [kept]


def test_upload_through_the_page_and_htmx(world, program):
    submission = draft(world, program)
    client = client_for(world, "a_staff")
    response = client.post(upload_url(submission, "licence"), {"file": upload("执照.pdf", pdf_bytes())},
                           HTTP_HX_REQUEST="true")
    with scopes_disabled():
        attachment = Attachment.objects.get(submission=submission)
    text = response.content.decode()
    assert response.status_code == 200 and response["HX-Trigger"] == "attachments-changed"
    assert "已上传“执照.pdf”（0 MB）" in text and file_url("attachment_download", attachment) in text
    assert attachment.uploaded_by == world.user("a_staff")
    assert client.post(upload_url(submission, "licence"), {}, HTTP_HX_REQUEST="true").content.decode().count(
        "请选择要上传的文件") == 1
    assert client.get(upload_url(submission, "licence")).status_code == 405
    assert client.post(upload_url(submission, "nonexistent"), {}).status_code == 404
    # Another enterprise's users and officials never write.
    for key in ("b_admin", "zhengzhou_reviewer", "platform_admin"):
        answer = client_for(world, key).post(upload_url(submission, "licence"),
                                             {"file": upload("x.pdf", pdf_bytes())})
        assert answer.status_code == 404, key
    with scopes_disabled():
        assert Attachment.objects.filter(submission=submission).count() == 1


def test_upload_checks_csrf(world, program):
    submission = draft(world, program)
    client = Client(enforce_csrf_checks=True)
    login(client, world.user("a_admin"))
    response = client.post(upload_url(submission, "licence"), {"file": upload("x.pdf", pdf_bytes())})
    assert response.status_code == 403
    with scopes_disabled():
        assert not Attachment.objects.filter(submission=submission).exists()


def test_the_owner_downloads_the_same_bytes_with_safe_headers(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    content = pdf_bytes("download")
    attachment = add(submission, "licence", "营业执照 \"正本\".pdf", content, user)
    client = client_for(world, "a_staff")
    response = client.get(file_url("attachment_download", attachment))
    assert response.status_code == 200 and body_of(response) == content
    assert response["Content-Type"] == PDF
    assert response["Content-Disposition"] == (
        "attachment; filename=\"_ _.pdf\"; "
        "filename*=UTF-8''%E8%90%A5%E4%B8%9A%E6%89%A7%E7%85%A7%20%22%E6%AD%A3%E6%9C%AC%22.pdf")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-cache"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    again = client.get(file_url("attachment_download", attachment), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert client.get(file_url("attachment_thumbnail", attachment)).status_code == 404  # no image


def test_the_thumbnail_is_served_as_jpeg(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    photo = add(submission, "photos", "现场.png", image_bytes("PNG", (640, 640)), user)
    response = client_for(world, "a_admin").get(file_url("attachment_thumbnail", photo))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"].startswith("inline; ")
    with Image.open(io.BytesIO(body_of(response))) as thumbnail:
        assert thumbnail.size == (320, 320)


def test_reading_follows_the_access_policy(world, program, shanghai_program):
    user = world.user("a_admin")
    submission = draft(world, program)
    complete(submission, user)
    attachment = add(submission, "licence", "营业执照.pdf", pdf_bytes(), user)
    url = file_url("attachment_download", attachment)
    outsider_user = world.user("outsider_admin")
    outsider = draft(world, shanghai_program, "outsider_admin")
    complete(outsider, outsider_user)
    theirs = add(outsider, "licence", "上海执照.pdf", pdf_bytes("sh"), outsider_user)
    their_url = file_url("attachment_download", theirs)

    def status(key: str, address: str) -> int:
        return client_for(world, key).get(address).status_code

    # A draft stays with its enterprise.
    assert status("a_admin", url) == 200
    for key in ("b_admin", "outsider_admin", "zhengzhou_reviewer", "henan_officer", "xuhui_reviewer",
                "expert"):
        assert status(key, url) == 404, key
    assert status("outsider_admin", their_url) == 200 and status("xuhui_reviewer", their_url) == 404
    # Filed: the officials in reach read the files, the others still get 404.
    with scopes_disabled():
        submission_submit(submission=submission, user=user, today=TODAY)
        submission_submit(submission=outsider, user=outsider_user, today=TODAY)
    for key in ("a_admin", "zhengzhou_reviewer", "henan_officer", "platform_admin"):
        assert status(key, url) == 200, key
    for key in ("b_admin", "luoyang_reviewer", "xuhui_reviewer", "outsider_admin", "park_admin", "expert"):
        assert status(key, url) == 404, key
    assert status("xuhui_reviewer", their_url) == 200
    assert status("zhengzhou_reviewer", their_url) == 404 and status("park_admin", their_url) == 404
    # The submission and the attachment must belong together.
    assert status("a_admin", file_url("attachment_download", theirs, submission)) == 404
    assert status("outsider_admin", file_url("attachment_download", attachment, outsider)) == 404


def test_deleting_only_while_editable(world, program, private_files, django_capture_on_commit_callbacks):
    user = world.user("a_admin")
    submission = draft(world, program)
    complete(submission, user)
    first = add(submission, "licence", "正本.pdf", pdf_bytes("1"), user)
    photo = add(submission, "photos", "现场.jpg", image_bytes("JPEG", (400, 300)), user)
    client = client_for(world, "a_admin")
    stored = [private_files / photo.file.name, private_files / photo.thumbnail.name]
    assert all(path.exists() for path in stored)
    assert client_for(world, "b_admin").post(file_url("attachment_delete", photo)).status_code == 404
    assert client.get(file_url("attachment_delete", photo)).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(file_url("attachment_delete", photo), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "已删除“现场.jpg”" in response.content.decode()
    assert not any(path.exists() for path in stored)
    with scopes_disabled():
        assert list(Attachment.objects.filter(submission=submission)) == [first]
        submission_submit(submission=submission, user=user, today=TODAY)
    response = client.post(file_url("attachment_delete", first), HTTP_REFERER="http://testserver/form/")
    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == ["申报已提交，不能删除附件“正本.pdf”"]
    with scopes_disabled():
        assert Attachment.objects.filter(pk=first.pk).exists()
        with pytest.raises(ValidationError, match="申报已提交"):
            attachment_remove(attachment=first, user=user)
    assert (private_files / first.file.name).exists()
    message = refused(submission, "licence", "补充.pdf", pdf_bytes(), user)
    assert message == "申报已提交，不能再上传附件；退回补正后可以上传"
    # Returned for correction: editable again.
    with scopes_disabled():
        Submission.objects.filter(pk=submission.pk).update(state=SubmissionState.RETURNED)
        submission.refresh_from_db()
        attachment_remove(attachment=first, user=user)
        assert not Attachment.objects.filter(pk=first.pk).exists()


def test_a_conditional_attachment_holds_back_filing_until_uploaded(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    complete(submission, user, investment="150")
    add(submission, "licence", "营业执照.pdf", pdf_bytes(), user)
    with scopes_disabled(), pytest.raises(SubmissionRefused) as caught:
        submission_submit(submission=submission, user=user, today=TODAY)
    assert caught.value.messages == ["请上传专项审计报告"]
    add(submission, "audit_report", "专项审计报告.pdf", pdf_bytes("audit"), user)
    with scopes_disabled():
        filed = submission_submit(submission=submission, user=user, today=TODAY)
        assert filed.state == SubmissionState.SUBMITTED
        assert sorted(item["kind"] for item in filed.filings.get().attachments) == ["audit_report", "licence"]


def test_the_audit_trail_keeps_no_file_content(world, program):
    user = world.user("a_admin")
    submission = draft(world, program)
    marker = "NENGTAN-CONTENT-MARKER-7731"
    attachment = add(submission, "licence", "营业执照.pdf", pdf_bytes(marker), user)
    entries = AuditEntry.objects.filter(object_type__icontains="attachment", object_id=str(attachment.pk))
    created = entries.get(action="create")
    assert created.changes["original_name"]["after"] == "营业执照.pdf"
    assert created.changes["sha256"]["after"] == attachment.sha256
    # The stored name only: the random path, never the bytes.
    assert created.changes["file"]["after"] == attachment.file.name
    dumped = json.dumps([entry.changes for entry in AuditEntry.objects.all()], ensure_ascii=False)
    assert marker not in dumped and "%PDF" not in dumped
    assert created.enterprise_id_snapshot == world.tenant_a.pk and created.actor == user
    with scopes_disabled():
        attachment_remove(attachment=attachment, user=user)
    removed = entries.get(action="delete")
    assert removed.actor == user and marker not in json.dumps(removed.changes)
