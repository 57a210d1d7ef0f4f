"""What a caller may do with submissions and what reviewers are shown, for one submission or a page.

The rules stay where they are: who is which workflow actor in `portal.access.workflow_actors`,
which transitions are open in `reviews.services.available_transitions`, how sheets score and
combine in `reviews.scoring`. This module only calls them economically for a page of rows:

- `actions_for_page` asks `workflow_actors` once per group of rows it answers alike for: the same
  first-review level and the same "actor inputs" (what `workflow_actors` reads of a submission
  the caller can see: nothing for officials, platform admins and API clients; whether it is the
  caller's own enterprise for enterprise users; the submission itself for experts, whose actors
  follow their assignment). A page of a hundred rows costs one or two queries, not a hundred.
  The open transitions then follow from the workflow as in `available_transitions` without its
  guards (each call of that function asks `workflow_actors` again: a query per state and
  version). Guards are not checked on a page: a guard may re-measure the application
  (eligibility) or read every sheet; the one-row answer (`actions_for`) checks them.
  tests/reviews/test_api.py keeps the page answer equal to `available_transitions`' for every
  role; if that function learns to take the actors, the page can call it instead.
- `review_details_for_page` reads the active assignments and the submitted sheets of the rows a
  reviewer may see in two queries (the sheets only for `portal.access.can_view_scores`), and
  scores them exactly as `reviews.selectors.submission_scores` does (same checklists, same sheet
  and combination functions; the test compares the two).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from applications.definitions import Checklist, TransitionDef
from applications.models import ProgramVersion, Submission
from applications.selectors import submission_definition
from portal.access import can_view_scores, workflow_actors
from portal.models import Role
from reviews.models import Assignment, ScoreSheet
from reviews.scoring import combine, sheet_result
from reviews.selectors import ChecklistScores, checklists_for, sheet_judgements
from reviews.services import available_transitions

# The workflow actors that review (they are shown the assignments and the combined score); the
# applicant is not one, and API clients are no actor at all.
REVIEWER_ACTORS = frozenset({"first_reviewer", "provincial", "expert", "lead_expert", "platform_admin"})


@dataclass(frozen=True)
class CallerActions:
    """The caller's standing on one submission: which workflow actors they are, which
    transitions are open to them."""

    actors: frozenset[str] = frozenset()
    transitions: tuple[TransitionDef, ...] = ()

    @property
    def is_reviewer(self) -> bool:
        return bool(self.actors & REVIEWER_ACTORS)


NO_ACTIONS = CallerActions()


def first_review_level(submission: Submission) -> str:
    workflow = submission_definition(submission).workflow
    return workflow.first_review_level if workflow is not None else "municipal"


def actions_for(user: object, submission: Submission, *, check_guards: bool = True,
                today: dt.date | None = None) -> CallerActions:
    """The caller's actors and open transitions on one submission they can see."""
    actors = workflow_actors(user, submission, first_review_level=first_review_level(submission))  # type: ignore[arg-type]
    if not actors:
        return NO_ACTIONS
    return CallerActions(actors=actors, transitions=tuple(
        available_transitions(user, submission, today=today, check_guards=check_guards)))


def _actor_inputs(user: object, submission: Submission) -> Hashable:
    """What `workflow_actors` reads of a submission the caller can see (module docstring). A finer
    key is always right; this one is only as coarse as that function allows."""
    if not getattr(user, "is_superuser", False):
        role = getattr(user, "role", None)
        if role == Role.EXPERT:
            return ("submission", submission.pk)
        if role in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF):
            return ("own", submission.enterprise_id == getattr(user, "enterprise_id", None))
    return ("any",)


def actions_for_page(user: object, submissions: Iterable[Submission]) -> dict[int, CallerActions]:
    """`actions_for` (guards not checked) for each row of a page the caller can see, by pk.

    The actors are asked once per first-review level and actor inputs (module docstring)."""
    levels: dict[int, str] = {}
    actors_of: dict[Hashable, frozenset[str]] = {}
    answered: dict[Hashable, CallerActions] = {}
    found = {}
    for submission in submissions:
        if submission.program_version_id not in levels:
            levels[submission.program_version_id] = first_review_level(submission)
        standing = (levels[submission.program_version_id], _actor_inputs(user, submission))
        if standing not in actors_of:
            actors_of[standing] = workflow_actors(user, submission,  # type: ignore[arg-type]
                                                  first_review_level=standing[0])
        actors = actors_of[standing]
        if not actors:
            found[submission.pk] = NO_ACTIONS
            continue
        key = (submission.program_version_id, submission.state, standing)
        if key not in answered:
            workflow = submission_definition(submission).workflow
            # available_transitions(check_guards=False), with the actors already known.
            open_now = [] if workflow is None else [
                transition for transition in workflow.transitions_from(submission.state)
                if actors & set(transition.actors)]
            answered[key] = CallerActions(actors=actors, transitions=tuple(open_now))
        found[submission.pk] = answered[key]
    return found


@dataclass(frozen=True)
class ReviewDetails:
    assignments: list[Assignment] = field(default_factory=list)
    scores: list[ChecklistScores] | None = None  # None: the caller may not read the scores


def review_details_for_page(submissions: Iterable[Submission], *, scores: bool = True
                            ) -> dict[int, ReviewDetails]:
    """Active assignments (lead first) and, with `scores`, the combined scores of each submission."""
    rows = list(submissions)
    ids = [submission.pk for submission in rows]
    if not ids:
        return {}
    assignments: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in (Assignment.objects.filter(submission_id__in=ids, withdrawn_at__isnull=True)
                       .select_related("expert").order_by("submission_id", "-is_lead", "assigned_at", "id")):
        assignments[assignment.submission_id].append(assignment)
    if not scores:
        return {submission.pk: ReviewDetails(assignments=assignments[submission.pk]) for submission in rows}
    sheets: dict[int, list[ScoreSheet]] = defaultdict(list)
    for sheet in (ScoreSheet.objects.filter(submission_id__in=ids, submitted_at__isnull=False,
                                            assignment__withdrawn_at__isnull=True)
                  .select_related("assignment__expert").prefetch_related("items").order_by("id")):
        sheets[sheet.submission_id].append(sheet)
    # Which checklists apply and how they combine depend on the definition version and the
    # submission's context (variant or track, enterprise kind): asked once per such group.
    judged_by: dict[Hashable, tuple[list[Checklist], str]] = {}
    found = {}
    for submission in rows:
        key = (submission.program_version_id, submission.variant, submission.track,
               submission.enterprise.kind)
        if key not in judged_by:
            workflow = submission_definition(submission).workflow
            judged_by[key] = (checklists_for(submission),
                              workflow.aggregation if workflow is not None else "mean")
        checklists, aggregation = judged_by[key]
        found[submission.pk] = ReviewDetails(assignments=assignments[submission.pk],
                                             scores=_scores(checklists, aggregation, sheets[submission.pk]))
    return found


def _scores(checklists: list[Checklist], aggregation: str, sheets: list[ScoreSheet]) -> list[ChecklistScores]:
    # As reviews.selectors.submission_scores, over sheets read for the whole page.
    scores = []
    for checklist in checklists:
        results = [(sheet, sheet_result(checklist, sheet_judgements(sheet)))
                   for sheet in sheets if sheet.checklist == checklist.key]
        scores.append(ChecklistScores(checklist=checklist, sheets=results,
                                      combined=combine(checklist, [result for _, result in results],
                                                       aggregation=aggregation)))
    return scores


def page_review(user: object, submissions: Iterable[Submission], *, check_guards: bool = False,
                today: dt.date | None = None) -> dict[int, tuple[CallerActions, ReviewDetails | None]]:
    """For each row: the caller's actions and, when the caller reviews it, its review details
    (None otherwise: the applicant and API clients are not shown them); the combined scores only
    to those `portal.access.can_view_scores` lets read them (provincial officers, platform
    admins: first reviewers and experts are not shown the experts' combination). `check_guards`
    asks each row on its own (a detail page); without it the page is grouped (`actions_for_page`).

    Rows whose definition version was deferred (a list does not load a definition per row) get it
    from one query, shared by the rows of that version."""
    rows = list(submissions)
    _attach_definitions(rows)
    if check_guards:
        actions = {submission.pk: actions_for(user, submission, today=today) for submission in rows}
    else:
        actions = actions_for_page(user, rows)
    details = review_details_for_page([row for row in rows if actions[row.pk].is_reviewer],
                                      scores=can_view_scores(user))  # type: ignore[arg-type]
    return {submission.pk: (actions[submission.pk], details.get(submission.pk)) for submission in rows}


def _attach_definitions(rows: list[Submission]) -> None:
    deferred = {row.program_version_id for row in rows
                if "definition" in row.program_version.get_deferred_fields()}
    if not deferred:
        return
    definitions = dict(ProgramVersion.objects.filter(pk__in=deferred).values_list("pk", "definition"))
    for row in rows:
        if row.program_version_id in definitions:
            row.program_version.definition = definitions[row.program_version_id]
