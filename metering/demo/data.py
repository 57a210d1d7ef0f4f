"""Meters, a Modbus device and history for the demo enterprises (called by `seed_demo`).

Idempotent: run it again and it repairs what is missing without duplicating anything. The
register map comes from `metering.demo.simulator.DEMO_LAYOUT`, the same constant the simulator
serves, so `simulate_meters` answers exactly the addresses mapped here.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django_scopes import scopes_disabled

from metering.collectors.modbus.decoding import DATA_TYPES
from metering.demo.simulator import (
    DEMO_DEVICE_NAME,
    DEMO_LAYOUT,
    DEMO_MODBUS_HOST,
    DEMO_MODBUS_PORT,
    DEMO_MQTT_LAYOUT,
    DEMO_MQTT_PLANT_SCALE,
    SHANGHAI,
    DemoMeter,
    DemoPlant,
)
from metering.ingest.services import ResolvedReading, readings_ingest_resolved
from metering.models import Meter, ModbusDevice, ModbusPoint, SiteNode, Source
from metering.monitoring.models import ProductionRecord
from metering.monitoring.production import production_record_create
from metering.monitoring.rollups import rollups_recompute_dirty
from portal.models import Enterprise, User

logger = logging.getLogger(__name__)

# Modbus-fed demo enterprises, by their admin's user name, with the unit id each answers on.
DEMO_MODBUS_UNITS: dict[str, int] = {"demo_enterprise": 1, "demo_enterprise_b": 2}
# The enterprise whose meters arrive over MQTT (default topic contract) instead.
DEMO_MQTT_USERNAME = "demo_shanghai"
# The simulator's MQTT plant for that enterprise uses this "unit" to size its load.
DEMO_MQTT_PLANT_UNIT = 3
DEMO_SITE_NAME = "厂区"
# The demo park (by its admin's user name): its members get the same plant with history only (no
# live feed, so their boards show the meters going offline once the history ends), sized by these
# "units" in member order, so the park board has members to compare.
DEMO_PARK_USERNAME = "demo_park"
DEMO_PARK_MEMBER_UNITS = (4, 5)
DEMO_POLL_INTERVAL_S = 15
# History written at seeding time so the board has something to show at once: a reading every
# 15 minutes (the national slot) for the last week, and one a day at midnight for the 13 months
# before it (enough for a year of monthly trend and a year-on-year comparison). It follows the same
# curve the simulator serves live, so history and live data join without a jump.
DEMO_HISTORY_DAYS = 7
DEMO_HISTORY_STEP = dt.timedelta(minutes=15)
# The daily history reaches back over the whole previous calendar year (whatever today's date), so
# the applications' "last full year" figures (annual tce and CO₂) are measured from it.
DEMO_DAILY_HISTORY_DAYS = 800
# The Shanghai enterprise and the park's members keep every 15-minute slot for seven months: the
# Shanghai fund asks for collection stable for six months or more (seed 001 二.5), which the
# portal measures from the slots received; their applications meet it.
DEMO_STABLE_HISTORY_DAYS = 215
# Monthly production entered for the demo enterprises (product, unit, quantity and 万元 output a
# month), so intensities and unit product consumption are measured; from DEMO_OUTPUT_GROWTH_FROM
# output grows by DEMO_OUTPUT_GROWTH, as the applications' "after" figures report.
DEMO_PRODUCTION: dict[str, tuple[str, str, int, int]] = {
    "demo_enterprise": ("数控机床", "台", 180, 3900),
    "demo_enterprise_b": ("矿山机械", "t", 2600, 7800),
    "demo_shanghai": ("精密零部件", "万件", 42, 5600),
}
DEMO_OUTPUT_GROWTH_FROM = dt.date(2025, 11, 1)
DEMO_OUTPUT_GROWTH = 1.08
# Dirty rollup ranges recomputed per pass when the seed brings the rollups up to date itself.
DEMO_ROLLUP_PASS = 500


def _enterprise_of(username: str) -> Enterprise | None:
    user = (
        User.objects.filter(username=username, enterprise__isnull=False).select_related("enterprise").first()
    )
    return user.enterprise if user else None


def demo_modbus_units() -> dict[int, int]:
    """enterprise id -> unit id of the demo enterprises present in the database."""
    with scopes_disabled():  # seeding/simulating across the demo tenants, nothing user-facing
        units = {}
        for username, unit_id in DEMO_MODBUS_UNITS.items():
            enterprise = _enterprise_of(username)
            if enterprise is not None:
                units[enterprise.pk] = unit_id
        return units


def demo_mqtt_credit_code() -> str | None:
    with scopes_disabled():  # one lookup of the demo tenant's public identifier
        enterprise = _enterprise_of(DEMO_MQTT_USERNAME)
        return enterprise.credit_code if enterprise else None


def _register_max(meter: DemoMeter) -> float | None:
    """Where an unsigned integer register rolls over, in engineering units."""
    fmt, count = DATA_TYPES[meter.data_type]
    if fmt not in ("H", "I", "Q"):
        return None
    return (2 ** (16 * count) - 1) * meter.scale + meter.offset


def _site_node(enterprise: Enterprise, path: tuple[str, ...]) -> SiteNode:
    node, _ = SiteNode.objects.get_or_create(
        enterprise=enterprise, parent=None, name=DEMO_SITE_NAME, defaults={"kind": SiteNode.Kind.SITE}
    )
    for depth, name in enumerate(path):
        kind = SiteNode.Kind.WORKSHOP if depth == 0 else SiteNode.Kind.EQUIPMENT
        node, _ = SiteNode.objects.get_or_create(
            enterprise=enterprise, parent=node, name=name, defaults={"kind": kind}
        )
    return node


def _meters(enterprise: Enterprise, layout: tuple[DemoMeter, ...], *, registers: bool) -> dict[str, Meter]:
    meters: dict[str, Meter] = {}
    for spec in layout:  # parents come first in the layout
        meter = Meter.objects.filter(enterprise=enterprise, code=spec.code).first() or Meter(
            enterprise=enterprise, code=spec.code
        )
        meter.name = spec.name
        meter.level = spec.level
        meter.energy_type = spec.energy_type
        meter.unit = spec.unit
        meter.cumulative = True
        meter.register_max = _register_max(spec) if registers else None
        meter.parent = meters.get(spec.parent)
        meter.site_node = _site_node(enterprise, spec.site)
        meter.accuracy_class = "1.0" if spec.energy_type == "electricity" else "2.0"
        meter.full_clean()
        meter.save()
        meters[spec.code] = meter
    return meters


def _modbus_device(enterprise: Enterprise, unit_id: int, meters: dict[str, Meter]) -> ModbusDevice:
    device = ModbusDevice.objects.filter(
        enterprise=enterprise, name=DEMO_DEVICE_NAME
    ).first() or ModbusDevice(enterprise=enterprise, name=DEMO_DEVICE_NAME)
    device.protocol = ModbusDevice.Protocol.TCP
    device.host = DEMO_MODBUS_HOST
    device.port = DEMO_MODBUS_PORT
    device.unit_id = unit_id
    device.timeout_s = 2.0
    device.retries = 1
    device.backoff_s = 0.5
    device.poll_interval_s = DEMO_POLL_INTERVAL_S
    device.full_clean()
    device.save()
    for spec in DEMO_LAYOUT:
        point = ModbusPoint.objects.filter(device=device, meter=meters[spec.code]).first() or ModbusPoint(
            device=device, meter=meters[spec.code]
        )
        point.register_type = spec.register_type
        point.address = spec.address
        point.data_type = spec.data_type
        point.byte_order = spec.byte_order
        point.scale = spec.scale
        point.offset = spec.offset
        point.full_clean()
        point.save()
    return device


def history_instants(now: dt.datetime, *, recent_days: int = DEMO_HISTORY_DAYS) -> list[dt.datetime]:
    """When the seeded history has readings: daily at local midnight, then every 15 minutes for
    the last `recent_days`."""
    local = now.astimezone(SHANGHAI)
    end = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    recent_start = end - dt.timedelta(days=recent_days)
    first_midnight = recent_start.replace(hour=0, minute=0) - dt.timedelta(days=DEMO_DAILY_HISTORY_DAYS)
    daily = [first_midnight + dt.timedelta(days=d) for d in range(DEMO_DAILY_HISTORY_DAYS + 1)]
    steps = int((end - recent_start) / DEMO_HISTORY_STEP)
    recent = [recent_start + DEMO_HISTORY_STEP * i for i in range(steps)]
    return [at for at in daily if at < recent_start] + recent


def _history_rows(plant: DemoPlant, meters: dict[str, Meter], *, now: dt.datetime,
                  recent_days: int = DEMO_HISTORY_DAYS) -> list[ResolvedReading]:
    instants = history_instants(now, recent_days=recent_days)
    return [
        ResolvedReading(meter_id=meters[spec.code].pk, ts=at, value=round(plant.cumulative(spec, at), 3))
        for spec in plant.layout
        for at in instants
    ]


def _bring_rollups_up_to_date() -> None:
    """Recompute the rollups of the seeded history now, so the board shows it at once even when
    no Celery worker is running yet (with the embedded default the on-commit task already ran, and
    this finds nothing left to do)."""
    while rollups_recompute_dirty(limit=DEMO_ROLLUP_PASS).claimed:
        pass


def _seed_production(enterprise: Enterprise, spec: tuple[str, str, int, int], *, today: dt.date) -> None:
    """A production record per month over the daily history, where one is missing."""
    product, unit, quantity, output = spec
    month = (today - dt.timedelta(days=DEMO_DAILY_HISTORY_DAYS)).replace(day=1)
    have = set(ProductionRecord.objects.filter(enterprise=enterprise, product=product)
               .values_list("month", flat=True))
    while month < today.replace(day=1):
        if month not in have:
            growth = DEMO_OUTPUT_GROWTH if month >= DEMO_OUTPUT_GROWTH_FROM else 1.0
            production_record_create(enterprise=enterprise, fields={
                "month": month, "product": product, "unit": unit,
                "quantity": Decimal(str(round(quantity * growth, 1))),
                "output_value_wan_yuan": Decimal(str(round(output * growth, 1)))})
        month = (month + dt.timedelta(days=32)).replace(day=1)


def seed_metering_demo(*, now: dt.datetime | None = None) -> None:
    """Create or repair the demo meter trees, Modbus devices, MQTT meters and their history (see
    DEMO_HISTORY_DAYS), with its rollups.

    Does nothing for demo enterprises that do not exist (seed the organizations first).
    """
    now = now or timezone.now()
    history: list[ResolvedReading] = []
    # scopes_disabled: seeding builds rows of several demo tenants at once, like a data migration.
    with scopes_disabled(), transaction.atomic():
        for username, unit_id in DEMO_MODBUS_UNITS.items():
            enterprise = _enterprise_of(username)
            if enterprise is None:
                continue
            meters = _meters(enterprise, DEMO_LAYOUT, registers=True)
            _modbus_device(enterprise, unit_id, meters)
            history += _history_rows(DemoPlant(unit_id=unit_id), meters, now=now)
        enterprise = _enterprise_of(DEMO_MQTT_USERNAME)
        if enterprise is not None:
            meters = _meters(enterprise, DEMO_MQTT_LAYOUT, registers=False)
            history += _history_rows(
                DemoPlant(unit_id=DEMO_MQTT_PLANT_UNIT, layout=DEMO_MQTT_LAYOUT,
                          scale=DEMO_MQTT_PLANT_SCALE),
                meters, now=now, recent_days=DEMO_STABLE_HISTORY_DAYS,
            )
        park = _enterprise_of(DEMO_PARK_USERNAME)
        members = list(Enterprise.objects.filter(park=park).order_by("id")) if park is not None else []
        for member, unit_id in zip(members, DEMO_PARK_MEMBER_UNITS, strict=False):
            meters = _meters(member, DEMO_MQTT_LAYOUT, registers=False)
            history += _history_rows(DemoPlant(unit_id=unit_id, layout=DEMO_MQTT_LAYOUT), meters, now=now,
                                     recent_days=DEMO_STABLE_HISTORY_DAYS)
        for username, spec in DEMO_PRODUCTION.items():
            enterprise = _enterprise_of(username)
            if enterprise is not None:
                _seed_production(enterprise, spec, today=now.astimezone(SHANGHAI).date())
    if history:
        # Idempotent on (meter, ts): a second seed counts these as duplicates.
        result = readings_ingest_resolved(rows=history, source=Source.IMPORT.value)
        logger.info("demo history: %d readings written, %d already there", result.accepted, result.duplicates)
        with scopes_disabled():  # the rollups of every demo tenant's history
            _bring_rollups_up_to_date()
