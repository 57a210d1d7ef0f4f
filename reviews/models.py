"""Reviews: the activity of each submission (every transition), expert assignments, conflict of
interest declarations, and the experts' score sheets."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from applications.models import private_storage
from portal.scoping import TenantScopedManager


class Activity(models.Model):
    """One transition of a submission: who took which action, from which state to which, and why.
    Written only by reviews.services.transition_perform, never changed."""

    submission = models.ForeignKey("applications.Submission", verbose_name=_("申报"),
                                   on_delete=models.CASCADE, related_name="activity")
    action = models.CharField(_("操作"), max_length=64)
    from_state = models.CharField(_("原状态"), max_length=32)
    to_state = models.CharField(_("新状态"), max_length=32)
    actor = models.ForeignKey("portal.User", verbose_name=_("操作人"), null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    # Kept as written: the account may be renamed or removed later, the record may not change.
    actor_name = models.CharField(_("操作人姓名"), max_length=150, blank=True)
    actor_kind = models.CharField(_("身份"), max_length=32, blank=True)
    reason = models.TextField(_("理由"), blank=True)
    deadline = models.DateField(_("补正期限"), null=True, blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("流转记录")
        verbose_name_plural = _("流转记录")
        ordering = ["submission", "created_at", "id"]
        indexes = [models.Index(fields=["submission", "created_at"], name="activity_submission_time_idx")]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_state} → {self.to_state}"


class Assignment(models.Model):
    """An expert assigned to review a submission; one of a submission's experts leads."""

    submission = models.ForeignKey("applications.Submission", verbose_name=_("申报"),
                                   on_delete=models.CASCADE, related_name="assignments")
    expert = models.ForeignKey("portal.User", verbose_name=_("专家"), on_delete=models.PROTECT,
                               related_name="assignments", limit_choices_to={"role": "expert"})
    is_lead = models.BooleanField(_("组长"), default=False)
    assigned_by = models.ForeignKey("portal.User", verbose_name=_("分配人"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    assigned_at = models.DateTimeField(_("分配时间"), default=timezone.now)
    # Set when an officer assigns despite a declared conflict: the reason is required and audited.
    conflict_override_reason = models.TextField(_("回避例外理由"), blank=True)
    withdrawn_at = models.DateTimeField(_("撤回时间"), null=True, blank=True)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("专家分配")
        verbose_name_plural = _("专家分配")
        ordering = ["submission", "-is_lead", "assigned_at"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "expert"],
                                    condition=models.Q(withdrawn_at__isnull=True),
                                    name="assignment_one_active_per_expert"),
            models.UniqueConstraint(fields=["submission"],
                                    condition=models.Q(withdrawn_at__isnull=True, is_lead=True),
                                    name="assignment_one_active_lead"),
        ]

    def __str__(self) -> str:
        return f"{self.expert} → {self.submission_id}"


class ConflictDeclaration(models.Model):
    """What an expert declares: an employer, a relation, or an enterprise served in the last three
    years (consulting, or building its energy management center). Either an enterprise of the
    portal or a group (集团) by name; the expert's own employer's group counts too."""

    class Kind(models.TextChoices):
        EMPLOYER = "employer", _("任职单位")
        RELATION = "relation", _("亲属或利害关系")
        CONSULTING = "consulting", _("近三年提供咨询服务")
        BUILT_CENTER = "built_center", _("近三年承建能源管理中心")

    expert = models.ForeignKey("portal.User", verbose_name=_("专家"), on_delete=models.CASCADE,
                               related_name="conflict_declarations")
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="+")
    group_name = models.CharField(_("所属集团"), max_length=200, blank=True)
    description = models.CharField(_("说明"), max_length=500, blank=True)
    since = models.DateField(_("起始日期"), null=True, blank=True)
    until = models.DateField(_("截止日期"), null=True, blank=True)
    declared_at = models.DateTimeField(_("声明时间"), default=timezone.now)

    class Meta:
        verbose_name = _("利益冲突声明")
        verbose_name_plural = _("利益冲突声明")
        ordering = ["expert", "kind", "id"]
        constraints = [models.CheckConstraint(
            condition=models.Q(enterprise__isnull=False) | ~models.Q(group_name=""),
            name="conflict_names_an_enterprise_or_group")]

    def __str__(self) -> str:
        return f"{self.expert}: {self.get_kind_display()} {self.enterprise or self.group_name}"


class ScoreSheet(models.Model):
    """One expert's sheet for one checklist of one submission; kept as the expert filled it."""

    submission = models.ForeignKey("applications.Submission", verbose_name=_("申报"),
                                   on_delete=models.CASCADE, related_name="score_sheets")
    assignment = models.ForeignKey(Assignment, verbose_name=_("专家分配"), on_delete=models.PROTECT,
                                   related_name="sheets")
    checklist = models.CharField(_("核查表"), max_length=64)
    conclusion_note = models.TextField(_("核查意见"), blank=True)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    updated_at = models.DateTimeField(_("最后保存时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("评审表")
        verbose_name_plural = _("评审表")
        ordering = ["submission", "checklist", "assignment"]
        constraints = [models.UniqueConstraint(fields=["assignment", "checklist"],
                                               name="sheet_per_checklist")]

    def __str__(self) -> str:
        return f"{self.checklist} · {self.assignment}"


class ScoreItem(models.Model):
    class Verdict(models.TextChoices):
        MEETS = "meets", _("符合")
        FAILS = "fails", _("不符合")
        NOT_APPLICABLE = "na", _("不适用")

    sheet = models.ForeignKey(ScoreSheet, verbose_name=_("评审表"), on_delete=models.CASCADE,
                              related_name="items")
    item = models.CharField(_("核查项"), max_length=64)
    verdict = models.CharField(_("结论"), max_length=8, choices=Verdict.choices, blank=True)
    points = models.DecimalField(_("得分"), max_digits=8, decimal_places=2, null=True, blank=True)
    note = models.TextField(_("说明"), blank=True)

    objects = TenantScopedManager(enterprise="sheet__submission__enterprise")
    audit_enterprise_path = "sheet.submission.enterprise_id"

    class Meta:
        verbose_name = _("核查项结果")
        verbose_name_plural = _("核查项结果")
        ordering = ["sheet", "id"]
        constraints = [models.UniqueConstraint(fields=["sheet", "item"], name="score_item_once_per_sheet")]

    def __str__(self) -> str:
        return f"{self.item}: {self.verdict or self.points}"


class NotificationPreference(models.Model):
    """A user's choice about the review mails that only inform them. Essential mails (what changes
    what an applicant must do, an expert's assignment) are sent whatever it says
    (reviews/notifications.py decides which mail is which)."""

    user = models.OneToOneField("portal.User", verbose_name=_("用户"), on_delete=models.CASCADE,
                                related_name="notification_preference")
    non_essential = models.BooleanField(
        _("接收知悉类邮件"), default=True,
        help_text=_("如已提交、初审通过等仅供知悉的评审通知。退回补正、评审结论和专家分配等必要通知始终发送。"))
    updated_at = models.DateTimeField(_("最后修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("通知偏好")
        verbose_name_plural = _("通知偏好")

    def __str__(self) -> str:
        return f"{self.user}: {self.non_essential}"


class NotificationMail(models.Model):
    """One review mail to one person, kept until the SMTP server accepted it: a mail server outage
    leaves the row unsent and it is offered again (the task's retries, then the sweep), so none is
    lost. Composed when queued (the transition's facts as they were), sent as composed."""

    submission = models.ForeignKey("applications.Submission", verbose_name=_("申报"),
                                   on_delete=models.CASCADE, related_name="notification_mails")
    activity = models.ForeignKey(Activity, verbose_name=_("流转记录"), null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="mails")
    recipient = models.ForeignKey("portal.User", verbose_name=_("收件人"), on_delete=models.CASCADE,
                                  related_name="+")
    address = models.EmailField(_("邮箱"))
    audience = models.CharField(_("收件身份"), max_length=32)
    essential = models.BooleanField(_("必要通知"), default=False)
    subject = models.CharField(_("主题"), max_length=300)
    body = models.TextField(_("正文"))
    created_at = models.DateTimeField(_("生成时间"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("发送次数"), default=0)
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(_("下次发送时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="submission__enterprise")
    audit_enterprise_path = "submission.enterprise_id"

    class Meta:
        verbose_name = _("评审通知邮件")
        verbose_name_plural = _("评审通知邮件")
        ordering = ["id"]
        indexes = [models.Index(fields=["next_attempt_at"], condition=models.Q(sent_at__isnull=True),
                                name="notification_mail_due_idx")]

    def __str__(self) -> str:
        return f"{self.address}: {self.subject}"


def _photo_path(instance: ScoreItemPhoto, filename: str) -> str:
    # A random stored name, as for attachments: the uploaded name is kept in a field only.
    return f"review_photos/{instance.item.sheet.submission.enterprise_id}/{uuid.uuid4().hex}"


class ScoreItemPhoto(models.Model):
    """A photo an expert took as evidence for one item of their sheet (a meter, a screen of the
    energy management center). Stored privately, served only after the access check."""

    item = models.ForeignKey(ScoreItem, verbose_name=_("核查项结果"), on_delete=models.CASCADE,
                             related_name="photos")
    file = models.FileField(_("文件"), storage=private_storage, upload_to=_photo_path, max_length=255)
    original_name = models.CharField(_("原文件名"), max_length=255)
    content_type = models.CharField(_("文件类型"), max_length=100)
    uploaded_at = models.DateTimeField(_("上传时间"), default=timezone.now)

    objects = TenantScopedManager(enterprise="item__sheet__submission__enterprise")
    audit_enterprise_path = "item.sheet.submission.enterprise_id"

    class Meta:
        verbose_name = _("核查照片")
        verbose_name_plural = _("核查照片")
        ordering = ["item", "uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name
