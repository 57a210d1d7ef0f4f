from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from portal.access import can_use_admin


def portal(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"can_use_admin": bool(user is not None and can_use_admin(user))}
