"""Builders of registry rows for tests (meters, site nodes, devices, points, mappings, tokens).

Names and codes carry a fixed-width serial, so each is a needle the tenancy walk can search
pages for (see tests/factories.py).
"""

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
    serial = next(_serial)
    values = {
        "code": f"TEST-M-{serial:06d}",
        "name": f"测试电能表{serial:06d}号",
        "level": 1,
        "energy_type": "electricity",
        "unit": "kWh",
        **fields,
    }
    with scopes_disabled():
        return Meter.objects.create(enterprise=enterprise, **values)


def site_node_for(enterprise: Enterprise, **fields: Any) -> SiteNode:
    values = {"kind": SiteNode.Kind.SITE, "name": f"测试厂区{next(_serial):06d}号", **fields}
    with scopes_disabled():
        return SiteNode.objects.create(enterprise=enterprise, **values)


def modbus_device_for(enterprise: Enterprise, **fields: Any) -> ModbusDevice:
    values = {"name": f"测试设备{next(_serial):06d}号", "host": "127.0.0.1", "port": 5020, **fields}
    with scopes_disabled():
        return ModbusDevice.objects.create(enterprise=enterprise, **values)


def modbus_point_for(enterprise: Enterprise, **fields: Any) -> ModbusPoint:
    device = fields.pop("device", None) or modbus_device_for(enterprise)
    meter = fields.pop("meter", None) or meter_for(enterprise)
    values = {"address": 0, **fields}
    with scopes_disabled():
        return ModbusPoint.objects.create(device=device, meter=meter, **values)


def mqtt_mapping_for(enterprise: Enterprise, **fields: Any) -> MqttMapping:
    values = {"name": f"测试映射{next(_serial):06d}号", "topic_pattern": "plant/{meter}/data", **fields}
    with scopes_disabled():
        return MqttMapping.objects.create(enterprise=enterprise, **values)


def gateway_token_for(enterprise: Enterprise, **fields: Any) -> GatewayToken:
    serial = next(_serial)
    values = {
        "name": f"测试网关{serial:06d}号",
        "token_prefix": f"ngw_t{serial:05d}"[:10],
        "token_sha256": hashlib.sha256(f"test-token-{serial}-{enterprise.pk}".encode()).hexdigest(),
        "mosquitto_password_hash": "$7$101$x$y",
        **fields,
    }
    with scopes_disabled():
        return GatewayToken.objects.create(enterprise=enterprise, **values)


def quarantined_message_for(enterprise: Enterprise, **fields: Any) -> QuarantinedMessage:
    payload = fields.pop("payload", b"{not json")
    serial = next(_serial)
    values = {
        "source": Source.MQTT,
        "channel": f"plant/test-{serial:06d}/data",
        "reason": f"JSON 格式错误（测试隔离{serial:06d}号）",
        **fields,
    }
    with scopes_disabled():
        return QuarantinedMessage.objects.create(
            enterprise=enterprise, payload=payload, payload_size=len(payload), **values
        )
