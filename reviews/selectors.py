"""Reads of reviews: assignments, the checklists a submission is judged by, and its sheets' scores."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from applications.definitions import Checklist
from applications.models import Submission
from applications.selectors import submission_context, submission_definition
from applications.values import condition_holds
from reviews.models import Activity, Assignment, ScoreSheet
from reviews.scoring import CombinedResult, Judgement, SheetResult, combine, sheet_result


def active_assignments(submission: Submission) -> QuerySet[Assignment]:
    return (Assignment.objects.filter(submission=submission, withdrawn_at__isnull=True)
            .select_related("expert").order_by("-is_lead", "assigned_at"))


def checklists_for(submission: Submission) -> list[Checklist]:
    """The definition's checklists that apply to this submission (its variant or track)."""
    definition = submission_definition(submission)
    context = submission_context(submission)
    return [checklist for checklist in definition.checklists if checklist.applies_if is None
            or condition_holds(checklist.applies_if, values={}, context=context)]


def sheet_judgements(sheet: ScoreSheet) -> dict[str, Judgement]:
    return {item.item: Judgement(verdict=item.verdict, points=item.points) for item in sheet.items.all()}


@dataclass(frozen=True)
class ChecklistScores:
    checklist: Checklist
    sheets: list[tuple[ScoreSheet, SheetResult]]  # submitted sheets only, each as its expert filled it
    combined: CombinedResult


def submission_scores(submission: Submission) -> list[ChecklistScores]:
    """Per applicable checklist: each submitted sheet's result and their combination."""
    workflow = submission_definition(submission).workflow
    aggregation = workflow.aggregation if workflow is not None else "mean"
    sheets = list(ScoreSheet.objects.filter(submission=submission, submitted_at__isnull=False,
                                            assignment__withdrawn_at__isnull=True)
                  .select_related("assignment__expert").prefetch_related("items"))
    scores = []
    for checklist in checklists_for(submission):
        results = [(sheet, sheet_result(checklist, sheet_judgements(sheet)))
                   for sheet in sheets if sheet.checklist == checklist.key]
        scores.append(ChecklistScores(checklist=checklist, sheets=results,
                                      combined=combine(checklist, [result for _, result in results],
                                                       aggregation=aggregation)))
    return scores


def activity_of(submission: Submission) -> QuerySet[Activity]:
    return Activity.objects.filter(submission=submission).select_related("actor").order_by("created_at", "id")
