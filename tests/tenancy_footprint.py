"""An enterprise's footprint: every row it owns and every row that points at one of them.

The tenancy walk takes the outsider's footprint before and after its requests: a route that
changes, deletes or creates anything of the outsider's, or makes another tenant's row point at
one of the outsider's (a meter with the outsider's meter as parent, a point on the outsider's
device, an enterprise declaring the outsider its park), shows up as a difference, whatever
object the route addressed.

Found from the models, not listed by hand, so a new model is covered the day it is added:
- owned: rows of every scoped model (django-scopes `ScopedManager`) within the enterprise's
  scope, i.e. the same filter the portal itself applies;
- then, repeatedly, rows of any model with a foreign key to a row already found (the
  enterprise's users, their API tokens and second-factor devices, readings of its meters, …).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from functools import cache, reduce
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import Q
from django_scopes import scopes_disabled

# Not compared row by row: the audit trail only ever grows (the walk reads the rows it gained
# on its own), and sessions and lockout counters are the walk's own logins, not tenant data.
UNCOMPARED_MODELS = frozenset({"portal.AuditEntry", "sessions.Session", "axes.AccessAttempt",
                               "axes.AccessAttemptExpiration", "axes.AccessLog", "axes.AccessFailureLog"})
# Rows pointing at rows pointing at … the owned rows. Three hops reach every model there is
# today (enterprise → user → token); more only repeat the last round's queries.
MAX_HOPS = 4

Footprint = dict[str, dict[Any, tuple[tuple[str, Any], ...]]]


def _scoped_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models(include_auto_created=True)
            if hasattr(model._default_manager, "with_scope") and not model._meta.proxy]


@cache
def _foreign_keys() -> tuple[tuple[type[models.Model], tuple[tuple[str, type[models.Model]], ...]], ...]:
    """Per model, (field name, target model) of each forward foreign key and one-to-one field."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.label in UNCOMPARED_MODELS or model._meta.proxy:
            continue
        keys = tuple((f.name, f.related_model) for f in model._meta.concrete_fields
                     if f.is_relation and isinstance(f.related_model, type)
                     and issubclass(f.related_model, models.Model))
        if keys:
            found.append((model, keys))
    return tuple(found)


def _row(instance: models.Model) -> tuple[tuple[str, Any], ...]:
    return tuple((f.attname, getattr(instance, f.attname)) for f in instance._meta.concrete_fields)


def footprint(enterprise_ids: Iterable[int]) -> Footprint:
    """Every row the enterprises own or that points at one, by model label and primary key."""
    ids = sorted(enterprise_ids)
    found: dict[type[models.Model], dict[Any, models.Model]] = {}
    with scopes_disabled():
        for model in _scoped_models():
            rows = model._default_manager.with_scope(enterprise=ids).all()  # type: ignore[attr-defined]
            found[model] = {row.pk: row for row in rows}
        frontier = {model: set(rows) for model, rows in found.items() if rows}
        for _hop in range(MAX_HOPS):
            gained: dict[type[models.Model], set[Any]] = {}
            for model, keys in _foreign_keys():
                pointing = [Q(**{f"{name}__in": frontier[target]})
                            for name, target in keys if frontier.get(target)]
                if not pointing:
                    continue
                for row in model._base_manager.filter(reduce(operator.or_, pointing)):
                    known = found.setdefault(model, {})
                    if row.pk not in known:
                        known[row.pk] = row
                        gained.setdefault(model, set()).add(row.pk)
            if not gained:
                break
            frontier = gained
    return {model._meta.label: {pk: _row(row) for pk, row in rows.items()}
            for model, rows in found.items() if rows}


def footprint_changes(before: Footprint, after: Footprint) -> list[str]:
    """What differs, one line per row: created, deleted or changed (with the changed fields)."""
    changes = []
    for label in sorted(set(before) | set(after)):
        old, new = before.get(label, {}), after.get(label, {})
        for pk in sorted(set(old) | set(new), key=str):
            if pk not in old:
                changes.append(f"{label}#{pk} created: {dict(new[pk])}")
            elif pk not in new:
                changes.append(f"{label}#{pk} deleted")
            elif old[pk] != new[pk]:
                fields = sorted(name for (name, value), (_n, other) in zip(old[pk], new[pk], strict=True)
                                if value != other)
                changes.append(f"{label}#{pk} changed: {fields}")
    return changes


def owned_objects(enterprise_ids: Iterable[int]) -> list[models.Model]:
    """The rows of scoped models the enterprises own (what a page must never show to others)."""
    ids = sorted(enterprise_ids)
    with scopes_disabled():
        return [row for model in _scoped_models()
                for row in model._default_manager.with_scope(enterprise=ids).all()]  # type: ignore[attr-defined]
