"""The role-based Django admin: officials, experts and platform admins, each within reach."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.access import can_use_admin, filter_to_reach
from portal.models import Role


class NengtanAdminSite(admin.AdminSite):
    site_header = _("能碳管理后台")
    site_title = _("能碳")
    index_title = _("审核与管理")

    def has_permission(self, request: HttpRequest) -> bool:
        return can_use_admin(request.user)


admin_site = NengtanAdminSite(name="admin")


class ReachModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose rows are limited by the access policy and whose rights follow the role.

    `reach_path` is the declared path from the model to its enterprise ("" for Enterprise
    itself, None for models that are not tenant-owned). `role_rights` maps a role to the
    subset of {"view", "add", "change", "delete"} it has on this model; platform admins have
    all four everywhere.
    """

    reach_path: str | None = None
    role_rights: dict[str, frozenset[str]] = {}

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # Django redirects to the index with "doesn't exist"; out of reach must answer 404,
        # exactly like missing (change, delete and history pages all come through here).
        raise Http404

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> Any:
        # Django looks the object up before checking rights, so a role without any right on the
        # model would tell existing ids (403) from missing ones (404). Refuse both alike.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if self.reach_path is None:
            return queryset
        return filter_to_reach(request.user, queryset, self.reach_path or "id")

    def _has(self, request: HttpRequest, right: str) -> bool:
        user = request.user
        if not (user.is_authenticated and can_use_admin(user)):
            return False
        if user.is_superuser or user.role == Role.PLATFORM_ADMIN:
            return True
        return right in self.role_rights.get(user.role, frozenset())

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._has(request, "view")

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has(request, "view") or self._has(request, "change")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._has(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has(request, "change")

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has(request, "delete")


class ReadOnlyAdminMixin:
    """For rows that are evidence (the audit trail, quarantined input): shown, never added,
    changed or deleted through the admin, whatever the role. Put it before the ModelAdmin base."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
