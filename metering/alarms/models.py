"""Alarm rules per meter and the alarms raised from them.

Both are tenant-owned through their meter (`meter__enterprise`). A meter without a rule is
watched with the platform defaults (`metering.alarms.rules.PLATFORM_DEFAULTS`): offline after
60 minutes, a jump at 5 × the median of its last day's quarter-hours, register resets; no
thresholds (those only the enterprise knows).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from metering.models import Meter
from portal.scoping import TenantScopedManager

# What a rule's fields start at when it is created, and what a meter with no rule is watched with.
DEFAULT_OFFLINE_AFTER_MIN = 60
DEFAULT_JUMP_FACTOR = 5.0


class AlarmRule(models.Model):
    """What counts as abnormal for one meter (告警规则). A blank threshold is not checked."""

    meter = models.OneToOneField(Meter, verbose_name=_("表计"), on_delete=models.CASCADE,
                                 related_name="alarm_rule")
    enabled = models.BooleanField(_("启用告警"), default=True,
                                  help_text=_("不勾选则此表计不产生任何告警。"))
    max_quarter_consumption = models.FloatField(
        _("15 分钟用量上限"), null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("一个 15 分钟时段的用量超过此值即告警（表计单位）；留空不检查。"),
    )
    min_quarter_consumption = models.FloatField(
        _("15 分钟用量下限"), null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("一个完整 15 分钟时段的用量低于此值即告警；留空不检查。"),
    )
    max_value = models.FloatField(_("读数上限"), null=True, blank=True,
                                  help_text=_("单个读数（瞬时值）超过此值即告警；留空不检查。"))
    min_value = models.FloatField(_("读数下限"), null=True, blank=True,
                                  help_text=_("单个读数（瞬时值）低于此值即告警；留空不检查。"))
    offline_after_minutes = models.PositiveIntegerField(
        _("离线判定（分钟）"), null=True, blank=True, default=DEFAULT_OFFLINE_AFTER_MIN,
        # 5 minutes: evaluation.OFFLINE_AFTER_MIN_MINUTES, the sweep's shortest look-back.
        validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)],
        help_text=_("超过此时长没有新读数即告警离线；留空不检查。"),
    )
    jump_factor = models.FloatField(
        _("突变倍数"), null=True, blank=True, default=DEFAULT_JUMP_FACTOR,
        validators=[MinValueValidator(1.5), MaxValueValidator(1000)],
        help_text=_("15 分钟用量超过近 24 小时中位数的此倍数即告警突变；留空不检查。"),
    )
    detect_resets = models.BooleanField(_("表底清零告警"), default=True,
                                        help_text=_("累计表底回落（换表或清零）时告警。"))
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    objects = TenantScopedManager(enterprise="meter__enterprise")

    class Meta:
        verbose_name = _("告警规则")
        verbose_name_plural = _("告警规则")
        ordering = ["meter_id"]

    def __str__(self) -> str:
        return f"{self.meter_id} {self._meta.verbose_name}"

    def clean(self) -> None:
        errors = {}
        if (self.max_quarter_consumption is not None and self.min_quarter_consumption is not None
                and self.min_quarter_consumption >= self.max_quarter_consumption):
            errors["min_quarter_consumption"] = _("下限必须小于上限。")
        if self.max_value is not None and self.min_value is not None and self.min_value >= self.max_value:
            errors["min_value"] = _("下限必须小于上限。")
        if errors:
            raise ValidationError(errors)


class AlarmKind(models.TextChoices):
    THRESHOLD_HIGH = "threshold_high", _("超上限")
    THRESHOLD_LOW = "threshold_low", _("低于下限")
    OFFLINE = "offline", _("离线")
    JUMP = "jump", _("用量突变")
    RESET = "reset", _("表底清零")


class AlarmStatus(models.TextChoices):
    OPEN = "open", _("未处理")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    CLOSED = "closed", _("已恢复")


# Kinds whose alarm closes when the condition clears in the data (a quarter back within bounds,
# the meter reporting again); the others are events, closed after a quiet spell with no repeat.
CONDITION_KINDS = frozenset({AlarmKind.THRESHOLD_HIGH, AlarmKind.THRESHOLD_LOW, AlarmKind.OFFLINE})
EVENT_KINDS = frozenset({AlarmKind.JUMP, AlarmKind.RESET})
NOT_CLOSED = (AlarmStatus.OPEN, AlarmStatus.ACKNOWLEDGED)


class Alarm(models.Model):
    """One abnormal condition of one meter (告警), from its first occurrence until it clears.

    Repeats while it is not closed add to `occurrences` and move `last_seen_at`; they send no
    mail. At most one alarm per (meter, kind) is not closed (constraint).
    """

    meter = models.ForeignKey(Meter, verbose_name=_("表计"), on_delete=models.CASCADE, related_name="alarms")
    kind = models.CharField(_("类型"), max_length=16, choices=AlarmKind.choices)
    status = models.CharField(_("状态"), max_length=16, choices=AlarmStatus.choices, default=AlarmStatus.OPEN)
    opened_at = models.DateTimeField(_("告警时间"), default=timezone.now)
    first_seen_at = models.DateTimeField(_("首次发生"), help_text=_("数据时间（离线为判定时间）。"))
    last_seen_at = models.DateTimeField(_("最近发生"))
    occurrences = models.PositiveIntegerField(_("发生次数"), default=1)
    detail = models.CharField(_("详情"), max_length=500)
    acknowledged_by = models.ForeignKey(
        "portal.User", verbose_name=_("确认人"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="acknowledged_alarms",
    )
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    acknowledgement_note = models.TextField(_("处理说明"), blank=True)
    closed_at = models.DateTimeField(_("恢复时间"), null=True, blank=True)
    close_reason = models.CharField(_("恢复说明"), max_length=200, blank=True)
    emailed_at = models.DateTimeField(_("邮件发送时间"), null=True, blank=True)
    mail_attempts = models.PositiveIntegerField(_("邮件尝试次数"), default=0)
    mail_error = models.CharField(_("邮件错误"), max_length=300, blank=True)
    next_mail_at = models.DateTimeField(_("下次发送"), default=timezone.now)

    objects = TenantScopedManager(enterprise="meter__enterprise")

    class Meta:
        verbose_name = _("告警")
        verbose_name_plural = _("告警")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "kind"], condition=~Q(status="closed"), name="alarm_one_open_per_meter_kind"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "kind"], name="alarm_status_kind"),
            models.Index(fields=["next_mail_at"], condition=Q(emailed_at__isnull=True),
                         name="alarm_mail_due"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.get_kind_display()} {self.get_status_display()}"

    @property
    def is_closed(self) -> bool:
        return self.status == AlarmStatus.CLOSED


Alarm.audit_enterprise_path = "meter.enterprise_id"  # type: ignore[attr-defined]
AlarmRule.audit_enterprise_path = "meter.enterprise_id"  # type: ignore[attr-defined]
