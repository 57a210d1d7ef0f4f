"""API permissions. Reach (which rows) is the access policy's job; these only say who may call."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request


class IsActiveUser(BasePermission):
    """An authenticated, active user (token or session)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)
