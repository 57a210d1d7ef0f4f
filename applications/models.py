"""Programs (申报项目) as data; forms, drafts and submissions build on them."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty
from django.utils.translation import gettext_lazy as _

from portal.scoping import TenantScopedManager


# Attachments never get a public URL: STORAGES["private"] has none, and
# applications.attachment_views serves a file only after the access check.
class _PrivateStorage(LazyObject):
    """settings.STORAGES["private"], looked up when first used: a FileField calls its storage
    callable once, at import, and would otherwise keep the storage of the settings of that moment
    (tests point it at a folder of their own)."""

    def _setup(self) -> None:
        self._wrapped = storages["private"]


_private_storage = _PrivateStorage()


def private_storage() -> Storage:
    return _private_storage  # type: ignore[return-value]


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        _private_storage._wrapped = empty  # type: ignore[assignment]  # LazyObject's "not set up" marker


class Program(models.Model):
    """A government program enterprises apply to, loaded from its YAML definition."""

    code = models.SlugField(_("项目代码"), max_length=64, unique=True)
    name = models.CharField(_("项目名称"), max_length=200)
    name_en = models.CharField(_("英文名称"), max_length=200, blank=True)
    region = models.ForeignKey(
        "portal.Region", verbose_name=_("所属省市"), on_delete=models.PROTECT, related_name="programs"
    )
    document = models.CharField(_("依据文件"), max_length=100, blank=True)
    version = models.PositiveIntegerField(_("定义版本"), default=1)
    definition = models.JSONField(_("定义"), default=dict, blank=True)
    is_active = models.BooleanField(_("开放申报"), default=True)

    class Meta:
        verbose_name = _("申报项目")
        verbose_name_plural = _("申报项目")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ProgramVersion(models.Model):
    """One loaded version of a program's definition, kept for as long as anything was filed
    under it: a submission points at the version it was filed with, never at the live program."""

    program = models.ForeignKey(Program, verbose_name=_("申报项目"), on_delete=models.PROTECT,
                                related_name="versions")
    version = models.PositiveIntegerField(_("定义版本"))
    definition = models.JSONField(_("定义"))
    loaded_at = models.DateTimeField(_("载入时间"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("申报项目定义版本")
        verbose_name_plural = _("申报项目定义版本")
        ordering = ["program", "-version"]
        constraints = [models.UniqueConstraint(fields=["program", "version"], name="program_version_unique")]

    def __str__(self) -> str:
        return f"{self.program.code} v{self.version}"


class SubmissionState(models.TextChoices):
    """States a submission passes through. The applications part moves drafts to 'submitted';
    the reviews workflow (each program's definition) takes it from there."""

    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已提交")
    RETURNED = "returned", _("退回补正")
    FIRST_REVIEW_PASSED = "first_review_passed", _("初审通过")
    FIRST_REVIEW_REJECTED = "first_review_rejected", _("初审未通过")
    ACCEPTED = "accepted", _("已受理")
    UNDER_EXPERT_REVIEW = "under_expert_review", _("专家评审中")
    PASSED = "passed", _("通过")
    NOT_PASSED = "not_passed", _("不通过")
    AWARDED = "awarded", _("获奖")
    PUBLISHED = "published", _("已公示")
    WITHDRAWN = "withdrawn", _("已撤回")


EDITABLE_STATES = frozenset({SubmissionState.DRAFT, SubmissionState.RETURNED})


class Submission(models.Model):
    """An enterprise's application to a program: a draft until filed, then the filed record.

    `data` holds what was typed, exactly as typed (invalid values too, so nothing is lost on a
    validation error); `applications.values.form_check` derives the cleaned values and what is
    missing. Filing copies the cleaned values into a `SubmissionFiling` and freezes the evidence."""

    program = models.ForeignKey(Program, verbose_name=_("申报项目"), on_delete=models.PROTECT,
                                related_name="submissions")
    program_version = models.ForeignKey(ProgramVersion, verbose_name=_("定义版本"), on_delete=models.PROTECT,
                                        related_name="submissions")
    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("申报单位"), on_delete=models.PROTECT,
                                   related_name="submissions")
    variant = models.CharField(_("申报类型"), max_length=64, blank=True)
    track = models.CharField(_("赛道"), max_length=64, blank=True)
    title = models.CharField(_("申报名称"), max_length=200, blank=True)
    state = models.CharField(_("状态"), max_length=32, choices=SubmissionState.choices,
                             default=SubmissionState.DRAFT, db_index=True)
    data = models.JSONField(_("填报内容"), default=dict, blank=True)
    created_by = models.ForeignKey("portal.User", verbose_name=_("创建人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, editable=False)
    updated_by = models.ForeignKey("portal.User", verbose_name=_("最后保存人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("最后保存时间"), default=timezone.now)
    submitted_by = models.ForeignKey("portal.User", verbose_name=_("提交人"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    # Set by a return for additions (reviews.services.transition_perform), cleared on resubmission.
    additions_due = models.DateField(_("补正期限"), null=True, blank=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("申报")
        verbose_name_plural = _("申报")
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["program", "state"], name="submission_program_state_idx"),
                   # The lists' order (API, pages, admin): a page of the newest walks this index
                   # and stops, instead of sorting every submission in reach (bench/review_bench.py).
                   models.Index(fields=["-updated_at", "-id"], name="submission_updated_idx")]

    def __str__(self) -> str:
        return self.title or f"{self.program.name} · {self.enterprise.name}"

    @property
    def definition_version(self) -> int:
        return self.program_version.version

    @property
    def is_editable(self) -> bool:
        return self.state in EDITABLE_STATES


class SubmissionFiling(models.Model):
    """What was filed, each time the applicant files (first submission and every resubmission):
    the typed data, the cleaned values and the attachment list, never changed afterwards. The
    reviews part diffs two filings to show what changed since a return."""

    submission = models.ForeignKey(Submission, verbose_name=_("申报"), on_delete=models.CASCADE,
                                   related_name="filings")
    number = models.PositiveIntegerField(_("第几次提交"))
    data = models.JSONField(_("填报内容"))
    values = models.JSONField(_("校验后的内容"))
    attachments = models.JSONField(_("附件清单"), default=list)
    filed_by = models.ForeignKey("portal.User", verbose_name=_("提交人"), null=True,
                                 on_delete=models.SET_NULL, related_name="+")
    filed_at = models.DateTimeField(_("提交时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("提交记录")
        verbose_name_plural = _("提交记录")
        ordering = ["submission", "number"]
        constraints = [models.UniqueConstraint(fields=["submission", "number"], name="filing_number_unique")]

    def __str__(self) -> str:
        return f"{self.submission} #{self.number}"


def _attachment_path(instance: Attachment, filename: str) -> str:
    # The stored name is a random one: the original name is kept in a field and never reaches a
    # path, so an uploaded name cannot steer where a file lands.
    return f"attachments/{instance.submission.enterprise_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A file attached to a submission, of one of the definition's attachment kinds. Stored in
    private storage (no public URL) and served only after the access check."""

    submission = models.ForeignKey(Submission, verbose_name=_("申报"), on_delete=models.CASCADE,
                                   related_name="attachment_files")
    kind = models.CharField(_("附件类型"), max_length=64)
    file = models.FileField(_("文件"), storage=private_storage, upload_to=_attachment_path, max_length=255)
    thumbnail = models.FileField(_("缩略图"), storage=private_storage, upload_to=_attachment_path,
                                 max_length=255, blank=True)
    original_name = models.CharField(_("原文件名"), max_length=255)
    content_type = models.CharField(_("文件类型"), max_length=100)
    size = models.PositiveBigIntegerField(_("大小（字节）"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey("portal.User", verbose_name=_("上传人"), null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    uploaded_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")
        ordering = ["submission", "kind", "uploaded_at", "id"]
        indexes = [models.Index(fields=["submission", "kind"], name="attachment_submission_kind_idx")]

    def __str__(self) -> str:
        return self.original_name


class Evidence(models.Model):
    """A figure measured from the enterprise's live data, frozen when the submission is filed:
    later data never rewrites it. `typed_value` is what the applicant entered in the matching
    field, kept as typed; `flagged` says it disagrees with the measurement beyond tolerance."""

    submission = models.ForeignKey(Submission, verbose_name=_("申报"), on_delete=models.CASCADE,
                                   related_name="evidence")
    filing = models.ForeignKey(SubmissionFiling, verbose_name=_("提交记录"), null=True, blank=True,
                               on_delete=models.CASCADE, related_name="evidence")
    key = models.CharField(_("指标"), max_length=64)
    label = models.CharField(_("名称"), max_length=200)
    indicator = models.CharField(_("监测指标"), max_length=64)
    value = models.DecimalField(_("测得值"), max_digits=24, decimal_places=6, null=True, blank=True)
    unit = models.CharField(_("单位"), max_length=32, blank=True)
    period_start = models.DateField(_("统计期起"))
    period_end = models.DateField(_("统计期止"))  # inclusive, as people read a period
    factor_sets = models.JSONField(_("折标/排放因子集"), default=list, blank=True)
    trace = models.JSONField(_("计算依据"), default=dict, blank=True)
    field = models.CharField(_("对应填报项"), max_length=64, blank=True)
    typed_value = models.CharField(_("填报值"), max_length=64, blank=True)
    flagged = models.BooleanField(_("与测得值不符"), default=False)
    computed_at = models.DateTimeField(_("计算时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("监测佐证")
        verbose_name_plural = _("监测佐证")
        ordering = ["submission", "filing", "id"]

    def __str__(self) -> str:
        return f"{self.label}: {self.value} {self.unit}"
