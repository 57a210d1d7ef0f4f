"""Out-of-reach entries for the core API and the generic admin routes the URL walk owns."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType

from portal.models import Enterprise
from tests.tenancy_objects import no_tenant_writes, out_of_reach, out_of_reach_model


@out_of_reach("api:enterprise-detail")
def _enterprise_detail(world: Any) -> dict[str, Any]:
    return {"pk": world.outsider.pk}


@out_of_reach("admin:view_on_site")
def _admin_view_on_site(world: Any) -> dict[str, Any]:
    # The admin's "view on site" shortcut resolves any object by content type and id.
    content_type = ContentType.objects.get_for_model(Enterprise)
    return {"content_type_id": content_type.pk, "object_id": world.outsider.pk}


@out_of_reach_model("portal.Enterprise")
def _enterprise(world: Any) -> Enterprise:
    return world.outsider


@out_of_reach_model("portal.User")
def _user(world: Any) -> Any:
    return world.user("outsider_admin")


@out_of_reach_model("portal.AuditEntry")
def _audit_entry(world: Any) -> Any:
    # The trail names people and organizations: an outsider's row is tenant data even though the
    # model is not scoped (only platform admins read the trail in the admin).
    from portal import audit

    outsider_admin = world.user("outsider_admin")
    return audit.record("login", obj=outsider_admin, actor=outsider_admin)


no_tenant_writes("api:auth-token", "issues (DELETE: revokes) the caller's own API token")
