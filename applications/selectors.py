"""Reads of programs and submissions: which programs an enterprise may apply to, and where a
submission stands (form, attachments, evidence, eligibility) before it is filed."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from applications.attachments import KindStatus, attachments_check
from applications.definitions import ProgramDefinition, definition_of
from applications.eligibility import FAILED, RuleResult, eligibility_check
from applications.evidence import MeasuredFigure, evidence_measure
from applications.models import Program, Submission
from applications.values import Context, FormCheck, form_check
from portal.models import Enterprise


def local_today() -> dt.date:
    return timezone.localdate()


def program_definition(program: Program) -> ProgramDefinition:
    return definition_of(program.definition)


def submission_definition(submission: Submission) -> ProgramDefinition:
    """The definition the submission is filed under: its own version, not the program's latest."""
    return definition_of(submission.program_version.definition)


def program_is_open_to(program: Program, enterprise: Enterprise, *, today: dt.date | None = None) -> bool:
    """Active, the enterprise registered in the program's region, of a kind it takes, within its dates."""
    if not program.is_active:
        return False
    definition = program_definition(program)
    if f"/{program.region.code}/" not in enterprise.region.path:
        return False
    if enterprise.kind not in definition.enterprise_kinds:
        return False
    today = today or local_today()
    if definition.opens and today < dt.date.fromisoformat(definition.opens):
        return False
    return not (definition.closes and today > dt.date.fromisoformat(definition.closes))


def programs_open_to(enterprise: Enterprise, *, today: dt.date | None = None) -> list[Program]:
    programs = Program.objects.filter(is_active=True).select_related("region").order_by("code")
    return [program for program in programs if program_is_open_to(program, enterprise, today=today)]


def variants_for(definition: ProgramDefinition, enterprise: Enterprise) -> list[str]:
    """The form variants the enterprise's kind may file (all of them when the program has none)."""
    return [variant.key for variant in definition.variants if enterprise.kind in variant.enterprise_kinds]


def submission_context(submission: Submission, *, today: dt.date | None = None) -> Context:
    return Context(variant=submission.variant or submission.track or None,
                   enterprise_kind=submission.enterprise.kind, today=today or local_today())


@dataclass
class SubmissionStatus:
    """Everything the applicant needs to see before filing, and what blocks it."""

    definition: ProgramDefinition
    form: FormCheck
    attachments: list[KindStatus]
    figures: list[MeasuredFigure]
    eligibility: list[RuleResult]
    blockers: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.blockers


def attachment_counts(submission: Submission) -> dict[str, int]:
    return dict(Counter(submission.attachment_files.values_list("kind", flat=True)))


def submission_status(submission: Submission, *, today: dt.date | None = None,
                      with_evidence: bool = True) -> SubmissionStatus:
    """The form's sections, the attachments, the measured figures and the eligibility rules."""
    definition = submission_definition(submission)
    context = submission_context(submission, today=today)
    form = form_check(definition, submission.data, context=context)
    kinds = attachments_check(definition, counts=attachment_counts(submission), values=form.values,
                              context=context)
    assert context.today is not None
    figures = (evidence_measure(submission.enterprise, definition, values=form.values, today=context.today)
               if with_evidence else [])
    rules = eligibility_check(definition, enterprise=submission.enterprise, values=form.values,
                              figures=figures, context=context)
    blockers = [f"{section.title}：{'、'.join(section.missing) or '有填写错误'}"
                for section in form.sections if not section.complete]
    blockers += [problem for kind in kinds for problem in kind.problems]
    blockers += [f"{rule.label}：{rule.reason}" for rule in rules if rule.outcome == FAILED]
    return SubmissionStatus(definition=definition, form=form, attachments=kinds, figures=figures,
                            eligibility=rules, blockers=blockers)


def submissions_of(enterprise: Enterprise) -> QuerySet[Submission]:
    return (Submission.objects.filter(enterprise=enterprise)
            .select_related("program", "program_version", "enterprise").order_by("-updated_at", "-id"))
