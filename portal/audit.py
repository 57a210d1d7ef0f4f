"""The audit trail (操作日志): who did what to which object, when, and from where.

Model writes are recorded from signals, so every path (pages, admin, API, tasks, shell)
leaves a row; the edge (middleware, API view, task base) fills the request context with
the actor, channel and address. Secret values are blanked before anything is stored.

`QuerySet.update()` and `bulk_create()` send no signals, so on an audited model they go through
`audited_update` and `audited_bulk_create` here, which write the same rows (one per object).
tests/portal/test_audit_bulk.py scans the code for bulk writes on audited models made any
other way. A model may name fields that are not audited (`register(..., unaudited_fields=…)`),
each with its reason where it is registered.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import signals as auth_signals
from django.db import models, transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from portal.models import AuditEntry, User

BLANKED = "******"
# Field names whose values never reach the audit trail, in whole or in part.
SECRET_MARKERS = ("password", "secret", "token", "key", "otp", "credential", "private")


@dataclass
class AuditContext:
    actor: Any = None
    channel: str = AuditEntry.Channel.SYSTEM
    ip_address: str | None = None
    user_agent: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_context: contextvars.ContextVar[AuditContext | None] = contextvars.ContextVar("audit_context", default=None)


def current_context() -> AuditContext:
    return _context.get() or AuditContext()


@contextmanager
def audit_context(**values: Any) -> Iterator[AuditContext]:
    """Set who is acting (and how) for everything recorded inside the block."""
    ctx = AuditContext(**values)
    token = _context.set(ctx)
    try:
        yield ctx
    finally:
        _context.reset(token)


def set_actor(actor: Any) -> None:
    """Set the actor once it is known (the API authenticates after middleware has run)."""
    ctx = _context.get()
    if ctx is not None:
        ctx.actor = actor


def is_secret_field(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: BLANKED if is_secret_field(str(k)) else _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, FieldFile):
        # The stored name only; `.url` of an empty file field raises, so it is never asked for.
        return value.name or ""
    return value


def _secret_fingerprint(value: Any) -> str:
    # Only to tell "changed" from "unchanged"; the fingerprint itself is never stored.
    return hashlib.sha256(repr(value).encode()).hexdigest()


def snapshot(instance: models.Model, *, fingerprints: dict[str, str] | None = None) -> dict[str, Any]:
    """The concrete field values of an instance, secrets blanked, unaudited fields left out."""
    values: dict[str, Any] = {}
    skipped = unaudited_fields(type(instance))
    for model_field in instance._meta.concrete_fields:
        name = model_field.attname
        if name in skipped:
            continue
        value = getattr(instance, name)
        if is_secret_field(name):
            values[name] = BLANKED if value else ""
            if fingerprints is not None:
                fingerprints[name] = _secret_fingerprint(value)
        else:
            values[name] = _jsonable(value)
    return values


def diff(
    before: dict[str, Any], after: dict[str, Any], *, changed_secrets: frozenset[str] | set[str] = frozenset()
) -> dict[str, Any]:
    """Field-by-field before/after of what changed; a changed secret shows as blanked on both sides."""
    changes = {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
    for name in changed_secrets:
        changes[name] = {"before": BLANKED, "after": BLANKED}
    return changes


def _enterprise_of(instance: models.Model | None) -> int | None:
    if instance is None:
        return None
    from portal.models import Enterprise

    if isinstance(instance, Enterprise):
        return instance.pk
    path = getattr(type(instance), "audit_enterprise_path", "enterprise_id")
    value: Any = instance
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value if isinstance(value, int) else getattr(value, "pk", None)


def record(
    action: str,
    *,
    obj: models.Model | None = None,
    changes: dict[str, Any] | None = None,
    actor: Any = None,
    object_type: str = "",
    object_repr: str = "",
    enterprise_id: int | None = None,
) -> AuditEntry:
    """Append one entry to the audit trail."""
    ctx = current_context()
    actor = actor if actor is not None else ctx.actor
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    organization = ""
    if actor is not None:
        org = getattr(actor, "organization", None)
        organization = str(org) if org is not None else ""
    entry = AuditEntry(
        # An API client acts under its own name (api-client:<prefix>), never as a person.
        actor=actor if isinstance(actor, User) else None,
        actor_username=getattr(actor, "username", "") if actor is not None else "",
        organization=organization[:200],
        enterprise_id_snapshot=enterprise_id if enterprise_id is not None else _enterprise_of(obj),
        action=action[:40],
        object_type=(object_type or (obj._meta.label if obj is not None else ""))[:100],
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=(object_repr or (str(obj) if obj is not None else ""))[:255],
        changes=_jsonable(changes or {}),
        channel=ctx.channel,
        ip_address=ctx.ip_address,
        user_agent=ctx.user_agent[:255],
    )
    entry.save()
    return entry


# --- model registration --------------------------------------------------------------------

_registered: set[type[models.Model]] = set()
_unaudited: dict[type[models.Model], frozenset[str]] = {}
_PREVIOUS = "_audit_previous_snapshot"
_PREVIOUS_SECRETS = "_audit_previous_secret_fingerprints"
# Fields whose change is a permission change, not an ordinary update.
PERMISSION_FIELDS = frozenset(
    {"role", "is_staff", "is_superuser", "is_active", "enterprise_id", "authority_id",
     "review_organization_id"}
)


def _before_save(
    sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any
) -> None:
    if raw or instance.pk is None or instance._state.adding:
        setattr(instance, _PREVIOUS, None)
        return
    previous = sender._base_manager.filter(pk=instance.pk).first()
    fingerprints: dict[str, str] = {}
    before = snapshot(previous, fingerprints=fingerprints) if previous is not None else None
    setattr(instance, _PREVIOUS, before)
    setattr(instance, _PREVIOUS_SECRETS, fingerprints)


def _created(after: dict[str, Any]) -> dict[str, Any]:
    return {name: {"before": None, "after": value} for name, value in after.items()}


def _after_save(sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False,
                **kwargs: Any) -> None:
    if raw:
        return
    after_secrets: dict[str, str] = {}
    after = snapshot(instance, fingerprints=after_secrets)
    before = getattr(instance, _PREVIOUS, None)
    if created or before is None:
        record("create", obj=instance, changes=_created(after))
        return
    before_secrets = getattr(instance, _PREVIOUS_SECRETS, {})
    changed_secrets = {name for name, value in after_secrets.items() if before_secrets.get(name) != value}
    changes = diff(before, after, changed_secrets=changed_secrets)
    changes.pop("last_login", None)  # a login is recorded as its own action
    if not changes:
        return
    is_permission_change = bool(PERMISSION_FIELDS & set(changes)) and sender._meta.label == "portal.User"
    action = "permission_change" if is_permission_change else "update"
    record(action, obj=instance, changes=changes)


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    before = snapshot(instance)
    record("delete", obj=instance, changes={k: {"before": v, "after": None} for k, v in before.items()})


def _m2m_changed(sender: Any, instance: models.Model, action: str, pk_set: set[Any] | None, model: Any,
                 **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    is_permission = model._meta.label in ("auth.Group", "auth.Permission")
    record(
        "permission_change" if is_permission else "update",
        obj=instance,
        changes={f"{model._meta.model_name}": {"operation": action.removeprefix("post_"),
                                               "ids": sorted(str(pk) for pk in (pk_set or []))}},
    )


def register(model: type[models.Model], *, unaudited_fields: Iterable[str] = ()) -> type[models.Model]:
    """Record every create, update and delete of `model`. Usable as a class decorator.

    `unaudited_fields` (attribute names) are left out of every row, and a write that changes only
    them leaves none: for telemetry denormalized onto the model, never for what a person sets.
    """
    if model in _registered:
        return model
    names = frozenset(unaudited_fields)
    for name in names:
        if name not in {f.attname for f in model._meta.concrete_fields}:
            raise ValueError(f"{model._meta.label} has no field {name!r} to leave out of the audit trail")
    _registered.add(model)
    _unaudited[model] = names
    uid = f"audit:{model._meta.label}"
    pre_save.connect(_before_save, sender=model, dispatch_uid=f"{uid}:pre", weak=False)
    post_save.connect(_after_save, sender=model, dispatch_uid=f"{uid}:post", weak=False)
    post_delete.connect(_after_delete, sender=model, dispatch_uid=f"{uid}:delete", weak=False)
    for m2m in model._meta.many_to_many:
        m2m_changed.connect(_m2m_changed, sender=m2m.remote_field.through, dispatch_uid=f"{uid}:{m2m.name}",
                            weak=False)
    return model


def registered_models() -> frozenset[type[models.Model]]:
    return frozenset(_registered)


def unaudited_fields(model: type[models.Model]) -> frozenset[str]:
    return _unaudited.get(model._meta.concrete_model or model, frozenset())


def _require_registered(model: type[models.Model]) -> None:
    if (model._meta.concrete_model or model) not in _registered:
        raise ValueError(f"{model._meta.label} is not audited; write it with the ORM directly")


def audited_update(queryset: models.QuerySet[Any], *, action: str = "update", **values: Any) -> int:
    """`queryset.update(**values)` on an audited model, leaving the row a save() would leave for
    every object whose audited fields it changed (actor and channel from the audit context,
    secrets blanked). Returns the number of objects updated.

    The matching rows are locked and read first (SELECT … FOR UPDATE, in pk order so concurrent
    callers cannot deadlock), then updated by pk: the before side of each row is exactly what
    the update replaced. On PostgreSQL a caller that waited for the lock re-checks the filter, so
    a conditional update still changes a row at most once. Values must be plain values, not F()
    expressions, so that the after side is known without reading the rows again.
    """
    model = queryset.model
    _require_registered(model)
    if any(hasattr(value, "resolve_expression") for value in values.values()):
        raise TypeError("audited_update takes plain values: an expression's result is unknown before it runs")
    with transaction.atomic(using=queryset.db):
        rows = list(queryset.select_for_update(of=("self",)).order_by("pk"))
        if not rows:
            return 0
        locked = model._base_manager.using(queryset.db).filter(pk__in=[row.pk for row in rows])
        updated = locked.update(**values)
        for row in rows:
            before_secrets: dict[str, str] = {}
            before = snapshot(row, fingerprints=before_secrets)
            for name, value in values.items():
                setattr(row, name, value)
            after_secrets: dict[str, str] = {}
            after = snapshot(row, fingerprints=after_secrets)
            changed_secrets = {name for name, fp in after_secrets.items() if before_secrets.get(name) != fp}
            changes = diff(before, after, changed_secrets=changed_secrets)
            if changes:
                record(action, obj=row, changes=changes)
    return updated


def audited_bulk_create(
    model: type[models.Model], objects: Iterable[models.Model], *, batch_size: int | None = None
) -> list[models.Model]:
    """`bulk_create` on an audited model, with the "create" row a save() would leave for each
    object. Conflicts are not ignored: every object must be inserted, so each has its pk."""
    _require_registered(model)
    with transaction.atomic(using=model._base_manager.db):
        # _base_manager: an insert reads nothing, so the tenant scope has nothing to guard here;
        # the caller already acts for the objects' enterprise.
        created = model._base_manager.bulk_create(list(objects), batch_size=batch_size)
        for instance in created:
            record("create", obj=instance, changes=_created(snapshot(instance)))
    return created


# --- authentication events -------------------------------------------------------------------

def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    set_actor(user)
    record("login", obj=user, actor=user)


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record("logout", obj=user, actor=user)


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    record("login_failed", object_type="portal.User", object_repr=username,
           changes={"username": username})


auth_signals.user_logged_in.connect(_logged_in, dispatch_uid="audit:login")
auth_signals.user_logged_out.connect(_logged_out, dispatch_uid="audit:logout")
auth_signals.user_login_failed.connect(_login_failed, dispatch_uid="audit:login_failed")
