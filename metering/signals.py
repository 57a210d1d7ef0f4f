"""Which metering models leave an audit row on every write.

Reading is left out on purpose: readings arrive in bulk (millions a day) and the ingest path
records batches, not rows.
"""

from metering.models import (
    GatewayToken,
    Meter,
    ModbusDevice,
    ModbusPoint,
    MqttMapping,
    QuarantinedMessage,
    SiteNode,
)
from portal import audit

for _model in (SiteNode, Meter, ModbusDevice, ModbusPoint, MqttMapping, GatewayToken, QuarantinedMessage):
    audit.register(_model)

# A point reaches its enterprise through its device; the audit row should carry that enterprise.
ModbusPoint.audit_enterprise_path = "device.enterprise_id"  # type: ignore[attr-defined]
