"""Builders of registry rows for tests (meters, site nodes, devices, points, mappings, tokens)."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

from django_scopes import scopes_disabled

from metering.models import (
    GatewayToken,
    Meter,
    ModbusDevice,
    ModbusPoint,
    MqttMapping,
    QuarantinedMessage,
    SiteNode,
    Source,
)
from portal.models import Enterprise

_serial = itertools.count(1)


def meter_for(enterprise: Enterprise, **fields: Any) -> Meter:
    values = {
        "code": f"T-{next(_serial):05d}",
        "name": "测试电能表",
        "level": 1,
        "energy_type": "electricity",
        "unit": "kWh",
        **fields,
    }
    with scopes_disabled():
        return Meter.objects.create(enterprise=enterprise, **values)


def site_node_for(enterprise: Enterprise, **fields: Any) -> SiteNode:
    values = {"kind": SiteNode.Kind.SITE, "name": f"厂区{next(_serial)}", **fields}
    with scopes_disabled():
        return SiteNode.objects.create(enterprise=enterprise, **values)


def modbus_device_for(enterprise: Enterprise, **fields: Any) -> ModbusDevice:
    values = {"name": f"设备{next(_serial)}", "host": "127.0.0.1", "port": 5020, **fields}
    with scopes_disabled():
        return ModbusDevice.objects.create(enterprise=enterprise, **values)


def modbus_point_for(enterprise: Enterprise, **fields: Any) -> ModbusPoint:
    device = fields.pop("device", None) or modbus_device_for(enterprise)
    meter = fields.pop("meter", None) or meter_for(enterprise)
    values = {"address": 0, **fields}
    with scopes_disabled():
        return ModbusPoint.objects.create(device=device, meter=meter, **values)


def mqtt_mapping_for(enterprise: Enterprise, **fields: Any) -> MqttMapping:
    values = {"name": f"映射{next(_serial)}", "topic_pattern": "plant/{meter}/data", **fields}
    with scopes_disabled():
        return MqttMapping.objects.create(enterprise=enterprise, **values)


def gateway_token_for(enterprise: Enterprise, **fields: Any) -> GatewayToken:
    serial = next(_serial)
    values = {
        "name": f"网关{serial}",
        "token_prefix": f"ngw_t{serial:05d}"[:10],
        "token_sha256": hashlib.sha256(f"test-token-{serial}-{enterprise.pk}".encode()).hexdigest(),
        "mosquitto_password_hash": "$7$101$x$y",
        **fields,
    }
    with scopes_disabled():
        return GatewayToken.objects.create(enterprise=enterprise, **values)


def quarantined_message_for(enterprise: Enterprise, **fields: Any) -> QuarantinedMessage:
    payload = fields.pop("payload", b"{not json")
    values = {"source": Source.MQTT, "channel": "plant/x/data", "reason": "JSON 格式错误", **fields}
    with scopes_disabled():
        return QuarantinedMessage.objects.create(
            enterprise=enterprise, payload=payload, payload_size=len(payload), **values
        )
