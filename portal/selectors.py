"""Reads for the portal pages: dashboards, registration choices and the audit trail search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django_scopes import scopes_disabled

from portal.access import visible_enterprises
from portal.models import AuditEntry, Authority, Enterprise, Region, User

if TYPE_CHECKING:
    from portal.access import Actor


def registration_regions() -> QuerySet[Region]:
    """Regions an enterprise may register in: cities and districts (the reviewing authority's level)."""
    regions = Region.objects.filter(level__in=[Region.Level.CITY, Region.Level.DISTRICT])
    return regions.select_related("parent")


@dataclass(frozen=True)
class ParkChoice:
    id: int
    label: str
    province_path: str


def parks_open_for_membership() -> list[ParkChoice]:
    """Approved parks an enterprise may declare membership of, as plain values.

    Parks are public bodies whose names and regions appear on government lists, and the
    visitor choosing one reaches no tenant at all, so this directory reads across tenants.
    Only id, name and region leave this function.
    """
    with scopes_disabled():
        parks = Enterprise.objects.filter(kind=Enterprise.Kind.PARK, status=Enterprise.Status.APPROVED)
        rows = parks.select_related("region").order_by("region__code", "name")
        return [ParkChoice(p.pk, f"{p.name}（{p.region.name}）", province_path_of(p.region)) for p in rows]


def province_path_of(region: Region) -> str:
    """The path prefix of the province a region lies in ("/410000/")."""
    first = region.path.strip("/").split("/")[0]
    return f"/{first}/"


def park_by_id(park_id: int) -> Enterprise | None:
    """The park behind a chosen id, only when it is in the membership directory."""
    if park_id not in {choice.id for choice in parks_open_for_membership()}:
        return None
    # Same public directory as above: the park is loaded to be referenced, never shown.
    with scopes_disabled():
        return Enterprise.objects.select_related("region").filter(pk=park_id).first()


def pending_registrations_for(user: Actor) -> QuerySet[Enterprise]:
    """Pending registrations the user's authority reviews (under the active scope)."""
    return visible_enterprises(user).filter(status=Enterprise.Status.PENDING).order_by("created_at")


def platform_counts() -> dict[str, int]:
    """Counts for the platform admin's dashboard (the caller's reach is everything)."""
    by_status = Enterprise.objects.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(status=Enterprise.Status.PENDING)),
        approved=Count("id", filter=Q(status=Enterprise.Status.APPROVED)),
    )
    return {
        "enterprises": by_status["total"],
        "pending": by_status["pending"],
        "approved": by_status["approved"],
        "users": User.objects.filter(is_active=True).count(),
        "audit_today": AuditEntry.objects.filter(at__date=timezone.localdate()).count(),
    }


def enterprise_staff(enterprise: Enterprise) -> QuerySet[User]:
    return User.objects.filter(enterprise=enterprise).order_by("role", "username")


def audit_entries_search(
    *,
    username: str = "",
    action: str = "",
    object_type: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    text: str = "",
) -> QuerySet[AuditEntry]:
    """The audit trail filtered by actor, action, object type, a date range (inclusive, local
    days) and free text over the object, organization and user agent."""
    entries = AuditEntry.objects.all()
    if username:
        entries = entries.filter(actor_username__iexact=username.strip())
    if action:
        entries = entries.filter(action=action.strip())
    if object_type:
        entries = entries.filter(object_type__iexact=object_type.strip())
    tz = timezone.get_current_timezone()
    if date_from:
        entries = entries.filter(at__gte=dt.datetime.combine(date_from, dt.time.min, tzinfo=tz))
    if date_to:
        day_after = date_to + dt.timedelta(days=1)
        entries = entries.filter(at__lt=dt.datetime.combine(day_after, dt.time.min, tzinfo=tz))
    if text:
        needle = text.strip()
        entries = entries.filter(
            Q(object_repr__icontains=needle)
            | Q(object_id=needle)
            | Q(organization__icontains=needle)
            | Q(actor_username__icontains=needle)
            | Q(user_agent__icontains=needle)
        )
    return entries.order_by("-at", "-id")


def audit_actions() -> list[str]:
    return list(AuditEntry.objects.order_by("action").values_list("action", flat=True).distinct())


def reviewing_authority_for(region_id: int) -> Authority | None:
    """The authority that reviews registrations in a region: the nearest one at or above it."""
    region = Region.objects.filter(pk=region_id).first()
    if region is None:
        return None
    prefixes = [region.path[: i + 1] for i, char in enumerate(region.path) if char == "/" and i > 0]
    candidates = Authority.objects.filter(region__path__in=prefixes).select_related("region")
    return max(candidates, key=lambda authority: len(authority.region.path), default=None)
