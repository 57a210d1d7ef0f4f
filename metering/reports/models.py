"""Export jobs: a query's rows written to a CSV or Excel file in the background.

The file lives in the private `exports` storage (settings.STORAGES["exports"], outside MEDIA_ROOT,
never served by URL) and is handed out only by the download view, after the access check.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.core.validators import MaxValueValidator
from django.db import models
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from django.utils.translation import gettext_lazy as _

from portal.scoping import TenantScopedManager

EXPORTS_STORAGE = "exports"


class _ExportsStorage(LazyObject):
    """settings.STORAGES["exports"], looked up when first used (like Django's default_storage), so the
    field does not hold on to the storage of the settings at import time."""

    def _setup(self) -> None:
        self._wrapped = storages[EXPORTS_STORAGE]


_exports_storage = _ExportsStorage()


def exports_storage() -> Storage:
    return _exports_storage  # type: ignore[return-value]


@receiver(setting_changed)
def _storages_changed(*, setting: str, **kwargs: Any) -> None:
    # Sent by override_settings (tests): the next use looks the storage up again.
    if setting == "STORAGES":
        _exports_storage._wrapped = empty  # type: ignore[assignment]  # LazyObject's "not set up" marker


def export_upload_to(instance: ExportJob, filename: str) -> str:
    # The enterprise's own folder, and the job's id in the name: two jobs never share a file.
    return f"enterprise-{instance.enterprise_id}/job-{instance.pk}-{filename}"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel"


class ExportJob(models.Model):
    """One export, queued by a person and written by a worker (导出任务)."""

    class Kind(models.TextChoices):
        # Report tables are a few dozen rows and download at once; only meter data runs long.
        METER_SERIES = "meter_series", _("表计数据")

    class State(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("导出中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                   related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("申请人"), null=True,
                                     blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(_("类别"), max_length=16, choices=Kind.choices)
    file_format = models.CharField(_("格式"), max_length=8, choices=ExportFormat.choices)
    title = models.CharField(_("内容"), max_length=300)
    # What to export, as the query form gave it (meter ids, interval, dates): the worker rebuilds
    # the query from it, so the file is what the person asked for even if it runs later.
    query = models.JSONField(_("查询条件"), default=dict)
    state = models.CharField(_("状态"), max_length=8, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(_("进度（%）"), default=0,
                                                validators=[MaxValueValidator(100)])
    rows_total = models.PositiveBigIntegerField(_("总行数"), null=True, blank=True)
    rows_written = models.PositiveBigIntegerField(_("已写行数"), default=0)
    file = models.FileField(_("文件"), storage=exports_storage, upload_to=export_upload_to, blank=True,
                            max_length=300)
    file_name = models.CharField(_("下载文件名"), max_length=200, blank=True)
    error = models.TextField(_("失败原因"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("运行次数"), default=0)
    created_at = models.DateTimeField(_("提交时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    # Moved with the progress: a running job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(_("最近进度时间"), null=True, blank=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("导出任务")
        verbose_name_plural = _("导出任务")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["enterprise", "-created_at"], name="reports_job_enterprise_recent")]

    def __str__(self) -> str:
        return f"{self.title}（{self.get_file_format_display()}）"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    def status(self) -> dict[str, Any]:
        """What the progress page polls (JSON)."""
        return {
            "id": self.pk,
            "state": self.state,
            "state_display": str(self.get_state_display()),
            "progress": self.progress,
            "rows_total": self.rows_total,
            "rows_written": self.rows_written,
            "error": self.error,
            "finished": self.finished,
        }
