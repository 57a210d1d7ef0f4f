"""Out-of-reach entries for the portal's web pages (enterprise detail, edit, review, staff)."""

from __future__ import annotations

from typing import Any

from tests.tenancy_objects import out_of_reach

ENTERPRISE_PAGES = (
    "portal:enterprise_detail",
    "portal:enterprise_edit",
    "portal:enterprise_approve",
    "portal:enterprise_reject",
    "portal:enterprise_resubmit",
    "portal:enterprise_suspend",
    "portal:enterprise_reactivate",
    "portal:enterprise_users",
)


def _outsider_enterprise(world: Any) -> dict[str, Any]:
    return {"enterprise_id": world.outsider.pk}


for _url_name in ENTERPRISE_PAGES:
    out_of_reach(_url_name)(_outsider_enterprise)
