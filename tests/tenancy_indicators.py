"""Out-of-reach entries and writes naming the outsider for the indicators API and the production
pages (metering/monitoring/production_views.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django_scopes import scopes_disabled

from metering.monitoring.models import BasePeriod, ProductionRecord
from tests.metering.registry_factories import site_node_for
from tests.tenancy_objects import Attempt, out_of_reach, write_attempts

_serial = itertools.count(1)


def production_record_for(enterprise: Any, **fields: Any) -> ProductionRecord:
    values = {"month": dt.date(2025, 3, 1), "product": f"巡检产品{next(_serial):06d}",
              "quantity": Decimal(10), "unit": "t", "output_value_wan_yuan": Decimal(1), **fields}
    with scopes_disabled():
        return ProductionRecord.objects.create(enterprise=enterprise, **values)


for _name in ("metering:production_edit", "metering:production_delete"):
    out_of_reach(_name)(lambda world: {"pk": production_record_for(world.outsider).pk})


@out_of_reach("enterprise-indicators")
def _indicators(world: Any) -> dict[str, Any]:
    return {"enterprise_id": world.outsider.pk}


def _record_fields(**overrides: Any) -> dict[str, Any]:
    return {"month": "2025-03", "product": f"巡检新建产品{next(_serial):06d}", "quantity": "5", "unit": "t",
            "output_value_wan_yuan": "1", **overrides}


@write_attempts("metering:production_create")
def _production_create(world: Any, own: Any) -> list[Attempt]:
    node = site_node_for(world.outsider)
    return [
        Attempt("a production record of the outsider's enterprise", replay=True,
                query={"enterprise": world.outsider.pk}, data=_record_fields()),
        Attempt("a production record on the outsider's site node", replay=True,
                data=_record_fields(site_node=node.pk)),
    ]


@write_attempts("metering:production_edit")
def _own_production_on_outsider_node(world: Any, own: Any) -> list[Attempt]:
    if own is None:
        return []
    record, node = production_record_for(own), site_node_for(world.outsider)
    return [Attempt("the role's own record moved onto the outsider's site node", replay=True,
                    kwargs={"pk": record.pk}, data={"site_node": node.pk})]


@write_attempts("metering:base_period")
def _base_period(world: Any, own: Any) -> list[Attempt]:
    outsider = {"enterprise": world.outsider.pk}
    with scopes_disabled():  # something to change and to clear
        BasePeriod.objects.get_or_create(enterprise=world.outsider, defaults={
            "start_month": dt.date(2023, 1, 1), "end_month": dt.date(2023, 12, 1)})
    return [
        Attempt("a base period of the outsider's enterprise", query=outsider,
                data={"start_month": "2024-01", "end_month": "2024-12", "note": "巡检"}),
        Attempt("clearing the outsider's base period", query=outsider, data={"action": "clear"}),
    ]
