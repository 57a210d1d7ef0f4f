"""Serializers of the meter and device registry API. Thin: writes go through metering.registry.services.

Related rows (enterprise, parent meter, site node, a point's meter) are accepted by id and
resolved inside the target enterprise only; an id of another tenant answers the same field
error as a missing one ("不存在。"), so the API never reveals another tenant's rows.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from metering.models import Meter, ModbusDevice, ModbusPoint, SiteNode
from metering.registry import services
from metering.registry.rights import can_manage_registry, is_platform_admin
from portal.models import Enterprise


def _not_found() -> str:
    return _("不存在。")


class EnterpriseTargetMixin:
    """Resolves the `enterprise` a new row is written into: the caller's own by default."""

    context: dict[str, Any]
    instance: Any

    def _target_enterprise(self, attrs: dict[str, Any]) -> Enterprise:
        requested = attrs.pop("enterprise_id", None)
        if self.instance is not None:
            if requested is not None and requested != self.instance.enterprise_id:
                raise serializers.ValidationError({"enterprise": [_("不能把已有记录移到其他企业。")]})
            return self.instance.enterprise
        user = self.context["request"].user
        enterprise_id = requested if requested is not None else user.enterprise_id
        if enterprise_id is None:
            raise serializers.ValidationError({"enterprise": [_("请指定企业。")]})
        if not can_manage_registry(user, enterprise_id):
            raise serializers.ValidationError({"enterprise": [_not_found()]})
        enterprise = (
            Enterprise.objects.filter(pk=enterprise_id).first()
            if is_platform_admin(user)
            else (user.enterprise)
        )
        if enterprise is None:
            raise serializers.ValidationError({"enterprise": [_not_found()]})
        return enterprise


class RegistryRowSerializer(EnterpriseTargetMixin, serializers.ModelSerializer):
    """A registry row of one enterprise, written through its service.

    Subclasses resolve their related ids inside the target enterprise (`resolve_relations`)
    and name the service calls (`service_create`, `service_update`).
    """

    def resolve_relations(self, attrs: dict[str, Any], enterprise: Enterprise) -> None:
        """Replace related ids in `attrs` by rows of `enterprise`; raise a field error for any other id."""

    def service_create(self, enterprise: Enterprise, fields: dict[str, Any]) -> Any:
        raise NotImplementedError

    def service_update(self, instance: Any, fields: dict[str, Any]) -> Any:
        raise NotImplementedError

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        enterprise = self._target_enterprise(attrs)
        self.resolve_relations(attrs, enterprise)
        attrs["_enterprise"] = enterprise
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Any:
        enterprise = validated_data.pop("_enterprise")
        return self.service_create(enterprise, validated_data)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        validated_data.pop("_enterprise")
        return self.service_update(instance, validated_data)


class MeterSerializer(RegistryRowSerializer):
    enterprise = serializers.IntegerField(source="enterprise_id", required=False)
    # The stubs see Field.parent here; at runtime DRF's metaclass moves declared fields off the class.
    parent = serializers.IntegerField(  # type: ignore[assignment]
        source="parent_id", required=False, allow_null=True
    )
    site_node = serializers.IntegerField(source="site_node_id", required=False, allow_null=True)
    site_path = serializers.SerializerMethodField()

    class Meta:
        model = Meter
        fields = ["id", "enterprise", *services.METER_FIELDS, "site_path", "created_at", "last_reading_at"]
        read_only_fields = ["created_at", "last_reading_at"]
        # Uniqueness of the code is checked by the service, with a message naming the code.
        validators: list[Any] = []

    def get_site_path(self, meter: Meter) -> str:
        return services.site_node_path(meter.site_node) if meter.site_node_id else ""

    def resolve_relations(self, attrs: dict[str, Any], enterprise: Enterprise) -> None:
        errors: dict[str, list[str]] = {}
        if "parent_id" in attrs:
            parent_id = attrs.pop("parent_id")
            attrs["parent"] = None
            if parent_id is not None:
                attrs["parent"] = Meter.objects.filter(enterprise=enterprise, pk=parent_id).first()
                if attrs["parent"] is None:
                    errors["parent"] = [_not_found()]
        if "site_node_id" in attrs:
            node_id = attrs.pop("site_node_id")
            attrs["site_node"] = None
            if node_id is not None:
                attrs["site_node"] = SiteNode.objects.filter(enterprise=enterprise, pk=node_id).first()
                if attrs["site_node"] is None:
                    errors["site_node"] = [_not_found()]
        if errors:
            raise serializers.ValidationError(errors)

    def service_create(self, enterprise: Enterprise, fields: dict[str, Any]) -> Meter:
        return services.meter_create(enterprise=enterprise, **fields)

    def service_update(self, instance: Meter, fields: dict[str, Any]) -> Meter:
        return services.meter_update(meter=instance, **fields)


class ModbusPointSerializer(serializers.ModelSerializer):
    meter = serializers.IntegerField(source="meter_id")
    meter_code = serializers.CharField(source="meter.code", read_only=True)
    count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ModbusPoint
        fields = [
            "id",
            "meter",
            "meter_code",
            "register_type",
            "address",
            "count",
            "data_type",
            "byte_order",
            "scale",
            "offset",
        ]
        read_only_fields = ["id"]
        validators: list[Any] = []


def _flatten_point_errors(detail: Any) -> Any:
    """{"points": [{}, {"meter": [...]}]} (or {"points": {"1": {...}}}) → {"points[1].meter": [...]}."""
    if not isinstance(detail, dict) or not isinstance(detail.get("points"), list | dict):
        return detail
    nested = detail["points"]
    items = nested.items() if isinstance(nested, dict) else enumerate(nested)
    flat = {key: value for key, value in detail.items() if key != "points"}
    leftovers = []
    for index, item in items:
        if isinstance(item, dict):
            for field_name, messages in item.items():
                flat[f"points[{index}].{field_name}"] = messages
        elif item:
            leftovers.extend(item if isinstance(item, list) else [item])
    if leftovers:
        flat["points"] = leftovers
    return flat


class ModbusDeviceSerializer(RegistryRowSerializer):
    enterprise = serializers.IntegerField(source="enterprise_id", required=False)
    points = ModbusPointSerializer(many=True, required=False)
    success_rate = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ModbusDevice
        fields = [
            "id",
            "enterprise",
            *services.MODBUS_DEVICE_FIELDS,
            "status",
            "last_polled_at",
            "last_success_at",
            "consecutive_failures",
            "success_rate",
            "last_error",
            "points",
        ]
        read_only_fields = [
            "status",
            "last_polled_at",
            "last_success_at",
            "consecutive_failures",
            "last_error",
        ]
        validators: list[Any] = []

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_flatten_point_errors(exc.detail)) from None

    def resolve_relations(self, attrs: dict[str, Any], enterprise: Enterprise) -> None:
        if "points" in attrs:
            points = attrs["points"]
            wanted = {p["meter_id"] for p in points}
            meters = {m.pk: m for m in Meter.objects.filter(enterprise=enterprise, pk__in=wanted)}
            errors = {}
            for index, point in enumerate(points):
                meter = meters.get(point.pop("meter_id"))
                if meter is None:
                    errors[f"points[{index}].meter"] = [_not_found()]
                point["meter"] = meter
            if errors:
                raise serializers.ValidationError(errors)

    def service_create(self, enterprise: Enterprise, fields: dict[str, Any]) -> ModbusDevice:
        return services.modbus_device_create(enterprise=enterprise, **fields)

    def service_update(self, instance: ModbusDevice, fields: dict[str, Any]) -> ModbusDevice:
        return services.modbus_device_update(device=instance, **fields)


class MeterImportSerializer(serializers.Serializer):
    file = serializers.FileField()
    enterprise = serializers.IntegerField(required=False)
