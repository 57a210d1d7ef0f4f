"""The outbox in the role-based admin: platform admins configure the platform endpoints; the
messages are shown read-only (to officials within reach too), never edited by hand."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from metering.outbox.adapters import adapter_choices
from metering.outbox.models import OutboxInterval, OutboxMessage, PlatformEndpoint
from portal.admin_site import ReachModelAdmin, ReadOnlyAdminMixin, admin_site
from portal.models import Enterprise, Role

OFFICIALS_VIEW: dict[str, frozenset[str]] = {
    Role.MUNICIPAL_REVIEWER: frozenset({"view"}),
    Role.PROVINCIAL_OFFICER: frozenset({"view"}),
}


class PlatformEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("上传地址"), max_length=500, assume_scheme="https",
                         help_text=_("必须使用 HTTPS。"))
    adapter = forms.ChoiceField(label=_("接口适配器"), choices=adapter_choices)
    enterprise_kinds = forms.MultipleChoiceField(
        label=_("服务的单位类型"), choices=Enterprise.Kind.choices, required=False,
        widget=forms.CheckboxSelectMultiple, help_text=_("都不勾选表示全部类型。"))
    intervals = forms.MultipleChoiceField(
        label=_("上传周期"), choices=OutboxInterval.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = PlatformEndpoint
        fields = ["name", "url", "adapter", "region", "enterprise_kinds", "intervals", "enabled",
                  "auth_env_var", "auth_header", "require_ack_body", "timeout_s", "send_from"]


@admin.register(PlatformEndpoint, site=admin_site)
class PlatformEndpointAdmin(ReachModelAdmin):
    """Platform-wide configuration: only platform admins see and change it (no role rights)."""

    reach_path = None
    form = PlatformEndpointForm
    list_display = ["name", "url", "adapter", "region", "enabled", "timeout_s", "created_at"]
    list_filter = ["enabled", "adapter"]
    search_fields = ["name", "url"]

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # Messages keep their endpoint (PROTECT): one that has sent anything is disabled, not deleted.
        if isinstance(obj, PlatformEndpoint) and obj.messages.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(OutboxMessage, site=admin_site)
class OutboxMessageAdmin(ReadOnlyAdminMixin, ReachModelAdmin):
    """Read-only: a message is the record of what was sent; resend from the uploads page."""

    reach_path = "enterprise"
    role_rights = OFFICIALS_VIEW
    list_display = ["bucket_start", "interval", "enterprise", "endpoint", "status", "revision", "attempts",
                    "last_status_code", "acknowledged_at"]
    list_filter = ["status", "interval", "endpoint"]
    search_fields = ["enterprise__name", "enterprise__credit_code"]
    list_select_related = ["enterprise", "endpoint"]
    date_hierarchy = "bucket_start"
    MESSAGE_FIELDS = ("enterprise", "endpoint", "interval", "bucket_start", "message_id", "revision",
                      "status",
                      "attempts", "next_attempt_at", "last_attempt_at", "last_status_code", "last_error",
                      "acknowledged_at", "acknowledged_revision", "payload", "payload_hash", "created_at",
                      "updated_at")
    fields = MESSAGE_FIELDS
    readonly_fields = MESSAGE_FIELDS
