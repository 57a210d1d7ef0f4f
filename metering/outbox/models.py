"""The outbox: where each enterprise's figures go (platform endpoints) and what is on its way.

- `PlatformEndpoint` is platform-level configuration (set by platform admins): a provincial or
  national monitoring platform's URL, the adapter that speaks its dialect, which enterprises it
  serves and which intervals it takes. Its credential is named, never stored: the row holds the
  NAME of an environment variable, and the secret is read from the environment at send time.
- `OutboxMessage` is one enterprise's figures for one bucket, for one endpoint: each endpoint gets
  its own copy, delivered and acknowledged on its own. A recomputed bucket (late data) replaces
  the payload of the same row and raises its `revision`, so the platform sees a correction.
- `OutboxCursor` remembers, per endpoint, enterprise and interval, the last bucket enqueued and
  how far the rollups have been looked at for corrections.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Enterprise
from portal.scoping import TenantScopedManager


class OutboxInterval(models.TextChoices):
    """The statistics types of the national monitoring convention: real-time (every 15 minutes),
    daily (stamped 00:00) and monthly (stamped the 1st 00:00). Values match the rollup intervals."""

    QUARTER = "15min", _("15 分钟（实时）")
    DAY = "day", _("日")
    MONTH = "month", _("月")


ALL_INTERVALS = [choice.value for choice in OutboxInterval]
ENV_VAR_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
LOOPBACK_HOSTS = frozenset({"localhost"})


def _default_intervals() -> list[str]:
    return list(ALL_INTERVALS)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_url_problem(url: str) -> str | None:
    """Why `url` may not receive enterprises' figures, or None when it may.

    HTTPS always; plain HTTP only to a loopback address and only with OUTBOX_ALLOW_LOOPBACK_HTTP
    on, a setting no environment variable reaches: only the tests' local receiver turns it on.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return str(_("地址缺少主机名。"))
    if parts.scheme == "https":
        return None
    allow_http = getattr(settings, "OUTBOX_ALLOW_LOOPBACK_HTTP", False)
    if parts.scheme == "http" and _is_loopback(host) and allow_http:
        return None
    return str(_("上传地址必须使用 HTTPS。"))


class PlatformEndpoint(models.Model):
    """A platform that receives enterprises' figures (省级/国家平台接收地址).

    Which enterprises it serves: approved enterprises whose region lies in `region`'s subtree
    (empty: every region) and whose kind is one of `enterprise_kinds` (empty: every kind). Both
    conditions hold together.
    """

    name = models.CharField(_("平台名称"), max_length=200, unique=True)
    url = models.URLField(_("上传地址"), max_length=500, help_text=_("必须使用 HTTPS。"))
    adapter = models.CharField(
        _("接口适配器"), max_length=32, default="generic_json",
        help_text=_("平台的报文格式与确认规则；generic_json 为通用 JSON（见 docs/outbox.md）。"),
    )
    region = models.ForeignKey(
        "portal.Region", verbose_name=_("服务地区"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text=_("含下级地区；留空表示全部地区。"),
    )
    enterprise_kinds = models.JSONField(
        _("服务的单位类型"), default=list, blank=True, help_text=_("留空表示全部类型。")
    )
    intervals = models.JSONField(_("上传周期"), default=_default_intervals)
    enabled = models.BooleanField(_("启用"), default=True)
    auth_env_var = models.CharField(
        _("凭据环境变量名"), max_length=100, blank=True,
        validators=[RegexValidator(ENV_VAR_NAME,
                                   _("环境变量名只能包含大写字母、数字和下划线，且不能以数字开头。"))],
        help_text=_("只填环境变量的名称（如 HENAN_PLATFORM_TOKEN），不要填写密钥本身；"
                    "密钥从服务器环境读取，不进入数据库、日志或操作记录。留空表示不发送凭据。"),
    )
    auth_header = models.CharField(
        _("凭据请求头"), max_length=64, default="Authorization",
        help_text=_("Authorization 时发送“Bearer <密钥>”，其他请求头（如 X-Api-Key）直接发送密钥。"),
    )
    require_ack_body = models.BooleanField(
        _("要求应答确认"), default=False,
        help_text=_("勾选后，只有 2xx 且应答 JSON 含 {\"ack\": true} 或 {\"code\": 0} 才算已确认。"),
    )
    timeout_s = models.PositiveSmallIntegerField(
        _("超时（秒）"), default=10, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    send_from = models.DateTimeField(
        _("上传起始时间"), default=timezone.now,
        help_text=_("早于此时间开始的时段不上传（新接入的平台不补传多年历史）。"),
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("上传平台")
        verbose_name_plural = _("上传平台")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from metering.outbox.adapters import ADAPTERS

        errors: dict[str, Any] = {}
        problem = endpoint_url_problem(self.url or "")
        if problem:
            errors["url"] = problem
        if self.adapter not in ADAPTERS:
            errors["adapter"] = _("未知的接口适配器“%(name)s”。") % {"name": self.adapter}
        kinds = {choice.value for choice in Enterprise.Kind}
        if not isinstance(self.enterprise_kinds, list) or not set(self.enterprise_kinds) <= kinds:
            errors["enterprise_kinds"] = _("单位类型只能是：%(kinds)s。") % {
                "kinds": "、".join(sorted(kinds))}
        if (not isinstance(self.intervals, list) or not self.intervals
                or not set(self.intervals) <= set(ALL_INTERVALS)):
            errors["intervals"] = _("请至少选择一个上传周期（15min、day、month）。")
        if errors:
            raise ValidationError(errors)

    def serves_kind(self, kind: str) -> bool:
        return not self.enterprise_kinds or kind in self.enterprise_kinds


class OutboxMessage(models.Model):
    """One enterprise's figures for one bucket, on its way to one endpoint (上传报文)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENT = "sent", _("发送中")
        RETRYING = "retrying", _("失败待重发")
        FAILED = "failed", _("已拒收")
        ACKNOWLEDGED = "acknowledged", _("已确认")

    endpoint = models.ForeignKey(PlatformEndpoint, verbose_name=_("上传平台"), on_delete=models.PROTECT,
                                 related_name="messages")
    # PROTECT: a message is never dropped with its enterprise; the platform may still need it.
    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.PROTECT,
                                   related_name="+")
    interval = models.CharField(_("周期"), max_length=8, choices=OutboxInterval.choices)
    bucket_start = models.DateTimeField(_("时段起始"))
    # The message's own id on the wire, stable across revisions: a platform keys its copy on it.
    message_id = models.UUIDField(_("报文标识"), default=uuid.uuid4, unique=True, editable=False)
    revision = models.PositiveIntegerField(_("修订号"), default=1)
    payload = models.JSONField(_("报文内容"))
    payload_hash = models.CharField(_("报文摘要"), max_length=64)
    # What the payload was computed from (the bucket's rollup totals): a recompute of the rollups
    # that changes them rebuilds the payload, one that does not changes nothing.
    source_fingerprint = models.CharField(_("数据指纹"), max_length=64)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("发送次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次发送时间"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("最近发送时间"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("最近响应码"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    acknowledged_revision = models.PositiveIntegerField(_("已确认修订号"), null=True, blank=True)
    claim_token = models.UUIDField(_("领取标记"), null=True, blank=True)
    claimed_until = models.DateTimeField(_("领取至"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("上传报文")
        verbose_name_plural = _("上传报文")
        ordering = ["-bucket_start", "endpoint_id", "interval"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "enterprise", "interval", "bucket_start"],
                                    name="outbox_message_unique_bucket"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_message_due"),
            models.Index(fields=["enterprise", "status"], name="outbox_message_ent_status"),
        ]

    def __str__(self) -> str:
        return f"{self.interval} {self.bucket_start:%Y-%m-%d %H:%M} #{self.message_id}"


class OutboxCursor(models.Model):
    """How far the outbox has enqueued one enterprise's buckets of one interval for one endpoint.
    Bookkeeping of derived data: not audited."""

    endpoint = models.ForeignKey(PlatformEndpoint, verbose_name=_("上传平台"), on_delete=models.CASCADE,
                                 related_name="+")
    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                   related_name="+")
    interval = models.CharField(_("周期"), max_length=8, choices=OutboxInterval.choices)
    last_bucket_start = models.DateTimeField(_("最近入队时段"), null=True, blank=True)
    # Rollups recomputed after this instant have not been looked at for corrections yet.
    rollups_seen_until = models.DateTimeField(_("已检查重算至"), null=True, blank=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("上传进度")
        verbose_name_plural = _("上传进度")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "enterprise", "interval"],
                                    name="outbox_cursor_unique"),
        ]

    def __str__(self) -> str:
        return f"上传进度 {self.endpoint_id}/{self.enterprise_id}/{self.interval}"
