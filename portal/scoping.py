"""The tenant manager every tenant-owned model uses: django-scopes' `ScopedManager`, closed tighter.

Outside an active scope, django-scopes answers a query with a `DisabledQuerySet` that raises
`ScopeError`, but it leaves some read methods open: `exists()`, `contains()`, `in_bulk()`,
`explain()` and `bulk_update()` would quietly look across every tenant. Tenancy fails closed, so
those raise here too. `create()` and `bulk_create()` stay open as in django-scopes: they name the
row they write (its enterprise included) and read nothing back.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django_scopes import ScopedManager
from django_scopes.manager import DisabledQuerySet


class ClosedDisabledQuerySet(DisabledQuerySet):
    """A `DisabledQuerySet` with the read methods django-scopes leaves open closed as well."""

    exists = DisabledQuerySet.error
    contains = DisabledQuerySet.error
    in_bulk = DisabledQuerySet.error
    explain = DisabledQuerySet.error
    bulk_update = DisabledQuerySet.error


def TenantScopedManager(**scopes: str) -> models.Manager[Any]:
    """`ScopedManager(**scopes)` whose unscoped queryset also refuses the methods listed above."""
    base = type(ScopedManager(**scopes))

    class Manager(base):  # type: ignore[valid-type, misc]
        def get_queryset(self) -> models.QuerySet[Any]:
            queryset = super().get_queryset()
            if type(queryset) is DisabledQuerySet:
                missing = queryset.missing_scopes
                return ClosedDisabledQuerySet(self.model, using=self._db, missing_scopes=missing)
            return queryset

    return Manager()
