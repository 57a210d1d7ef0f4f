"""Programs (申报项目) as data; forms, drafts and submissions build on them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
