"""The registry in the role-based admin: platform admins manage everything, officials read
their region's registry. Enterprise users work in the pages under /metering/, not here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from metering.models import (
    GatewayToken,
    Meter,
    ModbusDevice,
    ModbusPoint,
    MqttMapping,
    QuarantinedMessage,
    SiteNode,
)
from metering.registry import services
from metering.registry.forms import MeterAdminForm, ModbusPointFormSet, payload_preview
from portal.admin_site import ReachModelAdmin, ReadOnlyAdminMixin, admin_site
from portal.models import Role

# Officials read the registry of the enterprises in their region; they never change it.
OFFICIALS_VIEW: dict[str, frozenset[str]] = {
    Role.MUNICIPAL_REVIEWER: frozenset({"view"}),
    Role.PROVINCIAL_OFFICER: frozenset({"view"}),
}


class RegistryAdmin(ReachModelAdmin):
    reach_path = "enterprise"
    role_rights = OFFICIALS_VIEW


@admin.register(SiteNode, site=admin_site)
class SiteNodeAdmin(RegistryAdmin):
    list_display = ["name", "kind", "parent", "enterprise"]
    list_filter = ["kind"]
    search_fields = ["name", "enterprise__name"]
    list_select_related = ["parent", "enterprise"]


@admin.register(Meter, site=admin_site)
class MeterAdmin(RegistryAdmin):
    list_display = [
        "code",
        "name",
        "level",
        "energy_type",
        "unit",
        "cumulative",
        "parent",
        "enterprise",
        "is_active",
        "last_reading_at",
    ]
    list_filter = ["level", "energy_type", "is_active", "cumulative", "is_it_load"]
    search_fields = ["code", "name", "enterprise__name", "data_item_code"]
    list_select_related = ["parent", "enterprise"]
    readonly_fields = ["created_at", "last_reading_at"]
    form = MeterAdminForm


class ModbusPointInline(admin.TabularInline):
    model = ModbusPoint
    formset = ModbusPointFormSet
    extra = 0
    fields = list(services.MODBUS_POINT_FIELDS)

    def _admin(self) -> ReachModelAdmin:
        return self.admin_site._registry[ModbusDevice]  # type: ignore[return-value]

    # An inline follows the rights of its device's admin (roles, not Django model permissions).
    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._admin().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._admin().has_change_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._admin().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._admin().has_change_permission(request, obj)


@admin.register(ModbusDevice, site=admin_site)
class ModbusDeviceAdmin(RegistryAdmin):
    list_display = [
        "name",
        "enterprise",
        "protocol",
        "endpoint",
        "enabled",
        "status",
        "last_success_at",
        "consecutive_failures",
    ]
    list_filter = ["protocol", "status", "enabled"]
    search_fields = ["name", "host", "enterprise__name"]
    list_select_related = ["enterprise"]
    inlines = [ModbusPointInline]
    readonly_fields = [
        "status",
        "next_poll_at",
        "last_polled_at",
        "last_success_at",
        "consecutive_failures",
        "polls_total",
        "polls_ok",
        "last_error",
    ]

    @admin.display(description=_("地址"))
    def endpoint(self, device: ModbusDevice) -> str:
        if device.protocol == ModbusDevice.Protocol.RTU:
            return f"{device.serial_port} #{device.unit_id}"
        return f"{device.host}:{device.port} #{device.unit_id}"


@admin.register(MqttMapping, site=admin_site)
class MqttMappingAdmin(RegistryAdmin):
    list_display = ["name", "enterprise", "topic_pattern", "enabled"]
    list_filter = ["enabled"]
    search_fields = ["name", "topic_pattern", "enterprise__name"]
    list_select_related = ["enterprise"]


@admin.register(GatewayToken, site=admin_site)
class GatewayTokenAdmin(RegistryAdmin):
    """View only: a token is issued in the enterprise's pages, where its value is shown once."""

    list_display = ["name", "enterprise", "token_prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "token_prefix", "enterprise__name"]
    fields = ("enterprise", "name", "token_prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(QuarantinedMessage, site=admin_site)
class QuarantinedMessageAdmin(ReadOnlyAdminMixin, RegistryAdmin):
    """Read-only: quarantined input is evidence of what arrived and is never edited."""

    list_display = ["received_at", "enterprise", "source", "channel", "reason", "payload_size"]
    list_filter = ["source", "resolved"]
    search_fields = ["channel", "reason", "enterprise__name"]
    list_select_related = ["enterprise"]
    fields = (
        "enterprise",
        "source",
        "channel",
        "item_index",
        "reason",
        "payload_size",
        "payload_sha256",
        "preview",
        "received_at",
        "resolved",
    )
    readonly_fields = fields

    @admin.display(description=_("内容预览"))
    def preview(self, message: QuarantinedMessage) -> str:
        kind, text = payload_preview(message.payload)
        return format_html("<code>{}</code> <small>({})</small>", text, kind)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("enterprise")
