"""Monitoring's stored figures (rollups, factor sets, ...). Tenant-owned rows reach their
enterprise through a declared path and use `portal.scoping.TenantScopedManager`.

Factor sets are platform-wide reference data (no tenant owns a national standard): the
standard-coal coefficients of GB/T 2589 and the CO₂ emission factors every figure is computed
with. A set is versioned by (name, edition): a new edition is a new set, and a set is locked
before anything may compute with it, so a figure computed once never changes under it.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from metering.models import EnergyType
from portal.scoping import TenantScopedManager

# Mass of CO₂ per mass of carbon (44/12), exact as a fraction: the guidelines' formula is
# quantity × low heating value × carbon per heat unit × oxidation rate × 44/12.
CO2_PER_CARBON_NUMERATOR = Decimal(44)
CO2_PER_CARBON_DENOMINATOR = Decimal(12)
KG_PER_T = Decimal(1000)


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

    # No index of its own: the unique (meter, interval, ts) index leads with the meter. A second,
    # meter-only index costs every recompute's COPY and tempts the planner into reading a meter's
    # every bucket (44 000 a year) where the period's few are wanted.
    meter = models.ForeignKey(
        "metering.Meter", verbose_name=_("表计"), on_delete=models.CASCADE, related_name="+",
        db_index=False,
    )
    interval = models.CharField(_("周期"), max_length=8, choices=RollupInterval.choices)
    ts = models.DateTimeField(_("起始时间"))
    value = models.FloatField(_("用量"))
    expected = models.PositiveIntegerField(_("应有时段数"))
    received = models.PositiveIntegerField(_("实收时段数"))
    quality = models.PositiveSmallIntegerField(_("质量"))
    # Runs of empty 15-minute slots, so the longest gap of a period combines a few buckets
    # (metering/monitoring/rollups.py, `combine_gaps`).
    empty_leading = models.PositiveIntegerField(_("开头空缺时段数"), default=0)
    empty_trailing = models.PositiveIntegerField(_("结尾空缺时段数"), default=0)
    empty_longest = models.PositiveIntegerField(_("最长空缺时段数"), default=0)
    # Day buckets only: the typical spacing of the day's readings (seconds) that its quarters'
    # gaps were judged against. A recompute rebuilds only the touched quarters while the day's
    # spacing stays this; null (unknown, or fewer than two readings) rebuilds the whole day.
    spacing = models.FloatField(_("读数典型间隔（秒）"), null=True, blank=True)
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


class Confidence(models.TextChoices):
    """How sure we are that a value is the one the source gives (DOMAIN.md states it per table)."""

    HIGH = "high", _("高")
    MEDIUM_HIGH = "medium_high", _("较高")
    MEDIUM = "medium", _("中")
    UNVERIFIED = "unverified", _("未核实")


class FactorSet(models.Model):
    """A published table of factors (系数集): one edition of one source, e.g. GB/T 2589."""

    class Kind(models.TextChoices):
        STANDARD_COAL = "standard_coal", _("折标准煤系数")
        GRID_CO2 = "grid_co2", _("电网排放因子")
        FUEL_CO2 = "fuel_co2", _("燃料排放因子")
        HEAT_CO2 = "heat_co2", _("热力排放因子")

    name = models.CharField(_("名称"), max_length=200)
    kind = models.CharField(_("类别"), max_length=16, choices=Kind.choices)
    source = models.CharField(_("来源"), max_length=300, help_text=_("发布机关与文件或标准号。"))
    edition = models.CharField(_("版次"), max_length=200, help_text=_("新版本请新建系数集，不要修改旧版本。"))
    valid_from = models.DateField(_("适用起始日"), null=True, blank=True)
    valid_to = models.DateField(_("适用截止日"), null=True, blank=True, help_text=_("含当日；留空表示不限。"))
    confidence = models.CharField(_("可信度"), max_length=16, choices=Confidence.choices,
                                  default=Confidence.UNVERIFIED)
    notes = models.TextField(_("说明"), blank=True)
    is_default = models.BooleanField(
        _("默认使用"), default=False, help_text=_("每个类别至多一个默认系数集；未指定系数集的计算使用它。")
    )
    locked = models.BooleanField(
        _("已锁定"), default=False,
        help_text=_("锁定后不可修改或删除；只有锁定的系数集可用于计算，保证已算出的数据不随之改变。"),
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("系数集")
        verbose_name_plural = _("系数集")
        ordering = ["kind", "name", "edition"]
        constraints = [
            models.UniqueConstraint(fields=["name", "edition"], name="monitoring_factorset_name_edition"),
            models.UniqueConstraint(fields=["kind"], condition=models.Q(is_default=True),
                                    name="monitoring_factorset_one_default_per_kind"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """What a computed figure names as its source: the set's name and edition."""
        return f"{self.name}（{self.edition}）"

    # What may still change on a locked set: which set of its kind is the default is a choice of
    # the platform, not part of the published data.
    CHANGEABLE_WHEN_LOCKED = frozenset({"is_default"})

    def clean(self) -> None:
        stored = FactorSet.objects.filter(pk=self.pk, locked=True).first() if self.pk is not None else None
        if stored is not None and any(
            getattr(stored, f.attname) != getattr(self, f.attname)
            for f in self._meta.concrete_fields if f.attname not in self.CHANGEABLE_WHEN_LOCKED
        ):
            raise ValidationError(
                _("系数集“%(set)s”已锁定，不可修改；请新建一个版本。") % {"set": self.label})
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise ValidationError({"valid_to": _("适用截止日不能早于起始日。")})


class Factor(models.Model):
    """One coefficient of a set: per unit of an energy type, on one basis."""

    class Basis(models.TextChoices):
        CALORIFIC = "calorific", _("当量值（kgce/单位）")
        GENERATION = "generation", _("等价值（kgce/单位）")
        CO2 = "co2", _("二氧化碳（kgCO₂/单位）")

    class Scope(models.IntegerChoices):
        DIRECT = 1, _("范围一（化石燃料燃烧）")
        PURCHASED = 2, _("范围二（购入电力、热力）")

    factor_set = models.ForeignKey(FactorSet, verbose_name=_("系数集"), on_delete=models.CASCADE,
                                   related_name="factors")
    energy_type = models.CharField(_("能源种类"), max_length=32, choices=EnergyType.choices)
    variant = models.CharField(
        _("品种"), max_length=32, blank=True,
        help_text=_("同一能源种类的细分（如 oil_field 油田天然气、bituminous 烟煤）；留空为通用值。"),
    )
    unit = models.CharField(_("计量单位"), max_length=16,
                            help_text=_("系数所对应的能源计量单位，如 kWh、m³、kg、t、GJ。"))
    basis = models.CharField(_("口径"), max_length=16, choices=Basis.choices)
    value = models.DecimalField(
        _("系数"), max_digits=20, decimal_places=10, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("每单位能源的 kgce 或 kgCO₂。燃料排放因子可改填下面三项参数。"),
    )
    # The fuel guidelines give three parameters rather than one factor; keeping them (and computing
    # the product when used) keeps the figure exactly what the guideline's formula gives.
    heating_value_gj = models.DecimalField(
        _("低位发热量（GJ/单位）"), max_digits=20, decimal_places=10, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    carbon_t_per_gj = models.DecimalField(
        _("单位热值含碳量（tC/GJ）"), max_digits=20, decimal_places=10, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    oxidation_rate = models.DecimalField(
        _("碳氧化率"), max_digits=6, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text=_("0–1，如 0.99。"),
    )
    scope = models.PositiveSmallIntegerField(_("排放范围"), choices=Scope.choices, null=True, blank=True)
    year = models.PositiveSmallIntegerField(_("年份"), null=True, blank=True,
                                            help_text=_("因子所属年份（如电网排放因子）；留空表示不分年份。"))
    region_code = models.CharField(_("行政区划代码"), max_length=12, blank=True,
                                   help_text=_("如 410000 河南省；留空表示全国。"))
    confidence = models.CharField(_("可信度"), max_length=16, choices=Confidence.choices, blank=True,
                                  help_text=_("留空表示与系数集相同。"))
    note = models.CharField(_("备注"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("系数")
        verbose_name_plural = _("系数")
        ordering = ["factor_set", "basis", "energy_type", "variant", "year", "region_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["factor_set", "energy_type", "variant", "unit", "basis", "year", "region_code"],
                name="monitoring_factor_unique_row", nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        variant = f" {self.variant}" if self.variant else ""
        return f"{self.get_energy_type_display()}{variant} {self.get_basis_display()} /{self.unit}"

    @property
    def uncertain(self) -> bool:
        return (self.confidence or self.factor_set.confidence) != Confidence.HIGH

    def per_unit(self) -> Decimal:
        """kgce or kgCO₂ per unit of energy: the value, or the guideline's formula of its parameters."""
        if self.value is not None:
            return self.value
        assert self.heating_value_gj is not None and self.carbon_t_per_gj is not None
        assert self.oxidation_rate is not None
        carbon_t = self.heating_value_gj * self.carbon_t_per_gj * self.oxidation_rate
        return carbon_t * CO2_PER_CARBON_NUMERATOR * KG_PER_T / CO2_PER_CARBON_DENOMINATOR

    def clean(self) -> None:
        locked = FactorSet.objects.filter(pk=self.factor_set_id, locked=True)
        if self.factor_set_id is not None and locked.exists():
            raise ValidationError(_("系数集已锁定，不可修改其系数；请新建一个版本。"))
        parameters = (self.heating_value_gj, self.carbon_t_per_gj, self.oxidation_rate)
        given = [p is not None for p in parameters]
        if self.value is None and not all(given):
            raise ValidationError(_("请填写系数，或填写低位发热量、单位热值含碳量和碳氧化率三项。"))
        if self.value is not None and any(given):
            raise ValidationError(_("系数与三项参数只能填写一种。"))
        if any(given) and self.basis != self.Basis.CO2:
            raise ValidationError(_("三项参数只用于二氧化碳排放因子。"))
        if self.basis == self.Basis.CO2 and self.scope is None:
            raise ValidationError({"scope": _("二氧化碳排放因子须注明排放范围。")})
        if self.basis != self.Basis.CO2 and self.scope is not None:
            raise ValidationError({"scope": _("折标准煤系数没有排放范围。")})


def plain_number(value: Decimal | None) -> str:
    """A stored Decimal as people write it: 1200.5, not 1200.5000 (nor 1.2E+3)."""
    if value is None:
        return ""
    return format(value.normalize(), "f")


class ProductionRecord(models.Model):
    """What an enterprise produced in one month (产量与产值), per product and optionally per
    workshop or line: the denominator of energy intensity (tce/万元) and unit product consumption.

    Entered by the enterprise's staff (metering/monitoring/production.py), audited.
    """

    enterprise = models.ForeignKey("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                   related_name="production_records")
    month = models.DateField(_("月份"), help_text=_("所属月份（按每月 1 日保存）。"))
    site_node = models.ForeignKey(
        "metering.SiteNode", verbose_name=_("车间/产线"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="production_records",
        help_text=_("留空表示全厂；填写后单位产品能耗按该车间或产线的表计计算。"),
    )
    product = models.CharField(_("产品名称"), max_length=100)
    quantity = models.DecimalField(_("产量"), max_digits=20, decimal_places=4,
                                   validators=[MinValueValidator(Decimal(0))])
    unit = models.CharField(_("产量单位"), max_length=16, help_text=_("如 t、件、m²。"))
    output_value_wan_yuan = models.DecimalField(
        _("产值（万元）"), max_digits=20, decimal_places=4, null=True, blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    note = models.CharField(_("备注"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("产量与产值")
        verbose_name_plural = _("产量与产值")
        ordering = ["enterprise_id", "-month", "product", "id"]
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "month", "site_node", "product"],
                                    name="monitoring_production_one_row_per_month_product",
                                    nulls_distinct=False),
            models.CheckConstraint(name="monitoring_production_month_first_day",
                                   condition=models.Q(month__day=1)),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.product} {plain_number(self.quantity)} {self.unit}"

    @property
    def quantity_text(self) -> str:
        return plain_number(self.quantity)

    @property
    def output_value_text(self) -> str:
        return plain_number(self.output_value_wan_yuan)

    def clean(self) -> None:
        if self.month is not None and self.month.day != 1:
            self.month = self.month.replace(day=1)
        if (self.site_node_id and self.site_node is not None
                and self.site_node.enterprise_id != self.enterprise_id):
            raise ValidationError({"site_node": _("车间/产线必须属于本企业。")})


class BasePeriod(models.Model):
    """The enterprise's base period (基期) for the energy saving rate: whole months, inclusive."""

    enterprise = models.OneToOneField("portal.Enterprise", verbose_name=_("企业"), on_delete=models.CASCADE,
                                      related_name="base_period")
    start_month = models.DateField(_("基期起始月"))
    end_month = models.DateField(_("基期截止月"), help_text=_("含该月。"))
    note = models.CharField(_("说明"), max_length=300, blank=True,
                            help_text=_("如“2023 年度（改造前）”。"))
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    objects = TenantScopedManager(enterprise="enterprise")

    class Meta:
        verbose_name = _("节能基期")
        verbose_name_plural = _("节能基期")

    def __str__(self) -> str:
        return f"{self.start_month:%Y-%m}–{self.end_month:%Y-%m}"

    def clean(self) -> None:
        if self.start_month is not None:
            self.start_month = self.start_month.replace(day=1)
        if self.end_month is not None:
            self.end_month = self.end_month.replace(day=1)
        if self.start_month and self.end_month and self.end_month < self.start_month:
            raise ValidationError({"end_month": _("基期截止月不能早于起始月。")})
