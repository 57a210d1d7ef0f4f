"""API permissions. Reach (which rows) is the access policy's job; these only say who may call."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from portal.models import ENTERPRISE_ROLES


class IsActiveUser(BasePermission):
    """An authenticated, active user (token or session)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)


class ReadOnly(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS


class IsEnterpriseUser(IsActiveUser):
    """Enterprise admins and staff (for endpoints where an enterprise acts on its own data)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return super().has_permission(request, view) and request.user.role in ENTERPRISE_ROLES
