"""The access policy: the one place that answers what an actor may see or change.

Every tenant-owned row reaches its enterprise through a declared path, and every query on
such a model goes through `portal.scoping.TenantScopedManager` (django-scopes, with the read
methods it leaves open closed too), which raises `ScopeError` when
no scope is active. Scope is switched on at the edge (web and admin middleware, the API
base view, the base Celery task) with `reach_scope(user)`; nothing below the edge decides
reach again. Objects outside reach answer 404, exactly like missing ones.

Reach separates what an actor sees from what it changes:

| actor                        | sees                                        | changes            |
|------------------------------|---------------------------------------------|--------------------|
| platform admin               | everything                                  | everything         |
| enterprise admin and staff   | their own enterprise, and a park's members  | their own only     |
| municipal reviewer           | enterprises in their authority's region     | nothing            |
| provincial officer           | enterprises in their province               | nothing            |
| expert                       | their assignments and those enterprises     | nothing            |
| anonymous and inactive users | nothing                                     | nothing            |
| API client (machine key)     | its reach: one enterprise, a region, a program | nothing         |

Submissions (`visible_submissions`): an enterprise's users read their own, drafts included; officials
and API clients read filed ones in their reach, never drafts; experts the ones assigned to them.
Who takes which review step (`workflow_actors`) follows from the same reach.

An API client's reach (`portal.models.ApiClient`, keys in portal/api/clients.py):
- enterprise: that enterprise, and a park's members, exactly what the enterprise's own users see;
- region: the enterprises in the region and everything under it (a city authority's client
  sees its city);
- program: the enterprises in the program's region subtree, narrowed to the client's region
  when one is set. Nothing links a program to its applicants yet (applications have no
  submissions); when they do, this becomes the program's applicants.
A revoked or expired client reaches nothing, whatever authenticated it.

Officials never change an enterprise's own data (meters, devices, contacts, staff): a tenant
write view that forgets its role check still finds nothing in their write reach. What officials
do write, deciding registrations and an enterprise's suspension (later, review actions), goes
through services of its own, each guarded by a predicate below (`can_review_registration`,
`can_change_enterprise_status`), never through the write reach.

Second factor: with REQUIRE_2FA_FOR_OFFICIALS on, every account that reaches beyond one
enterprise (officials, experts, platform admins, superusers) passes TOTP before it sees
anything, on pages and in the API alike, and before it is given an API token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import Http404
from django_scopes import scope, scopes_disabled

from applications.models import Program, Submission, SubmissionState
from portal.credit_code import normalize_credit_code
from portal.models import ApiClient, ApiClientActor, Authority, Enterprise, Role, User
from reviews.models import Assignment, ConflictDeclaration

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    Actor = User | AnonymousUser | ApiClientActor

ModelT = TypeVar("ModelT", bound=Model)


@dataclass(frozen=True)
class Reach:
    """The enterprises an actor may see and change. `everything` means no tenant filter."""

    everything: bool
    visible_ids: tuple[int, ...] = ()
    changeable_ids: tuple[int, ...] = ()

    @property
    def scope_value(self) -> list[int] | None:
        # django-scopes: a list filters with `__in`, None means "no filter" for this dimension.
        return None if self.everything else list(self.visible_ids)

    def can_see(self, enterprise_id: int | None) -> bool:
        return self.everything or enterprise_id in self.visible_ids

    def can_change(self, enterprise_id: int | None) -> bool:
        return self.everything or enterprise_id in self.changeable_ids


NO_REACH = Reach(everything=False)
FULL_REACH = Reach(everything=True)


def _enterprise_ids(queryset: QuerySet[Enterprise]) -> tuple[int, ...]:
    return tuple(queryset.order_by("id").values_list("id", flat=True))


# The edge computes a request's reach once and keeps it on that request's user object, so the
# views, API base classes and admin below it do not query the enterprise ids again. The user
# object lives as long as the request; objects not set up by an edge are always computed afresh.
_REQUEST_REACH_ATTR = "_nengtan_request_reach"


def reach_for(user: Actor | None) -> Reach:
    """The reach of a user. This is the only place reach is decided."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NO_REACH
    remembered = getattr(user, _REQUEST_REACH_ATTR, None)
    if isinstance(remembered, Reach):
        return remembered
    return _compute_reach(cast("User | ApiClientActor", user))


def _compute_reach(user: User | ApiClientActor) -> Reach:
    if isinstance(user, ApiClientActor):
        return api_client_reach(user.client)
    if user.is_superuser or user.role == Role.PLATFORM_ADMIN:
        return FULL_REACH
    # The policy itself must read enterprises before any scope exists: it is what defines it.
    with scopes_disabled():
        everything = Enterprise.objects.all()
        if user.role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF):
            if user.enterprise_id is None:
                return NO_REACH
            own = (user.enterprise_id,)
            members = _enterprise_ids(everything.filter(park_id=user.enterprise_id))
            return Reach(everything=False, visible_ids=own + members, changeable_ids=own)
        if user.role in (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER):
            if user.authority_id is None or user.authority is None:
                return NO_REACH
            region_path = user.authority.region.path
            ids = _enterprise_ids(everything.filter(region__path__startswith=region_path))
            # Read only: their decisions go through their own guarded services (module docstring).
            return Reach(everything=False, visible_ids=ids, changeable_ids=())
        if user.role == Role.EXPERT:
            # The enterprises of their active assignments, read only: an on-site check inspects the
            # metering points and the data collection (seed 001 附件1 五(二)).
            assigned = (Assignment.objects.filter(expert_id=user.pk, withdrawn_at__isnull=True)
                        .values_list("submission__enterprise_id", flat=True))
            return Reach(everything=False, visible_ids=tuple(sorted(set(assigned))), changeable_ids=())
    return NO_REACH


def api_client_reach(client: ApiClient) -> Reach:
    """What an API client may see (module docstring); it changes nothing."""
    if not client.is_usable:
        return NO_REACH
    with scopes_disabled():  # as in _compute_reach: the policy defines the scope
        everything = Enterprise.objects.all()
        if client.reach_kind == ApiClient.ReachKind.ENTERPRISE and client.enterprise_id is not None:
            own = (client.enterprise_id,)
            members = everything.filter(park_id=client.enterprise_id).exclude(id=client.enterprise_id)
            ids = own + _enterprise_ids(members)
        elif client.reach_kind == ApiClient.ReachKind.REGION and client.region is not None:
            ids = _enterprise_ids(everything.filter(region__path__startswith=client.region.path))
        elif client.reach_kind == ApiClient.ReachKind.PROGRAM and client.program is not None:
            in_program = everything.filter(region__path__startswith=client.program.region.path)
            if client.region is not None:
                in_program = in_program.filter(region__path__startswith=client.region.path)
            ids = _enterprise_ids(in_program)
        else:
            return NO_REACH
    return Reach(everything=False, visible_ids=ids, changeable_ids=())


@contextmanager
def reach_scope(user: Actor | None) -> Iterator[Reach]:
    """Activate the tenant scope of `user` for the duration of the block (the edge of a request).

    The reach is remembered on the user object for the block, so everything below the edge
    answers from it; it is forgotten when the block ends.
    """
    reach = reach_for(user)
    remember = user is not None and user.is_authenticated
    if remember:
        setattr(user, _REQUEST_REACH_ATTR, reach)
    try:
        with scope(enterprise=reach.scope_value):
            yield reach
    finally:
        if remember:
            delattr(user, _REQUEST_REACH_ATTR)


@contextmanager
def enterprise_scope(enterprise_id: int) -> Iterator[None]:
    """Scope to one enterprise, for work done on its behalf (tasks, collectors, ingest)."""
    with scope(enterprise=[enterprise_id]):
        yield


def can_change(user: Actor | None, enterprise_id: int | None) -> bool:
    """Whether the enterprise is in the user's write reach (their own; everything for platform admins)."""
    return reach_for(user).can_change(enterprise_id)


def visible_enterprises(user: Actor) -> QuerySet[Enterprise]:
    """Enterprises the user may see, under the active scope (raises when no scope is active)."""
    reach = reach_for(user)
    queryset = Enterprise.objects.select_related("region", "park")
    return queryset if reach.everything else queryset.filter(id__in=reach.visible_ids)


def changeable_enterprises(user: Actor) -> QuerySet[Enterprise]:
    reach = reach_for(user)
    queryset = Enterprise.objects.select_related("region", "park")
    return queryset if reach.everything else queryset.filter(id__in=reach.changeable_ids)


def get_enterprise_for_user(user: Actor, enterprise_id: Any) -> Enterprise:
    """The enterprise if the user may see it; 404 alike for missing and out of reach."""
    return _get_or_404(visible_enterprises(user), enterprise_id)


def get_rw_enterprise_for_user(user: Actor, enterprise_id: Any) -> Enterprise:
    """The enterprise if the user may change it; 404 alike for missing and out of reach."""
    return _get_or_404(changeable_enterprises(user), enterprise_id)


def filter_to_reach(
    user: Actor, queryset: QuerySet[ModelT], path: str, *, write: bool = False
) -> QuerySet[ModelT]:
    """Restrict a queryset of a tenant-owned model by its declared path to the enterprise."""
    reach = reach_for(user)
    if reach.everything:
        return queryset
    ids = reach.changeable_ids if write else reach.visible_ids
    return queryset.filter(**{f"{path}__in": ids})


def get_object_for_user(
    user: Actor, queryset: QuerySet[ModelT], object_id: Any, *, path: str, write: bool = False
) -> ModelT:
    """Fetch a tenant-owned object through its path; 404 alike for missing and out of reach."""
    return _get_or_404(filter_to_reach(user, queryset, path, write=write), object_id)


def _get_or_404(queryset: QuerySet[ModelT], object_id: Any) -> ModelT:
    try:
        pk = int(object_id)
    except (TypeError, ValueError):
        raise Http404 from None
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj


def visible_submissions(user: Actor, queryset: QuerySet[Submission] | None = None) -> QuerySet[Submission]:
    """Submissions the user may read, under the active scope.

    An enterprise's users read their own enterprise's, drafts included (a park's users do not read
    their members' applications: membership shares meter data, not filings). Officials and API
    clients read what was filed (never drafts) by enterprises in their reach; an API client whose
    reach is a program reads only that program's. Platform admins read everything. Experts read
    the submissions assigned to them."""
    queryset = queryset if queryset is not None else Submission.objects.all()
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    reach = reach_for(user)
    if isinstance(user, ApiClientActor):
        queryset = queryset.exclude(state=SubmissionState.DRAFT).filter(enterprise_id__in=reach.visible_ids)
        if user.client.reach_kind == ApiClient.ReachKind.PROGRAM:
            queryset = queryset.filter(program=user.client.program)
        return queryset
    if reach.everything:
        return queryset
    role = getattr(user, "role", None)
    if role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF):
        return queryset.filter(enterprise_id__in=reach.changeable_ids)
    if role in (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER):
        return queryset.exclude(state=SubmissionState.DRAFT).filter(enterprise_id__in=reach.visible_ids)
    if role == Role.EXPERT:
        # An expert's reach is the submissions assigned to them (and not withdrawn), nothing else.
        with scopes_disabled():  # the policy defines the scope: assignments are read to build it
            assigned = list(Assignment.objects.filter(expert_id=user.pk, withdrawn_at__isnull=True)
                            .values_list("submission_id", flat=True))
        return queryset.exclude(state=SubmissionState.DRAFT).filter(pk__in=assigned)
    return queryset.none()


def workflow_actors(user: Actor, submission: Submission, *, first_review_level: str = "municipal"
                    ) -> frozenset[str]:
    """Which of a workflow's actors (applications.definitions, "Actors") the user is for this
    submission. Nothing for a submission the user may not read."""
    if not visible_submissions(user).filter(pk=submission.pk).exists():
        return frozenset()
    if not isinstance(user, User):
        return frozenset()  # machine clients read; they take no review step
    roles = workflow_roles(user, first_review_level=first_review_level)
    if "applicant" in roles:
        return roles if submission.enterprise_id == user.enterprise_id else frozenset()
    if "expert" in roles:
        with scopes_disabled():  # as above: the assignment is what grants the reach
            assignment = Assignment.objects.filter(submission_id=submission.pk, expert_id=user.pk,
                                                   withdrawn_at__isnull=True).first()
        if assignment is None:
            return frozenset()
        return frozenset({"expert", "lead_expert"}) if assignment.is_lead else frozenset({"expert"})
    return roles  # officials by their authority's level, platform admins


def workflow_roles(user: Actor, *, first_review_level: str = "municipal") -> frozenset[str]:
    """Which of a workflow's actors the user may be for some submission in their reach, by role
    alone (experts: both, the lead being decided per assignment). `workflow_actors` answers for one
    submission; the admin offers its actions from this, without reading every submission."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return frozenset()
    role = user.role
    if user.is_superuser or role == Role.PLATFORM_ADMIN:
        return frozenset({"platform_admin"})
    if role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF):
        return frozenset({"applicant"})
    if role in (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER) and user.authority is not None:
        level = user.authority.level
        if role == Role.PROVINCIAL_OFFICER or level == Authority.Level.PROVINCIAL:
            return frozenset({"provincial"})
        wanted = Authority.Level.DISTRICT if first_review_level == "district" else Authority.Level.MUNICIPAL
        return frozenset({"first_reviewer"}) if level == wanted else frozenset()
    if role == Role.EXPERT:
        return frozenset({"expert", "lead_expert"})
    return frozenset()


def can_view_scores(user: Actor) -> bool:
    """Who reads the experts' sheets and their combined scores of the submissions in reach: the
    provincial officers who decide on them (for Shanghai the commission) and platform admins.
    Experts read only their own sheet; first reviewers and applicants none."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.role == Role.PLATFORM_ADMIN:
        return True
    return "provincial" in workflow_roles(user)


def get_submission_for_user(user: Actor, submission_id: Any) -> Submission:
    """A submission the user may read; 404 alike for missing and out of reach."""
    return _get_or_404(visible_submissions(user).select_related("program", "program_version", "enterprise"),
                       submission_id)


def get_rw_submission_for_user(user: Actor, submission_id: Any) -> Submission:
    """A submission the user may edit (its enterprise's users, while it is a draft or returned; the
    state check is the service's); 404 alike for missing and out of reach."""
    if getattr(user, "role", None) not in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF):
        raise Http404
    return _get_or_404(filter_to_reach(user, visible_submissions(user), "enterprise_id", write=True)
                       .select_related("program", "program_version", "enterprise"), submission_id)


def can_use_admin(user: Actor) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and (
            user.is_superuser
            or user.role
            in {Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER, Role.EXPERT, Role.PLATFORM_ADMIN}
        )
    )


# Roles whose accounts reach many enterprises' data or the whole platform. Superusers need the
# second factor whatever their role (see needs_second_factor).
SECOND_FACTOR_ROLES = frozenset(
    {Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER, Role.EXPERT, Role.PLATFORM_ADMIN}
)


def needs_second_factor(user: Actor) -> bool:
    """Whether the user must pass TOTP: the one rule for pages, the API and token issuance."""
    return bool(
        settings.REQUIRE_2FA_FOR_OFFICIALS
        and user.is_authenticated
        and (user.is_superuser or user.role in SECOND_FACTOR_ROLES)
    )


def lacks_second_factor(user: Actor) -> bool:
    """The user needs a second factor and this session has not passed it.

    `is_verified` is what django-otp's middleware puts on a session's user; a user object
    without it has passed nothing, so it counts as unverified.
    """
    if not needs_second_factor(user):
        return False
    is_verified = getattr(user, "is_verified", None)
    return not (callable(is_verified) and is_verified())


def can_file_applications(user: Actor) -> bool:
    """Enterprise users may file only once their enterprise has been approved."""
    return bool(
        user.is_authenticated
        and user.role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF)
        and user.enterprise is not None
        and user.enterprise.is_approved
    )


def _is_regional_authority(user: Actor, enterprise: Enterprise) -> bool:
    """A platform admin, or an official whose authority's region holds the enterprise's region."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_platform_admin:
        return True
    if user.role not in (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER) or user.authority is None:
        return False
    return enterprise.region.path.startswith(user.authority.region.path)


def can_review_registration(user: Actor, enterprise: Enterprise) -> bool:
    """The authority of the enterprise's region (or above) approves its registration."""
    return _is_regional_authority(user, enterprise)


def can_change_enterprise_status(user: Actor, enterprise: Enterprise) -> bool:
    """The authority of the enterprise's region (or above) suspends and reactivates it."""
    return _is_regional_authority(user, enterprise)


def can_manage_enterprise(user: Actor, enterprise: Enterprise) -> bool:
    """Enterprise admins manage their own enterprise's data and staff; platform admins any."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_platform_admin:
        return True
    return user.role == Role.ENTERPRISE_ADMIN and user.enterprise_id == enterprise.pk


def can_resubmit_registration(user: Actor, enterprise: Enterprise) -> bool:
    """Only the enterprise's own admin answers a rejection: the registration is theirs."""
    return bool(
        user.is_authenticated
        and user.is_active
        and user.role == Role.ENTERPRISE_ADMIN
        and user.enterprise_id == enterprise.pk
    )


def can_handle_alarms(user: Actor, enterprise_id: int | None) -> bool:
    """Who acknowledges an enterprise's alarms and sets its meters' alarm rules: its own admins and
    staff (they run the energy management center), and platform admins. Officials and a park's
    users see the alarms of enterprises in reach, read only."""
    if enterprise_id is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_platform_admin:
        return True
    return (
        user.role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF)
        and user.enterprise_id == enterprise_id
        and reach_for(user).can_change(enterprise_id)
    )


def can_manage_api_clients(user: Actor) -> bool:
    """Only platform admins create, change and revoke API clients: a key can reach a province."""
    return bool(user.is_authenticated and user.is_active and user.is_platform_admin)


def can_download_program_tables(user: Actor, program: Program) -> bool:
    """A program's summary table and submission list are the authorities' working papers: platform
    admins, and officials whose authority's region and the program's region overlap (a city's
    reviewer for the province's program, a provincial officer for a city's). Never enterprise
    users or experts. What the tables list is still `visible_submissions` of the official."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_platform_admin:
        return True
    if user.role not in (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER) or user.authority is None:
        return False
    mine, theirs = user.authority.region.path, program.region.path
    return mine.startswith(theirs) or theirs.startswith(mine)


def get_program_for_official(user: Actor, code: str) -> Program:
    """The program whose tables the user may download; 404 alike for an unknown code and for a
    program out of the user's reach (whose tables, for them, do not exist)."""
    program = Program.objects.select_related("region").filter(code=code).first()
    if program is None or not can_download_program_tables(user, program):
        raise Http404
    return program


# --- expert assignments and conflicts of interest (reviews.assignments) -----------------------------

def can_assign_experts(user: Actor, submission: Submission) -> bool:
    """Experts are assigned by the submission's provincial actors (for Shanghai, the commission's
    staff) and by platform admins; never by first reviewers, experts or applicants. Answered from
    `workflow_actors`, so it follows the same reach: a provincial officer of another province has
    no say over the submission."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return False
    return bool(workflow_actors(user, submission) & {"provincial", "platform_admin"})


def can_declare_conflicts(user: Actor) -> bool:
    """Experts declare their own conflicts of interest; nobody declares on another's behalf."""
    return bool(isinstance(user, User) and user.is_authenticated and user.is_active
                and user.role == Role.EXPERT)


def get_conflict_declaration_for_user(user: Actor, declaration_id: Any) -> ConflictDeclaration:
    """One of the user's own declarations; 404 alike for a missing one and another expert's."""
    if not can_declare_conflicts(user):
        raise Http404
    return _get_or_404(ConflictDeclaration.objects.filter(expert_id=user.pk), declaration_id)


def enterprise_for_declaration(user: Actor, credit_code: str) -> Enterprise | None:
    """The enterprise an expert names in a conflict declaration, by its exact credit code.

    The one read of enterprises outside an expert's reach: they must be able to declare an
    enterprise they are never assigned to, yet never browse enterprises. So only an exact
    18-character code is looked up, and only the row (for the declaration's link) is answered,
    never shown: the pages show the code the expert typed, nothing of the enterprise."""
    if not can_declare_conflicts(user):
        return None
    with scopes_disabled():  # outside the expert's reach by design (docstring)
        return Enterprise.objects.filter(credit_code=normalize_credit_code(credit_code)).first()


# --- review exports (reviews/export_views.py) ---------------------------------------------------------

def can_export_reviews(user: Actor, submission: Submission) -> bool:
    """A submission's score sheets, combined scores and on-site check record are the deciding
    authority's papers: the provincial officers who act on it and platform admins (the caller has
    found the submission in the user's reach). An expert exports only their own sheet
    (`can_export_sheet`)."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return False
    return bool(workflow_actors(user, submission) & {"provincial", "platform_admin"})


def can_export_sheet(user: Actor, submission: Submission, assignment: Assignment) -> bool:
    """One expert's sheet: its expert (while assigned), and whoever may export the submission's."""
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        return False
    if assignment.expert_id == user.pk and assignment.withdrawn_at is None:
        return True
    return can_export_reviews(user, submission)


def can_export_program_results(user: Actor, program: Program) -> bool:
    """A program's results list: platform admins and provincial officers whose authority's region
    and the program's overlap (the rows are still the officer's visible submissions)."""
    if not isinstance(user, User) or not can_download_program_tables(user, program):
        return False
    if user.is_platform_admin:
        return True
    return user.role == Role.PROVINCIAL_OFFICER or (
        user.authority is not None and user.authority.level == Authority.Level.PROVINCIAL)
