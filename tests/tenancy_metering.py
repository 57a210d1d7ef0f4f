"""Out-of-reach entries for the meter and device registry (pages, API, admin models)."""

from __future__ import annotations

import itertools
from typing import Any

from tests.metering.registry_factories import (
    gateway_token_for,
    meter_for,
    modbus_device_for,
    modbus_point_for,
    mqtt_mapping_for,
    quarantined_message_for,
    site_node_for,
)
from tests.tenancy_objects import Attempt, out_of_reach, out_of_reach_model, write_attempts


def _pk(obj: Any) -> dict[str, Any]:
    return {"pk": obj.pk}


for _name in ("metering:meter_detail", "metering:meter_edit", "metering:meter_delete", "meter-detail"):
    out_of_reach(_name)(lambda world: _pk(meter_for(world.outsider)))
for _name in ("metering:site_edit", "metering:site_delete"):
    out_of_reach(_name)(lambda world: _pk(site_node_for(world.outsider)))
for _name in (
    "metering:device_detail",
    "metering:device_edit",
    "metering:device_delete",
    "modbus-device-detail",
):
    out_of_reach(_name)(lambda world: _pk(modbus_device_for(world.outsider)))
for _name in ("metering:mapping_edit", "metering:mapping_delete"):
    out_of_reach(_name)(lambda world: _pk(mqtt_mapping_for(world.outsider)))
for _name in ("metering:token_revoke", "gateway-token-detail"):
    out_of_reach(_name)(lambda world: _pk(gateway_token_for(world.outsider)))

out_of_reach_model("metering.SiteNode")(lambda world: site_node_for(world.outsider))
out_of_reach_model("metering.Meter")(lambda world: meter_for(world.outsider))
out_of_reach_model("metering.ModbusDevice")(lambda world: modbus_device_for(world.outsider))
out_of_reach_model("metering.ModbusPoint")(lambda world: modbus_point_for(world.outsider))
out_of_reach_model("metering.MqttMapping")(lambda world: mqtt_mapping_for(world.outsider))
out_of_reach_model("metering.GatewayToken")(lambda world: gateway_token_for(world.outsider))
out_of_reach_model("metering.QuarantinedMessage")(lambda world: quarantined_message_for(world.outsider))


# --- writes naming the outsider (create routes, and the role's own rows pointed at the outsider's) --

_new_serial = itertools.count(1)


def _new_code() -> str:
    return f"WALK-NEW-{next(_new_serial):06d}"


def _outsider(world: Any) -> dict[str, Any]:
    return {"enterprise": world.outsider.pk}


def _meter_fields(**overrides: Any) -> dict[str, Any]:
    return {"code": _new_code(), "name": "巡检新建表计", "level": 1, "energy_type": "electricity",
            "unit": "kWh", **overrides}


def _import_csv(**row: str) -> bytes:
    values = {"code": _new_code(), "name": "巡检导入表计", "level": "1", "energy_type": "electricity",
              "unit": "kWh", "parent": "", **row}
    return (",".join(values) + "\n" + ",".join(values.values()) + "\n").encode("utf-8")


def _point_fields(meter: Any) -> dict[str, Any]:
    return {"meter": meter.pk, "register_type": "holding", "address": 0, "data_type": "float32",
            "byte_order": "ABCD", "scale": 1.0, "offset": 0.0}


@write_attempts("metering:meter_create")
def _meter_create(world: Any, own: Any) -> list[Attempt]:
    parent, node = meter_for(world.outsider), site_node_for(world.outsider)
    return [
        Attempt("a meter in the outsider's enterprise", replay=True, query=_outsider(world),
                data=_meter_fields()),
        Attempt("a meter under the outsider's meter, in the outsider's site node", replay=True,
                data=_meter_fields(parent=parent.pk, site_node=node.pk)),
    ]


@write_attempts("metering:meter_import")
def _meter_import(world: Any, own: Any) -> list[Attempt]:
    parent = meter_for(world.outsider)
    return [
        Attempt("an import into the outsider's enterprise", query=_outsider(world),
                files={"file": ("meters.csv", _import_csv())}),
        Attempt("an imported meter under the outsider's meter (by its code)",
                files={"file": ("meters.csv", _import_csv(parent=parent.code))}),
    ]


@write_attempts("metering:site_list")
def _site_create(world: Any, own: Any) -> list[Attempt]:
    parent = site_node_for(world.outsider)
    return [
        Attempt("a site node in the outsider's enterprise", query=_outsider(world),
                data={"kind": "site", "name": "巡检新建厂区", "parent": ""}),
        Attempt("a workshop under the outsider's site", data={"kind": "workshop", "name": "巡检新建车间",
                                                             "parent": parent.pk}),
    ]


@write_attempts("metering:device_create")
def _device_create(world: Any, own: Any) -> list[Attempt]:
    return [Attempt("a Modbus device in the outsider's enterprise", replay=True, query=_outsider(world),
                    data={"name": "巡检新建设备", "host": "127.0.0.1", "port": 5020})]


@write_attempts("metering:mapping_create")
def _mapping_create(world: Any, own: Any) -> list[Attempt]:
    return [Attempt("an MQTT mapping in the outsider's enterprise", replay=True, query=_outsider(world),
                    data={"name": "巡检新建映射", "topic_pattern": "walk/{meter}/data", "ts_path": "ts",
                          "value_path": "value"})]


@write_attempts("metering:token_list")
def _token_create(world: Any, own: Any) -> list[Attempt]:
    return [Attempt("a gateway token of the outsider's enterprise", query=_outsider(world),
                    data={"name": "巡检新建网关"})]


@write_attempts("metering:device_detail")
def _own_device_points(world: Any, own: Any) -> list[Attempt]:
    if own is None:
        return []
    device, meter = modbus_device_for(own), meter_for(world.outsider)
    return [Attempt("a register of the role's own device reading the outsider's meter", replay=True,
                    kwargs={"pk": device.pk},
                    data={"points-0-meter": meter.pk, "points-0-address": 0})]


@write_attempts("meter-list")
def _api_meter_create(world: Any, own: Any) -> list[Attempt]:
    parent, node = meter_for(world.outsider), site_node_for(world.outsider)
    target = {"enterprise": own.pk} if own is not None else {}
    return [
        Attempt("a meter in the outsider's enterprise", json=True,
                data=_meter_fields(enterprise=world.outsider.pk)),
        Attempt("a meter under the outsider's meter", json=True,
                data=_meter_fields(parent=parent.pk, **target)),
        Attempt("a meter in the outsider's site node", json=True,
                data=_meter_fields(site_node=node.pk, **target)),
    ]


@write_attempts("meter-import")
def _api_meter_import(world: Any, own: Any) -> list[Attempt]:
    parent = meter_for(world.outsider)
    return [
        Attempt("an import into the outsider's enterprise", data={"enterprise": world.outsider.pk},
                files={"file": ("meters.csv", _import_csv())}),
        Attempt("an imported meter under the outsider's meter (by its code)",
                files={"file": ("meters.csv", _import_csv(parent=parent.code))}),
    ]


@write_attempts("modbus-device-list")
def _api_device_create(world: Any, own: Any) -> list[Attempt]:
    meter = meter_for(world.outsider)
    target = {"enterprise": own.pk} if own is not None else {}
    device = {"name": "巡检新建设备", "host": "127.0.0.1", "port": 5020}
    return [
        Attempt("a Modbus device in the outsider's enterprise", json=True,
                data={**device, "enterprise": world.outsider.pk, "points": []}),
        Attempt("a device with a register reading the outsider's meter", json=True,
                data={**device, **target, "points": [_point_fields(meter)]}),
    ]


@write_attempts("modbus-device-detail")
def _api_own_device_points(world: Any, own: Any) -> list[Attempt]:
    if own is None:
        return []
    device, meter = modbus_device_for(own), meter_for(world.outsider)
    points = {"points": [_point_fields(meter)]}
    whole = {"name": device.name, "host": device.host, "port": device.port, **points}
    return [
        Attempt("the role's own device given a register reading the outsider's meter", method="PATCH",
                json=True, kwargs={"pk": device.pk}, data=points),
        Attempt("the role's own device rewritten with a register reading the outsider's meter",
                method="PUT", json=True, kwargs={"pk": device.pk}, data=whole),
    ]


@write_attempts("meter-detail")
def _api_own_meter_relations(world: Any, own: Any) -> list[Attempt]:
    if own is None:
        return []
    mine, parent, node = meter_for(own), meter_for(world.outsider), site_node_for(world.outsider)
    return [
        Attempt("the role's own meter moved under the outsider's meter", method="PATCH", json=True,
                kwargs={"pk": mine.pk}, data={"parent": parent.pk}),
        Attempt("the role's own meter moved into the outsider's site node", method="PATCH", json=True,
                kwargs={"pk": mine.pk}, data={"site_node": node.pk}),
        Attempt("the role's own meter moved to the outsider's enterprise", method="PATCH", json=True,
                kwargs={"pk": mine.pk}, data={"enterprise": world.outsider.pk}),
    ]


@write_attempts("gateway-token-list")
def _api_token_create(world: Any, own: Any) -> list[Attempt]:
    return [Attempt("a gateway token of the outsider's enterprise", json=True,
                    data={"name": "巡检新建网关", "enterprise": world.outsider.pk})]
