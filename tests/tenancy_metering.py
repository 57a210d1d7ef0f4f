"""Out-of-reach entries for the meter and device registry (pages, API, admin models)."""

from __future__ import annotations

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
from tests.tenancy_objects import out_of_reach, out_of_reach_model


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
