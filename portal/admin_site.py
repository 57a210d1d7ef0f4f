"""The role-based Django admin: officials, experts and platform admins, each within reach."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy as _

from portal.access import can_use_admin, filter_to_reach, reach_for
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
        if not self._has(request, "add"):
            return False
        if self.reach_path is None:
            return True
        reach = reach_for(request.user)
        # A new enterprise is nobody's to change yet; a new row of an enterprise needs one the
        # user may change (which one is checked again on save, from the submitted form).
        return reach.everything or (self.reach_path != "" and bool(reach.changeable_ids))

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has(request, "change") and self._in_write_reach(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._has(request, "delete") and self._in_write_reach(request, obj)

    # Defence in depth: `role_rights` says what a role may do to a model at all, the access
    # policy's write reach says to whose rows. Both must agree before the admin writes, so a
    # right granted by mistake (an official given "change") still changes nothing, since officials'
    # write reach is empty. Rows are listed and shown by the read reach (get_queryset).

    def _in_write_reach(self, request: HttpRequest, obj: Model | None) -> bool:
        """Whether the user may change this object's enterprise (True without an object, or for
        models that are not tenant-owned: then the role right alone decides)."""
        if obj is None or self.reach_path is None:
            return True
        return reach_for(request.user).can_change(self._enterprise_id_of(obj))

    def _enterprise_id_of(self, obj: Model) -> int | None:
        """The id of the enterprise `obj` belongs to, following `reach_path` through its foreign
        keys (also for an unsaved object, whose enterprise comes from the submitted form)."""
        if not self.reach_path:
            return obj.pk  # the enterprise itself
        *through, last = self.reach_path.split("__")
        target: Any = obj
        for name in through:
            target = getattr(target, name, None)
            if target is None:
                return None
        return getattr(target, f"{last}_id", None)

    def _require_write_reach(self, request: HttpRequest, obj: Model) -> None:
        if not self._in_write_reach(request, obj):
            raise PermissionDenied

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Covers the add form (the enterprise is only known from the submitted data) and
        # list_editable, whose changelist asks has_change_permission without an object.
        self._require_write_reach(request, obj)
        super().save_model(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self._require_write_reach(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The "delete selected" action asks has_delete_permission without an object.
        for obj in queryset:
            self._require_write_reach(request, obj)
        super().delete_queryset(request, queryset)


class ReadOnlyAdminMixin:
    """For rows that are evidence (the audit trail, quarantined input): shown, never added,
    changed or deleted through the admin, whatever the role. Put it before the ModelAdmin base."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
