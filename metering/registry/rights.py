"""Who may change an enterprise's meter and device registry.

Reach (which enterprises an actor may see, and which it may change) is decided by
`portal.access`; this module adds the role rule on top of the write reach for registry writes
(staff do not delete). Officials and a park's users see enterprises they may not change, so
reach already refuses them; the role rule never widens it.

- platform admin: create, change and delete everywhere;
- enterprise admin: create, change and delete in their own enterprise;
- enterprise staff: create and change in their own enterprise, never delete;
- everybody else: read only, within reach.
"""

from __future__ import annotations

from typing import Any

from portal.access import reach_for
from portal.models import Role

WRITE = "write"
DELETE = "delete"


def is_platform_admin(user: Any) -> bool:
    return bool(
        user.is_authenticated and user.is_active and (user.is_superuser or user.role == Role.PLATFORM_ADMIN)
    )


def can_manage_registry(user: Any, enterprise_id: int | None, *, right: str = WRITE) -> bool:
    """True when `user` may write (or, with right=DELETE, delete) registry rows of the enterprise."""
    if enterprise_id is None or not user.is_authenticated or not user.is_active:
        return False
    if is_platform_admin(user):
        return True
    if user.role == Role.ENTERPRISE_ADMIN:
        allowed = True
    elif user.role == Role.ENTERPRISE_STAFF:
        allowed = right == WRITE
    else:
        return False
    # Their own enterprise only: a park's users read member enterprises but never change them.
    return allowed and reach_for(user).can_change(enterprise_id) and user.enterprise_id == enterprise_id


def can_write_anywhere(user: Any) -> bool:
    """Whether the role writes registry rows at all (decides 403 versus 400 on create)."""
    return is_platform_admin(user) or (
        user.is_authenticated
        and user.role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF)
        and user.enterprise_id is not None
    )
