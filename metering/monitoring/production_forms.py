"""Forms of the production pages: they parse input and offer the enterprise's own workshops and
lines; writes go through metering/monitoring/production.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_scopes import scopes_disabled

from metering.models import SiteNode
from metering.monitoring.models import BasePeriod, ProductionRecord
from metering.monitoring.production import BASE_PERIOD_FIELDS, PRODUCTION_FIELDS
from metering.registry.forms import EnterpriseModelForm, relation_field
from portal.models import Enterprise

MONTH_FORMATS = ["%Y-%m", "%Y-%m-%d"]


class MonthField(forms.DateField):
    """A calendar month (<input type="month">, "2025-03"), kept as its first day."""

    widget = forms.DateInput(attrs={"type": "month"}, format="%Y-%m")

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", MONTH_FORMATS)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.date | None:
        day = super().to_python(value)
        return day.replace(day=1) if day is not None else None


# A ModelForm with a relation field evaluates `SiteNode.objects.all()` at import, where no scope
# exists; the queryset is replaced per request by the enterprise's own nodes (see registry forms).
with scopes_disabled():

    class ProductionRecordForm(EnterpriseModelForm):
        month = MonthField(label=_("月份"))

        class Meta:
            model = ProductionRecord
            fields = list(PRODUCTION_FIELDS)

        def __init__(self, *args: Any, enterprise: Enterprise, **kwargs: Any) -> None:
            super().__init__(*args, enterprise=enterprise, **kwargs)
            nodes = relation_field(self, "site_node")
            kinds = [SiteNode.Kind.SITE, SiteNode.Kind.WORKSHOP, SiteNode.Kind.LINE]
            nodes.queryset = (SiteNode.objects.filter(enterprise=enterprise, kind__in=kinds)
                              .order_by("kind", "name"))
            nodes.empty_label = str(_("全厂（不分车间/产线）"))


class BasePeriodForm(EnterpriseModelForm):
    start_month = MonthField(label=_("基期起始月"))
    end_month = MonthField(label=_("基期截止月"), help_text=_("含该月。"))

    class Meta:
        model = BasePeriod
        fields = list(BASE_PERIOD_FIELDS)


class ProductionFilterForm(forms.Form):
    month = MonthField(label=_("月份"), required=False)
    product = forms.CharField(label=_("产品名称"), required=False, max_length=100)
