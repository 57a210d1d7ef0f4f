"""Out-of-reach entries for the portal's web pages (enterprise detail, edit, review, staff)."""

from __future__ import annotations

from typing import Any

from tests.factories import credit_code_for, region
from tests.tenancy_objects import (
    Attempt,
    authority_action,
    no_tenant_writes,
    out_of_reach,
    write_attempts,
)

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


# The authority of the enterprise's region decides these through its own services.
for _url_name in ("portal:enterprise_approve", "portal:enterprise_reject", "portal:enterprise_suspend",
                  "portal:enterprise_reactivate"):
    authority_action(_url_name)

for _url_name, _reason in (
    ("portal:login", "signs the caller in"),
    ("portal:logout", "signs the caller out"),
    ("portal:password_change", "changes the caller's own password"),
    ("portal:otp_setup", "enrols the caller's own second factor"),
    ("portal:otp_verify", "checks the caller's own second factor"),
    ("set_language", "sets the caller's language cookie"),
):
    no_tenant_writes(_url_name, _reason)


@write_attempts("portal:register")
def _register(world: Any, own: Any) -> list[Attempt]:
    password = "walk-register-2026-x"
    # A signed-in caller is sent home (302) before the form is read, a visitor gets the form back
    # with the error: the footprint decides.
    return [Attempt("a registration declaring the outsider (not a park) its park", refused=False, data={
        "name": "巡检注册测试有限公司", "credit_code": credit_code_for("410102"), "kind": "industrial",
        "region": region("410102").pk, "park": world.outsider.pk, "industry": "",
        "address": "郑州市巡检路1号",
        "contact_name": "巡检", "contact_phone": "0371-00000000", "contact_email": "walk@example.cn",
        "username": "walk_register_admin", "password1": password, "password2": password,
    })]


@write_attempts("portal:enterprise_edit")
def _own_enterprise_in_outsider_park(world: Any, own: Any) -> list[Attempt]:
    if own is None:
        return []
    return [Attempt("the role's own enterprise declaring the outsider its park", replay=True,
                    kwargs={"enterprise_id": own.pk}, data={"park": world.outsider.pk})]
