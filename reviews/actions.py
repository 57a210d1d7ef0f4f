"""What a caller may do with submissions and what reviewers are shown, for one submission or a page.

The rules stay where they are: who is which workflow actor in `portal.access.workflow_actors`,
which transitions are open in `reviews.services.available_transitions`, how sheets score and
combine in `reviews.scoring`. This module only calls them economically for a page of rows:

- `actions_for_page` asks `available_transitions` once per group of rows that it answers alike
  for: the same definition version, the same state, and the same "actor inputs" (what
  `workflow_actors` reads of a submission the caller can see: nothing for officials, platform
  admins and API clients; whether it is the caller's own enterprise for enterprise users; the
  submission itself for experts, whose actors follow their assignment). A page of fifty rows in
  three states costs three calls, not fifty. Guards are not checked on a page: a guard may
  re-measure the application (eligibility) or read every sheet; the one-row answer checks them.
  tests/reviews/test_api.py keeps the grouped answer equal to the per-row one for every role.
- `review_details_for_page` reads the active assignments and the submitted sheets of the rows a
  reviewer may see in two queries, and scores them exactly as `reviews.selectors.submission_scores`
  does (same checklists, same sheet and combination functions; the test compares the two).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from applications.definitions import TransitionDef
from applications.models import Submission
from applications.selectors import submission_definition
from portal.access import workflow_actors
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


def actions_for_page(user: object, submissions: Iterable[Submission], *,
                     today: dt.date | None = None) -> dict[int, CallerActions]:
    """`actions_for` (guards not checked) for each row of a page the caller can see, by pk."""
    answered: dict[Hashable, CallerActions] = {}
    found = {}
    for submission in submissions:
        key = (submission.program_version_id, submission.state, _actor_inputs(user, submission))
        if key not in answered:
            answered[key] = actions_for(user, submission, check_guards=False, today=today)
        found[submission.pk] = answered[key]
    return found


@dataclass(frozen=True)
class ReviewDetails:
    assignments: list[Assignment] = field(default_factory=list)
    scores: list[ChecklistScores] = field(default_factory=list)


def review_details_for_page(submissions: Iterable[Submission]) -> dict[int, ReviewDetails]:
    """Active assignments (lead first) and the combined scores of each submission, by pk."""
    rows = list(submissions)
    ids = [submission.pk for submission in rows]
    if not ids:
        return {}
    assignments: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in (Assignment.objects.filter(submission_id__in=ids, withdrawn_at__isnull=True)
                       .select_related("expert").order_by("submission_id", "-is_lead", "assigned_at", "id")):
        assignments[assignment.submission_id].append(assignment)
    sheets: dict[int, list[ScoreSheet]] = defaultdict(list)
    for sheet in (ScoreSheet.objects.filter(submission_id__in=ids, submitted_at__isnull=False,
                                            assignment__withdrawn_at__isnull=True)
                  .select_related("assignment__expert").prefetch_related("items").order_by("id")):
        sheets[sheet.submission_id].append(sheet)
    return {submission.pk: ReviewDetails(assignments=assignments[submission.pk],
                                         scores=_scores(submission, sheets[submission.pk]))
            for submission in rows}


def _scores(submission: Submission, sheets: list[ScoreSheet]) -> list[ChecklistScores]:
    # As reviews.selectors.submission_scores, over sheets read for the whole page.
    checklists = checklists_for(submission)
    if not checklists:
        return []
    workflow = submission_definition(submission).workflow
    aggregation = workflow.aggregation if workflow is not None else "mean"
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
    (None otherwise: the applicant and API clients are not shown them). `check_guards` asks each
    row on its own (a detail page); without it the page is grouped (`actions_for_page`)."""
    rows = list(submissions)
    if check_guards:
        actions = {submission.pk: actions_for(user, submission, today=today) for submission in rows}
    else:
        actions = actions_for_page(user, rows, today=today)
    details = review_details_for_page([row for row in rows if actions[row.pk].is_reviewer])
    return {submission.pk: (actions[submission.pk], details.get(submission.pk)) for submission in rows}
