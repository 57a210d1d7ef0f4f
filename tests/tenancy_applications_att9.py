"""Out-of-reach entries for the attachment pages (applications/attachment_urls.py): the outsider,
a Shanghai data center, files an application with a licence and a site photo."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django_scopes import scopes_disabled

from applications.attachments import attachment_add
from applications.models import Attachment, Program
from applications.services import program_load, submission_save, submission_start, submission_submit
from tests.applications.attachment_files import attachment_definition, image_bytes, pdf_bytes
from tests.tenancy_objects import out_of_reach

WALK_PROGRAM = "walk_attach_sh"
TODAY = dt.date(2026, 6, 1)


def _program() -> Program:
    program = Program.objects.filter(code=WALK_PROGRAM).first()
    if program is None:
        program, _ = program_load(definition=attachment_definition(WALK_PROGRAM, region="310000"))
    return program


def outsider_photo(world: Any) -> Attachment:
    """A site photo (with its thumbnail) of a filed application of the outsider."""
    user = world.user("outsider_admin")
    with scopes_disabled():  # test setup
        submission = submission_start(program=_program(), enterprise=world.outsider, user=user, today=TODAY)
        submission_save(submission=submission, user=user, changes={
            "founded": "2012-03-01", "summary": "数据中心", "investment": "60", "energy_tce": "0",
            "commitment": "yes", "claims_big": "no",
            "economics": [{"assets": "900", "liabilities": "300"}, {"assets": "950", "liabilities": "320"}]})
        attachment_add(submission=submission, kind_key="licence", user=user,
                       upload=SimpleUploadedFile("上海丙营业执照.pdf", pdf_bytes("licence")))
        photo = attachment_add(submission=submission, kind_key="photos", user=user,
                               upload=SimpleUploadedFile("上海丙机房.png", image_bytes("PNG", (400, 300))))
        submission_submit(submission=submission, user=user, today=TODAY)
    return photo


def _attachment_kwargs(world: Any) -> dict[str, Any]:
    photo = outsider_photo(world)
    return {"submission_id": photo.submission_id, "attachment_id": photo.pk}


def _upload_kwargs(world: Any) -> dict[str, Any]:
    return {"submission_id": outsider_photo(world).submission_id, "kind": "photos"}


for _name in ("applications:attachment_download", "applications:attachment_thumbnail",
              "applications:attachment_delete"):
    out_of_reach(_name)(_attachment_kwargs)
out_of_reach("applications:attachment_upload")(_upload_kwargs)
