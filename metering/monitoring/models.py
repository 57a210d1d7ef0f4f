"""Monitoring's stored figures (rollups, factor sets, ...). Tenant-owned rows reach their
enterprise through a declared path and use `portal.scoping.TenantScopedManager`."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.scoping import TenantScopedManager


class RollupInterval(models.TextChoices):
    """Bucket widths, calendar-aligned in Asia/Shanghai (see metering/monitoring/rollups.py)."""

    QUARTER = "15min", _("15 分钟")
    HOUR = "hour", _("小时")
    DAY = "day", _("日")
    MONTH = "month", _("月")


class Rollup(models.Model):
    """The consumption of one meter in one calendar bucket, with its 15-minute slot counts.

    Derived data, recomputed from the raw readings whenever they change (metering/monitoring/
    rollups.py): not audited, since the readings it is computed from are the record and a
    recompute reproduces every row.
    """

    meter = models.ForeignKey(
        "metering.Meter", verbose_name=_("表计"), on_delete=models.CASCADE, related_name="+"
    )
    interval = models.CharField(_("周期"), max_length=8, choices=RollupInterval.choices)
    ts = models.DateTimeField(_("起始时间"))
    value = models.FloatField(_("用量"))
    expected = models.PositiveIntegerField(_("应有时段数"))
    received = models.PositiveIntegerField(_("实收时段数"))
    quality = models.PositiveSmallIntegerField(_("质量"))
    computed_at = models.DateTimeField(_("计算时间"), auto_now=True)

    objects = TenantScopedManager(enterprise="meter__enterprise")

    class Meta:
        verbose_name = _("用量汇总")
        verbose_name_plural = _("用量汇总")
        constraints = [
            models.UniqueConstraint(fields=["meter", "interval", "ts"], name="rollup_unique_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.interval} {self.ts:%Y-%m-%d %H:%M}"


class RollupDirtyRange(models.Model):
    """Readings of one meter between `earliest` and `latest` (inclusive) changed since its rollups
    were computed.

    One row per meter: each committed batch widens it (one upsert per meter, see receivers.py);
    a recompute claims it (`claim_token`, until `claimed_until`) and deletes it when done, unless
    a batch widened it meanwhile (`generation` moved), in which case it stays for the next run.
    Bookkeeping of derived data: not audited.
    """

    meter = models.OneToOneField(
        "metering.Meter", verbose_name=_("表计"), on_delete=models.CASCADE, related_name="+"
    )
    earliest = models.DateTimeField(_("最早时间"))
    latest = models.DateTimeField(_("最晚时间"))
    generation = models.PositiveBigIntegerField(_("版本"), default=1)
    claim_token = models.UUIDField(_("领取标记"), null=True, blank=True)
    claimed_until = models.DateTimeField(_("领取至"), null=True, blank=True)

    objects = TenantScopedManager(enterprise="meter__enterprise")

    class Meta:
        verbose_name = _("待重算区间")
        verbose_name_plural = _("待重算区间")

    def __str__(self) -> str:
        return f"{self.meter_id} {self.earliest:%Y-%m-%d %H:%M}–{self.latest:%Y-%m-%d %H:%M}"
