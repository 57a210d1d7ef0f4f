"""Eligibility: each of a program's basic conditions judged before submission, with its reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from applications.definitions import EligibilityRule, ProgramDefinition
from applications.evidence import MeasuredFigure
from applications.values import Context, condition_holds, label_of
from portal.models import Enterprise

PASSED = "passed"
FAILED = "failed"
UNKNOWN = "unknown"  # cannot be judged yet: a figure or a field is missing


@dataclass(frozen=True)
class RuleResult:
    key: str
    label: str
    outcome: str  # PASSED, FAILED or UNKNOWN
    reason: str
    seed: str | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == PASSED


def _judge(rule: EligibilityRule, *, enterprise: Enterprise, values: Mapping[str, Any],
           figures: Mapping[str, MeasuredFigure], context: Context) -> tuple[str, str]:
    if rule.check == "region":
        path = enterprise.region.path if enterprise.region_id else ""
        assert rule.region is not None
        if rule.region in path.split("/") or enterprise.region.code == rule.region:
            return PASSED, _("注册地：%(region)s") % {"region": enterprise.region.name}
        return FAILED, _("注册地 %(region)s 不在本项目的申报范围内") % {"region": enterprise.region.name}
    if rule.check == "enterprise_kind":
        kind_label = Enterprise.Kind(enterprise.kind).label
        if enterprise.kind in (rule.kinds or ()):
            return PASSED, _("单位类型：%(kind)s") % {"kind": kind_label}
        return FAILED, _("单位类型“%(kind)s”不在本项目的申报范围内") % {"kind": kind_label}
    if rule.check == "evidence_gte":
        figure = figures.get(rule.evidence or "")
        if figure is None or figure.value is None:
            why = figure.why_missing if figure is not None else ""
            return UNKNOWN, _("尚无测得值%(why)s") % {"why": f"（{why}）" if why else ""}
        period = f"{figure.period_start:%Y-%m-%d}–{figure.period_end:%Y-%m-%d}"
        text = _("测得 %(value)s %(unit)s（%(period)s），要求不低于 %(limit)s %(unit)s") % {
            "value": figure.value, "unit": figure.unit, "period": period, "limit": rule.value}
        assert rule.value is not None
        return (PASSED if figure.value >= rule.value else FAILED), text
    if rule.check == "declaration":
        if values.get(rule.field or "") is True:
            return PASSED, _("申报单位已声明")
        return UNKNOWN, _("请在表中勾选声明")
    assert rule.when is not None
    names = _condition_fields(rule.when)
    if any(values.get(name) is None for name in names):
        return UNKNOWN, _("请先填写：%(fields)s") % {"fields": "、".join(names)}
    if condition_holds(rule.when, values=values, context=context):
        return PASSED, _("符合")
    return FAILED, _("不符合")


def _condition_fields(condition: Mapping[str, Any]) -> list[str]:
    if "field" in condition:
        return [str(condition["field"])]
    found: list[str] = []
    for key in ("all", "any"):
        for item in condition.get(key, ()):
            found += _condition_fields(item)
    if "not" in condition:
        found += _condition_fields(condition["not"])
    return found


def eligibility_check(definition: ProgramDefinition, *, enterprise: Enterprise, values: Mapping[str, Any],
                      figures: Sequence[MeasuredFigure], context: Context) -> list[RuleResult]:
    """Every applicable rule of the definition with its outcome and the reason for it."""
    by_key = {figure.key: figure for figure in figures}
    results = []
    for rule in definition.eligibility:
        if rule.applies_if is not None and not condition_holds(
                rule.applies_if, values=values, context=context):
            continue
        outcome, reason = _judge(rule, enterprise=enterprise, values=values, figures=by_key, context=context)
        results.append(RuleResult(key=rule.key, label=label_of(rule.label), outcome=outcome, reason=reason,
                                  seed=rule.seed))
    return results
