"""Production data the enterprise enters (产量与产值) and its base period (节能基期): the services
that write them and the selectors the pages read.

Every function takes keyword-only arguments, validates with `full_clean()` and runs in one
transaction; the audit trail is written by model signals (metering/monitoring/signals.py).
Callers (pages) have checked reach and rights; these functions never widen them: a site node
given must belong to the record's enterprise (ProductionRecord.clean).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from metering.monitoring.models import BasePeriod, ProductionRecord
from portal.models import Enterprise

PRODUCTION_FIELDS: tuple[str, ...] = (
    "month", "site_node", "product", "quantity", "unit", "output_value_wan_yuan", "note",
)
BASE_PERIOD_FIELDS: tuple[str, ...] = ("start_month", "end_month", "note")


def _apply(instance: Any, fields: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(instance, name, value)


def _check_unique(record: ProductionRecord) -> None:
    clash = ProductionRecord.objects.filter(enterprise_id=record.enterprise_id, month=record.month,
                                            site_node_id=record.site_node_id, product=record.product)
    if record.pk is not None:
        clash = clash.exclude(pk=record.pk)
    if clash.exists():
        raise ValidationError({"product": _("该月份、车间/产线已有此产品的记录，请修改原记录。")})


# --- services -------------------------------------------------------------------------------------


@transaction.atomic
def production_record_create(*, enterprise: Enterprise, fields: Mapping[str, Any]) -> ProductionRecord:
    record = ProductionRecord(enterprise=enterprise)
    _apply(record, fields, PRODUCTION_FIELDS)
    record.full_clean(validate_constraints=False)
    _check_unique(record)
    record.save()
    return record


@transaction.atomic
def production_record_update(*, record: ProductionRecord, fields: Mapping[str, Any]) -> ProductionRecord:
    _apply(record, fields, PRODUCTION_FIELDS)
    record.full_clean(validate_constraints=False)
    _check_unique(record)
    record.save()
    return record


@transaction.atomic
def production_record_delete(*, record: ProductionRecord) -> None:
    record.delete()


@transaction.atomic
def base_period_set(*, enterprise: Enterprise, fields: Mapping[str, Any]) -> BasePeriod:
    """Create or change the enterprise's base period (one per enterprise)."""
    base = BasePeriod.objects.filter(enterprise_id=enterprise.pk).first() or BasePeriod(enterprise=enterprise)
    _apply(base, fields, BASE_PERIOD_FIELDS)
    base.full_clean(validate_unique=False)
    base.save()
    return base


@transaction.atomic
def base_period_clear(*, enterprise: Enterprise) -> None:
    for base in BasePeriod.objects.filter(enterprise_id=enterprise.pk):
        base.delete()


# --- selectors ------------------------------------------------------------------------------------


def production_records(*, enterprise: Enterprise, month: dt.date | None = None,
                       product: str = "") -> QuerySet[ProductionRecord]:
    """The enterprise's records, newest month first, optionally of one month and product (contains)."""
    queryset = ProductionRecord.objects.filter(enterprise_id=enterprise.pk).select_related("site_node")
    if month is not None:
        queryset = queryset.filter(month=month.replace(day=1))
    if product:
        queryset = queryset.filter(product__icontains=product)
    return queryset.order_by("-month", "product", "id")


def base_period_of(enterprise: Enterprise) -> BasePeriod | None:
    return BasePeriod.objects.filter(enterprise_id=enterprise.pk).first()
