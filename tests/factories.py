"""factory_boy factories for the core models. They build rows with scopes disabled (test setup).

Names are needles: the tenancy walk searches every page for the names, codes and user names of
what a role may not see. So each generated name carries a fixed-width serial (no name is a
part of another, as "用户1" is of "用户12") and a marker no template or fixture text contains.
"""

from __future__ import annotations

import itertools

import factory
from django_scopes import scopes_disabled

from portal.credit_code import make_credit_code
from portal.models import Authority, Enterprise, Region, ReviewOrganization, Role, User

TEST_PASSWORD = "correct-horse-battery-9"
_serial = itertools.count(1)


def region(code: str) -> Region:
    return Region.objects.get(code=code)


def credit_code_for(region_code: str) -> str:
    # 9 (工商) 1 (企业) + region + a unique 9-character organization code.
    return make_credit_code(f"91{region_code}{next(_serial):08d}X"[:17])


class ScopedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        with scopes_disabled():
            return super()._create(model_class, *args, **kwargs)


class EnterpriseFactory(ScopedFactory):
    class Meta:
        model = Enterprise

    name = factory.Sequence(lambda n: f"测试企业{n:05d}号有限公司")
    region = factory.LazyFunction(lambda: region("410105"))
    credit_code = factory.LazyAttribute(lambda o: credit_code_for(o.region.code))
    kind = Enterprise.Kind.INDUSTRIAL
    industry = "C31 黑色金属冶炼和压延加工业"
    status = Enterprise.Status.APPROVED


class AuthorityFactory(ScopedFactory):
    class Meta:
        model = Authority

    name = factory.LazyAttribute(lambda o: f"{o.region.name}工业和信息化局")
    region = factory.LazyFunction(lambda: region("410100"))
    level = Authority.Level.MUNICIPAL


class ReviewOrganizationFactory(ScopedFactory):
    class Meta:
        model = ReviewOrganization

    name = factory.Sequence(lambda n: f"第三方评审机构{n:05d}号")
    credit_code = factory.LazyFunction(lambda: credit_code_for("310104"))


class UserFactory(ScopedFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"factory_user_{n:05d}")
    role = Role.ENTERPRISE_ADMIN
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def persist_password(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            self.save(update_fields=["password"])


# --- applications: filed submissions (shared by the applications tests) ---------------------------

# Placeholder attachment contents, one per type: small but real files (a one-page PDF, a 2×2
# image), so whatever renders or inspects an attachment gets what an upload would be.
def _placeholder_pdf() -> bytes:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _placeholder_image(image_format: str) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


_PLACEHOLDERS = {  # attachment type → (content type, file suffix, content builder)
    "pdf": ("application/pdf", "pdf", _placeholder_pdf),
    "jpg": ("image/jpeg", "jpg", lambda: _placeholder_image("JPEG")),
    "png": ("image/png", "png", lambda: _placeholder_image("PNG")),
}


def placeholder_attachments(submission, *, today=None):  # type: ignore[no-untyped-def]
    """Attach placeholder files to `submission` until no attachment kind lacks any (each required
    kind gets its min_count, at least one). Rows are made directly, in private storage, without
    the upload checks (the attachment tests exercise those). Returns the rows made."""
    import hashlib

    from django.core.files.base import ContentFile

    from applications.models import Attachment
    from applications.selectors import submission_status

    made = []
    with scopes_disabled():
        for status in submission_status(submission, today=today, with_evidence=False).attachments:
            if not status.required:
                continue
            wanted = max(status.kind.min_count, 1) - status.count
            kind_type = next((t for t in status.kind.types if t in _PLACEHOLDERS), None)
            if wanted > 0 and kind_type is None:
                raise AssertionError(f"no placeholder for attachment kind {status.kind.key} "
                                     f"({status.kind.types})")
            for index in range(max(wanted, 0)):
                content_type, suffix, build = _PLACEHOLDERS[kind_type]  # type: ignore[index]
                content = build()
                attachment = Attachment(
                    submission=submission, kind=status.kind.key,
                    original_name=f"{status.kind.key}-{index + 1}.{suffix}", content_type=content_type,
                    size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                    uploaded_by=submission.created_by)
                attachment.file.save(attachment.original_name, ContentFile(content), save=False)
                attachment.save()
                made.append(attachment)
    return made


def submission_filed(enterprise, program, data, user, *, variant="", track="", title="",  # type: ignore[no-untyped-def]
                     today=None, attach=True):
    """A submission of `enterprise` to `program`, filled with `data` and filed through the real
    services, exactly as an applicant files it: `submission_start` → `submission_save(data)` →
    `submission_submit`. So it has its SubmissionFiling, its frozen Evidence (measured from the
    enterprise's meter data at filing time) and its audit row; state "submitted".

    - `data`: the form values as typed (text as a browser sends it, tables as lists of row dicts,
      `{"commitment": "yes"}` for a declaration); fields the definition prefills from the
      enterprise (name, credit code, …) are filled by submission_start.
    - `variant` / `track`: as submission_start takes them (a contest: the track).
    - `attach`: placeholder files for each required attachment kind (placeholder_attachments).
    - `today`: the day the program's dates and the evidence periods are judged by (default: today).
    Raises AssertionError naming every blocker when it cannot be filed (a missing field, a failed
    eligibility rule), so a test's setup says what it lacks.
    """
    from applications.services import SubmissionRefused, submission_save, submission_start, submission_submit

    with scopes_disabled():  # test setup
        submission = submission_start(program=program, enterprise=enterprise, user=user, variant=variant,
                                      track=track, today=today)
        submission_save(submission=submission, user=user, changes=data, title=title or None)
        if attach:
            placeholder_attachments(submission, today=today)
        try:
            return submission_submit(submission=submission, user=user, today=today)
        except SubmissionRefused as refused:
            raise AssertionError(f"cannot file {program.code} for {enterprise.name}: "
                                 f"{'; '.join(refused.messages)}") from refused


def small_definition(code: str, region_code: str = "310000", **overrides):  # type: ignore[no-untyped-def]
    """A tiny program definition: one section (a required project name and an energy figure tied to
    the year's measured tce), no attachments, a region rule. For tests that need a program of
    another province (the walk's outsider files one of Shanghai's, 310000) without the real ones."""
    return {
        "code": code, "name": f"测试小项目{code}", "name_en": f"Small test program {code}",
        "region": region_code,
        "document": "测试〔2026〕9号", "version": 1, "description": "测试用的小项目。",
        "evidence": [{"key": "annual_tce", "label": {"zh": "上年综合能耗", "en": "Last year's energy"},
                      "indicator": "total_tce", "period": "last_full_year"}],
        "eligibility": [{"key": "in_region", "label": {"zh": "在本地注册", "en": "Registered here"},
                         "check": "region", "region": region_code}],
        "sections": [{"key": "project", "title": {"zh": "项目情况", "en": "Project"}, "items": [
            {"key": "project_name", "type": "text", "required": True, "max_length": 100,
             "label": {"zh": "项目名称", "en": "Project name"}},
            {"key": "energy_tce", "type": "decimal", "unit": "tce", "evidence": "annual_tce",
             "label": {"zh": "上年综合能耗", "en": "Last year's energy"}},
        ]}],
        **overrides,
    }


def program_loaded(definition):  # type: ignore[no-untyped-def]
    """The Program of `definition`, loaded through the real loader (idempotent: same code, same row)."""
    from applications.services import program_load

    with scopes_disabled():
        program, _outcome = program_load(definition=definition)
    return program
