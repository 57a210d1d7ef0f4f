"""Programs in the role-based admin: officials read them, platform admins switch them on and off.

A program's definition comes from its YAML file (`manage.py load_programs`); the admin never
edits the definition, so the file stays the one source of truth and versions stay honest.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from applications.models import Program
from portal.admin_site import ReachModelAdmin, admin_site
from portal.models import Role

VIEW = frozenset({"view"})


@admin.register(Program, site=admin_site)
class ProgramAdmin(ReachModelAdmin):
    reach_path = None  # programs are public government data, not tenant-owned
    role_rights = {Role.MUNICIPAL_REVIEWER: VIEW, Role.PROVINCIAL_OFFICER: VIEW}
    list_display = ("code", "name", "region", "document", "version", "is_active")
    list_filter = ("is_active", "region")
    search_fields = ("code", "name", "name_en", "document")
    list_select_related = ("region",)
    readonly_fields = ("code", "name", "name_en", "region", "document", "version", "definition")
    fields = ("code", "name", "name_en", "region", "document", "version", "is_active", "definition")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # programs are added as YAML files, loaded by `manage.py load_programs`

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # submissions keep pointing at their program; switch it off instead
