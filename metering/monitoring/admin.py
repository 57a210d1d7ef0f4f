"""Factor sets in the role-based admin: platform admins add and lock sets, officials read them.

A locked set (every shipped one) is shown, never changed or deleted: a new edition is a new set.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from metering.monitoring.factor_sets import FactorError, factor_set_lock, factor_set_make_default
from metering.monitoring.models import Factor, FactorSet
from portal.admin_site import ReachModelAdmin, admin_site
from portal.models import Role

# Officials read the factors their figures are computed with; only platform admins write them.
OFFICIALS_VIEW: dict[str, frozenset[str]] = {
    Role.MUNICIPAL_REVIEWER: frozenset({"view"}),
    Role.PROVINCIAL_OFFICER: frozenset({"view"}),
}


def _reason(exc: Exception) -> str:
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


class FactorInline(admin.TabularInline):
    model = Factor
    extra = 0
    fields = ["energy_type", "variant", "unit", "basis", "value", "heating_value_gj", "carbon_t_per_gj",
              "oxidation_rate", "scope", "year", "region_code", "confidence", "note"]

    def _admin(self) -> ReachModelAdmin:
        return self.admin_site._registry[FactorSet]  # type: ignore[return-value]

    # An inline follows the rights of its set's admin (roles, and locked sets are read-only).
    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._admin().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if obj is None:
            return self._admin().has_add_permission(request)
        return self._admin().has_change_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_add_permission(request, obj)


@admin.register(FactorSet, site=admin_site)
class FactorSetAdmin(ReachModelAdmin):
    reach_path = None  # platform-wide reference data, not tenant-owned
    role_rights = OFFICIALS_VIEW
    list_display = ["name", "edition", "kind", "source", "confidence", "is_default", "locked", "created_at"]
    list_filter = ["kind", "locked", "is_default", "confidence"]
    search_fields = ["name", "edition", "source"]
    # Locking and the default are actions (services), not fields: a set is locked once complete,
    # and only a locked set can become the default.
    readonly_fields = ["is_default", "locked", "created_at"]
    fields = ["name", "kind", "source", "edition", "valid_from", "valid_to", "confidence", "is_default",
              "notes", "locked", "created_at"]
    inlines = [FactorInline]
    actions = ["lock_selected", "make_default"]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if isinstance(obj, FactorSet) and obj.locked:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if isinstance(obj, FactorSet) and obj.locked:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # "Delete selected" asks has_delete_permission without an object: keep locked sets.
        super().delete_queryset(request, queryset.filter(locked=False))

    @admin.action(description=_("锁定所选系数集（锁定后可用于计算，不可再改）"), permissions=["change"])
    def lock_selected(self, request: HttpRequest, queryset: QuerySet[FactorSet]) -> None:
        for factor_set in queryset.filter(locked=False):
            try:
                factor_set_lock(factor_set=factor_set)
            except (FactorError, ValidationError) as exc:
                self.message_user(request, _reason(exc), messages.ERROR)
            else:
                self.message_user(request, _("已锁定：%(set)s") % {"set": factor_set.label}, messages.SUCCESS)

    @admin.action(description=_("设为所属类别的默认系数集"), permissions=["change"])
    def make_default(self, request: HttpRequest, queryset: QuerySet[FactorSet]) -> None:
        if queryset.count() != 1:
            self.message_user(request, _("请只选择一个系数集。"), messages.ERROR)
            return
        factor_set = queryset.get()
        try:
            factor_set_make_default(factor_set=factor_set)
        except (FactorError, ValidationError) as exc:
            self.message_user(request, _reason(exc), messages.ERROR)
        else:
            self.message_user(request, _("默认系数集：%(set)s") % {"set": factor_set.label}, messages.SUCCESS)
