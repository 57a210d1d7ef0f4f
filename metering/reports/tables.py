"""The report tables the Shanghai checklist names (seed 001 附表1 item 4, 附表2 item 4), built from the
indicators service (metering.monitoring.indicators) for a chosen month or year:

- 能耗统计分析表 (`energy_statistics_table`): per energy type, quantity in its unit, 折标系数, tce,
  share of the total, the same period last year and the change;
- 单位产品能耗统计表 (`unit_product_table`): per product or line, output, energy, unit consumption,
  against the same period last year;
- 车间或班组绩效考核统计表 (`workshop_table`): per workshop or line of the site tree, energy,
  output, unit consumption, against the previous period, ranked;
- 园区万元产值能耗统计表 (`park_output_value_table`): per member enterprise and the public areas,
  output value, tce, tce per 万元, against the same period last year.

Every table names the factor sets its figures were computed with (本期 and the comparison period
apart: a grid factor is annual, so last year's figure may use another edition). Figures stay
Decimal here; rounding is the page's and the file's business (metering/reports/formatting.py).
Callers are inside a tenant scope (the edge's reach scope), as the indicators service requires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from metering.models import EnergyType, SiteNode
from portal.models import Enterprise

KGCE_PER_TCE = Decimal(1000)


class _Service:
    """The indicators service, imported when a table is built: the monitoring app computes every
    figure, this module only lays them out."""

    def __getattr__(self, name: str) -> Any:
        from metering.monitoring import indicators

        return getattr(indicators, name)


indicators_service: Any = _Service()

# Column kinds: how a cell is formatted on the page and written to a file.
TEXT, NUMBER, PERCENT, INTEGER = "text", "number", "percent", "integer"
# A measured value written as it was stored (a reading, a bucket's consumption): never rounded.
VALUE = "value"
DATETIME = "datetime"


@dataclass(frozen=True)
class Column:
    key: str
    label: str | Promise  # with its unit, as the header of a printed statistics table carries it
    kind: str = NUMBER
    places: int = 2  # decimals shown for NUMBER; PERCENT shows this many after ×100


@dataclass(frozen=True)
class ReportPeriod:
    """A calendar month or year in Asia/Shanghai."""

    year: int
    month: int | None = None  # None: the whole year

    @property
    def is_month(self) -> bool:
        return self.month is not None

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        if self.month is not None:
            return indicators_service.period_bounds(month=dt.date(self.year, self.month, 1))
        return indicators_service.period_bounds(year=self.year)

    @property
    def label(self) -> str:
        if self.month is not None:
            return _("%(year)d年%(month)d月") % {"year": self.year, "month": self.month}
        return _("%(year)d年") % {"year": self.year}

    @property
    def query(self) -> str:
        """As the page's query string gives it: `month=2026-11` or `year=2026`."""
        if self.month is not None:
            return f"month={self.year:04d}-{self.month:02d}"
        return f"year={self.year:04d}"

    @property
    def slug(self) -> str:
        return f"{self.year:04d}-{self.month:02d}" if self.month is not None else f"{self.year:04d}"

    def same_period_last_year(self) -> ReportPeriod:
        return ReportPeriod(self.year - 1, self.month)

    def previous(self) -> ReportPeriod:
        """The period before this one (环比): the month before, or the year before."""
        if self.month is None:
            return ReportPeriod(self.year - 1)
        if self.month == 1:
            return ReportPeriod(self.year - 1, 12)
        return ReportPeriod(self.year, self.month - 1)


@dataclass
class ReportTable:
    code: str
    title: str
    subject: str  # the enterprise or park
    period: ReportPeriod
    comparison_label: str  # "上年同期" or "上期"
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)
    totals: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    factor_sets: tuple[str, ...] = ()  # the period's
    comparison_factor_sets: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.rows


def ratio(numerator: Decimal | None, denominator: Decimal | None) -> Decimal | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def change(current: Decimal | None, before: Decimal | None) -> Decimal | None:
    """(current − before) ÷ before, a fraction (0.05 = +5 %); None without a base to compare with."""
    if current is None or before is None or before == 0:
        return None
    return (current - before) / before


def _labels(sets: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(sets))


def _missing_note(table: ReportTable, *figures: Any) -> None:
    missing = _labels(reason for f in figures for reason in getattr(f, "missing_factors", []))
    if missing:
        table.notes.append(_("以下能源缺少折标系数或排放因子，未计入合计：%(what)s。"
                             "请平台管理员补充系数集。") % {"what": "；".join(missing)})


def _factor_note(table: ReportTable) -> None:
    current = "；".join(table.factor_sets) or _("（本期无能耗数据）")
    table.notes.append(_("本期折标系数与排放因子：%(sets)s。") % {"sets": current})
    if table.comparison_factor_sets and table.comparison_factor_sets != table.factor_sets:
        table.notes.append(_("%(what)s所用系数集：%(sets)s。") % {
            "what": table.comparison_label, "sets": "；".join(table.comparison_factor_sets)})


def _consumed(figures: Any) -> bool:
    return any(line.quantity for line in figures.by_energy_type)


def _energy_label(energy_type: str) -> str:
    try:
        return str(EnergyType(energy_type).label)
    except ValueError:
        return energy_type


# --- 能耗统计分析表 -----------------------------------------------------------------------------------


ENERGY_COLUMNS = (
    Column("energy", gettext_lazy("能源品种"), TEXT),
    Column("unit", gettext_lazy("计量单位"), TEXT),
    Column("quantity", gettext_lazy("消费量（实物量）"), NUMBER, 2),
    Column("coefficient", gettext_lazy("折标系数（kgce/计量单位）"), NUMBER, 4),
    Column("tce", gettext_lazy("折标准煤（tce）"), NUMBER, 3),
    Column("share", gettext_lazy("占综合能耗比例（%）"), PERCENT, 2),
    Column("last_year_tce", gettext_lazy("上年同期（tce）"), NUMBER, 3),
    Column("change", gettext_lazy("同比增减（%）"), PERCENT, 2),
)


def energy_statistics_table(enterprise: Enterprise, period: ReportPeriod) -> ReportTable:
    """能耗统计分析表 of an enterprise (a park: the park as a whole, members and public areas)."""
    start, end = period.bounds()
    current = indicators_service.indicators_for(enterprise, start=start, end=end)
    ly_start, ly_end = period.same_period_last_year().bounds()
    last_year = indicators_service.indicators_for(enterprise, start=ly_start, end=ly_end)
    table = ReportTable(code="energy", title=_("能耗统计分析表"), subject=enterprise.name, period=period,
                        comparison_label=_("上年同期"), columns=ENERGY_COLUMNS,
                        factor_sets=_labels(current.factor_sets),
                        comparison_factor_sets=_labels(last_year.factor_sets))
    _missing_note(table, current)
    # The service lists every energy type the subject has meters of; one that consumed nothing (or
    # had no data yet) is no line of the statistics, and a zero last year is no base to compare with.
    before = {line.energy_type: line for line in last_year.by_energy_type if line.quantity}
    seen: set[str] = set()
    for line in current.by_energy_type:
        seen.add(line.energy_type)
        previous = before.get(line.energy_type)
        if not line.quantity and previous is None:
            continue
        if getattr(line, "factor_missing", ""):
            # No factor for it: its quantity stands, its tce is unknown (not zero) and left out.
            table.rows.append({
                "energy": line.label or _energy_label(line.energy_type), "energy_type": line.energy_type,
                "unit": line.unit, "quantity": line.quantity, "coefficient": None, "tce": None,
                "share": None, "last_year_tce": previous.tce if previous is not None else None,
                "change": None})
            continue
        table.rows.append({
            "energy": line.label or _energy_label(line.energy_type),
            "energy_type": line.energy_type,
            "unit": line.unit,
            "quantity": line.quantity,
            # The factor the tce was computed with, per unit of the meter's own unit (the set may
            # state it per 10⁴m³ or per t): tce ÷ quantity, exact as the service computed it.
            "coefficient": ratio(line.tce * KGCE_PER_TCE, line.quantity),
            "tce": line.tce,
            "share": ratio(line.tce, current.total_tce),
            "last_year_tce": previous.tce if previous is not None else None,
            "change": change(line.tce, previous.tce if previous is not None else None),
        })
    for energy_type, previous in before.items():
        if energy_type in seen:
            continue
        # Used last year, not in this period: the row stays, at zero, so the structure compares.
        table.rows.append({
            "energy": previous.label or _energy_label(energy_type), "energy_type": energy_type,
            "unit": previous.unit, "quantity": Decimal(0), "coefficient": None, "tce": Decimal(0),
            "share": Decimal(0) if current.total_tce else None, "last_year_tce": previous.tce,
            "change": change(Decimal(0), previous.tce),
        })
    if table.rows:
        table.totals.append({
            "energy": _("综合能耗（当量值）"), "unit": "tce", "quantity": None, "coefficient": None,
            "tce": current.total_tce, "share": Decimal(1) if current.total_tce else None,
            "last_year_tce": last_year.total_tce if before else None,
            "change": change(current.total_tce, last_year.total_tce if before else None),
        })
        if current.total_tce_equivalent is not None:
            table.totals.append({
                "energy": _("综合能耗（等价值，电力按等价值折算）"), "unit": "tce", "quantity": None,
                "coefficient": None, "tce": current.total_tce_equivalent, "share": None,
                "last_year_tce": last_year.total_tce_equivalent,
                "change": change(current.total_tce_equivalent, last_year.total_tce_equivalent),
            })
        scopes = current.co2_by_scope
        table.notes.append(
            _("二氧化碳排放量 %(total)s tCO₂（范围一 %(one)s tCO₂，范围二 %(two)s tCO₂）。") % {
                "total": f"{current.co2_t:,.3f}", "one": f"{scopes.get('1', Decimal(0)):,.3f}",
                "two": f"{scopes.get('2', Decimal(0)):,.3f}"})
    _factor_note(table)
    return table


# --- 单位产品能耗统计表 ----------------------------------------------------------------------------


UNIT_PRODUCT_COLUMNS = (
    Column("product", gettext_lazy("产品（产线）"), TEXT),
    Column("output", gettext_lazy("产量"), NUMBER, 2),
    Column("unit", gettext_lazy("产量单位"), TEXT),
    Column("tce", gettext_lazy("综合能耗（tce）"), NUMBER, 3),
    Column("unit_consumption", gettext_lazy("单位产品综合能耗（kgce/产量单位）"), NUMBER, 3),
    Column("last_year_unit_consumption", gettext_lazy("上年同期单耗（kgce/产量单位）"), NUMBER, 3),
    Column("change", gettext_lazy("同比增减（%）"), PERCENT, 2),
)


def _product_key(line: Any) -> tuple[str, str, Any]:
    return (str(line.product), str(line.unit), getattr(line, "site_node_id", None))


def _product_label(line: Any) -> str:
    node = getattr(line, "site_node_name", "")
    return f"{line.product}（{node}）" if node else str(line.product)


def _unit_consumption_kgce(line: Any) -> Decimal | None:
    """kgce per unit of output: the service's tce per unit, in kgce (the usual unit of 单耗)."""
    per_unit = getattr(line, "tce_per_unit", None)
    if per_unit is None and line.tce is not None:
        per_unit = ratio(line.tce, line.quantity)
    return per_unit * KGCE_PER_TCE if per_unit is not None else None


def unit_product_table(enterprise: Enterprise, period: ReportPeriod) -> ReportTable:
    start, end = period.bounds()
    current = indicators_service.indicators_for(enterprise, start=start, end=end)
    ly_start, ly_end = period.same_period_last_year().bounds()
    last_year = indicators_service.indicators_for(enterprise, start=ly_start, end=ly_end)
    table = ReportTable(code="products", title=_("单位产品能耗统计表"), subject=enterprise.name,
                        period=period,
                        comparison_label=_("上年同期"), columns=UNIT_PRODUCT_COLUMNS,
                        factor_sets=_labels(current.factor_sets),
                        comparison_factor_sets=_labels(last_year.factor_sets))
    before = {_product_key(line): line for line in last_year.unit_products}
    for line in current.unit_products:
        previous = before.get(_product_key(line))
        unit_consumption = _unit_consumption_kgce(line)
        last = _unit_consumption_kgce(previous) if previous is not None else None
        table.rows.append({
            "product": _product_label(line), "output": line.quantity, "unit": str(line.unit), "tce": line.tce,
            "unit_consumption": unit_consumption, "last_year_unit_consumption": last,
            "change": change(unit_consumption, last),
        })
    if table.rows:
        table.notes.append(_("单位产品综合能耗 = 该产品（产线）综合能耗 ÷ 合格产量；"
                             "产量为企业填报的生产数据。填报时未指定车间（产线）且全厂有多个产品的，能耗无法分摊，单耗显示为“—”。"))
    _factor_note(table)
    return table


# --- 车间或班组绩效考核统计表 ------------------------------------------------------------------------


WORKSHOP_COLUMNS = (
    Column("node", gettext_lazy("车间（班组、产线）"), TEXT),
    Column("kind", gettext_lazy("类型"), TEXT),
    Column("tce", gettext_lazy("综合能耗（tce）"), NUMBER, 3),
    Column("output", gettext_lazy("产量"), NUMBER, 2),
    Column("unit", gettext_lazy("产量单位"), TEXT),
    Column("unit_consumption", gettext_lazy("单位产品能耗（kgce/产量单位）"), NUMBER, 3),
    Column("previous_unit_consumption", gettext_lazy("上期单耗（kgce/产量单位）"), NUMBER, 3),
    Column("change", gettext_lazy("环比增减（%）"), PERCENT, 2),
    Column("previous_tce", gettext_lazy("上期综合能耗（tce）"), NUMBER, 3),
    Column("rank", gettext_lazy("考核排名"), INTEGER),
)
# The site tree's levels that are assessed as units of their own (a site is the enterprise itself,
# equipment is assessed in the equipment-efficiency statistics, not here).
ASSESSED_NODE_KINDS = (SiteNode.Kind.WORKSHOP, SiteNode.Kind.LINE)


def assessed_nodes(enterprise: Enterprise) -> list[SiteNode]:
    return list(SiteNode.objects.filter(enterprise_id=enterprise.pk, kind__in=ASSESSED_NODE_KINDS)
                .order_by("kind", "name", "pk"))


def _node_output(figures: Any) -> tuple[Decimal | None, str]:
    """The node's output for its unit consumption: its products' quantity when they share one
    unit (a workshop making one product, or several counted alike), else none to divide by."""
    lines = list(figures.unit_products)
    units = {str(line.unit) for line in lines}
    if len(units) != 1:
        return None, ""
    return sum((line.quantity for line in lines), Decimal(0)), units.pop()


def workshop_table(enterprise: Enterprise, period: ReportPeriod,
                   nodes: Sequence[SiteNode] | None = None) -> ReportTable:
    start, end = period.bounds()
    previous_period = period.previous()
    prev_start, prev_end = previous_period.bounds()
    table = ReportTable(code="workshops", title=_("车间或班组绩效考核统计表"), subject=enterprise.name,
                        period=period, comparison_label=_("上期"), columns=WORKSHOP_COLUMNS)
    sets: list[str] = []
    previous_sets: list[str] = []
    for node in nodes if nodes is not None else assessed_nodes(enterprise):
        current = indicators_service.site_node_indicators(node, start=start, end=end)
        before = indicators_service.site_node_indicators(node, start=prev_start, end=prev_end)
        sets.extend(current.factor_sets)
        previous_sets.extend(before.factor_sets)
        output, unit = _node_output(current)
        previous_output, previous_unit = _node_output(before)
        unit_consumption = ratio(current.total_tce * KGCE_PER_TCE, output)
        # No energy recorded last period (no data yet) is no base, not a unit consumption of zero.
        previous_unit_consumption = (ratio(before.total_tce * KGCE_PER_TCE, previous_output)
                                     if previous_unit == unit and _consumed(before) else None)
        table.rows.append({
            "node": node.name, "kind": str(node.get_kind_display()), "tce": current.total_tce,
            "output": output, "unit": unit, "unit_consumption": unit_consumption,
            "previous_unit_consumption": previous_unit_consumption,
            "change": change(unit_consumption, previous_unit_consumption),
            "previous_tce": before.total_tce if _consumed(before) else None, "rank": None,
        })
    # Units make different products, so their unit consumptions do not compare; how much each
    # improved on its own previous period does: the largest fall ranks first.
    ranked = sorted((row for row in table.rows if row["change"] is not None), key=lambda row: row["change"])
    for place, row in enumerate(ranked, start=1):
        row["rank"] = place
    table.factor_sets = _labels(sets)
    table.comparison_factor_sets = _labels(previous_sets)
    if table.rows:
        total_tce = sum((row["tce"] for row in table.rows), Decimal(0))
        table.totals.append({"node": _("合计"), "kind": "", "tce": total_tce,
                             "output": None, "unit": "", "unit_consumption": None,
                             "previous_unit_consumption": None, "change": None,
                             "previous_tce": None, "rank": None})
        table.notes.append(_("排名按单位产品能耗环比降幅排序（降幅最大者第一）；没有上期产量的单元不参与排名。"))
        if all(row["output"] is None for row in table.rows):
            table.notes.append(_("本期没有按车间（产线）填报的产量，无法计算单耗与排名：请在生产数据中填报产量时"
                                 "选择对应的车间（产线）。"))
        table.notes.append(_("上期：%(period)s。") % {"period": previous_period.label})
    _factor_note(table)
    return table


# --- 园区万元产值能耗统计表 ----------------------------------------------------------------------


PARK_COLUMNS = (
    Column("member", gettext_lazy("园区企业（区域）"), TEXT),
    Column("output_value", gettext_lazy("工业总产值（万元）"), NUMBER, 2),
    Column("tce", gettext_lazy("综合能耗（tce）"), NUMBER, 3),
    Column("intensity", gettext_lazy("万元产值能耗（tce/万元）"), NUMBER, 4),
    Column("last_year_intensity", gettext_lazy("上年同期（tce/万元）"), NUMBER, 4),
    Column("change", gettext_lazy("同比增减（%）"), PERCENT, 2),
)


def _intensity(figures: Any) -> Decimal | None:
    if figures.energy_intensity is not None:
        return Decimal(figures.energy_intensity)
    return ratio(figures.total_tce, figures.output_value_wan_yuan)


def _park_row(label: str, current: Any, last_year: Any) -> dict[str, Any]:
    intensity, before = _intensity(current), _intensity(last_year)
    return {"member": label, "output_value": current.output_value_wan_yuan, "tce": current.total_tce,
            "intensity": intensity, "last_year_intensity": before, "change": change(intensity, before)}


def park_output_value_table(park: Enterprise, period: ReportPeriod,
                            members: Sequence[Enterprise]) -> ReportTable:
    """万元产值能耗统计表 of a park: `members` are the member enterprises the caller may see."""
    start, end = period.bounds()
    ly_start, ly_end = period.same_period_last_year().bounds()
    table = ReportTable(code="park", title=_("园区万元产值能耗统计表"), subject=park.name, period=period,
                        comparison_label=_("上年同期"), columns=PARK_COLUMNS)
    sets: list[str] = []
    previous_sets: list[str] = []
    if park.kind != Enterprise.Kind.PARK:
        table.notes.append(_("本报表适用于园区；“%(name)s”不是园区。") % {"name": park.name})
        return table
    for member in members:
        current = indicators_service.enterprise_indicators(member, start=start, end=end)
        before = indicators_service.enterprise_indicators(member, start=ly_start, end=ly_end)
        sets.extend(current.factor_sets)
        previous_sets.extend(before.factor_sets)
        table.rows.append(_park_row(member.name, current, before))
    # The park's own meters are its public areas (公共区域): enterprise_indicators of the park
    # itself, where park_indicators adds the members to them.
    public = indicators_service.enterprise_indicators(park, start=start, end=end)
    public_before = indicators_service.enterprise_indicators(park, start=ly_start, end=ly_end)
    if _consumed(public) or _consumed(public_before):
        sets.extend(public.factor_sets)
        previous_sets.extend(public_before.factor_sets)
        table.rows.append(_park_row(_("园区公共区域"), public, public_before))
    if not any(row["tce"] or row["output_value"] is not None or row["last_year_intensity"] is not None
               for row in table.rows):
        # Members, but nothing measured or entered for any of them: an empty table, not a row of zeros.
        table.rows = []
        return table
    whole = indicators_service.park_indicators(park, start=start, end=end)
    whole_before = indicators_service.park_indicators(park, start=ly_start, end=ly_end)
    sets.extend(whole.factor_sets)
    previous_sets.extend(whole_before.factor_sets)
    if table.rows:
        table.totals.append(_park_row(_("园区合计"), whole, whole_before))
        table.notes.append(_("万元产值能耗 = 综合能耗（当量值）÷ 工业总产值；产值为各企业填报的生产数据，"
                             "未填报产值的企业不计算万元产值能耗。"))
    table.factor_sets = _labels(sets)
    table.comparison_factor_sets = _labels(previous_sets)
    _factor_note(table)
    return table


REPORTS = {
    "energy": (gettext_lazy("能耗统计分析表"), energy_statistics_table),
    "products": (gettext_lazy("单位产品能耗统计表"), unit_product_table),
    "workshops": (gettext_lazy("车间或班组绩效考核统计表"), workshop_table),
    "park": (gettext_lazy("园区万元产值能耗统计表"), park_output_value_table),
}
