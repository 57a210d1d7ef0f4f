"""The one service that moves a submission through its program's workflow.

`transition_perform` checks that the action exists from the current state, that the actor may
take it (portal.access.workflow_actors), that its guards hold and that a reason and a deadline are
given where the action asks for them; then it changes the state, writes the submission's activity
and the audit trail, and sends the notifications after commit. The applicant's filing (draft or
returned → submitted) runs through here too: it files with applications.services.submission_file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.definitions import TransitionDef, WorkflowDef
from applications.models import Submission, SubmissionState
from applications.selectors import local_today, submission_definition
from applications.services import SubmissionRefused, submission_file
from portal import audit
from portal.access import workflow_actors
from portal.models import User
from reviews.models import Activity, ScoreSheet
from reviews.signals import transition_performed

# The applicant's filing actions: they file the application (a filing record, frozen evidence)
# besides moving the state.
FILING_TARGET = SubmissionState.SUBMITTED


class TransitionRefused(Exception):
    """The actor may not take the action now; `problems` say why. `forbidden` distinguishes "not
    yours to take" (403) from "not possible now" (409/400)."""

    def __init__(self, problems: list[str], *, forbidden: bool = False) -> None:
        self.problems = problems
        self.forbidden = forbidden
        super().__init__("; ".join(problems))


def workflow_of(submission: Submission) -> WorkflowDef:
    workflow = submission_definition(submission).workflow
    if workflow is None:
        raise TransitionRefused([_("该项目没有定义评审流程")])
    return workflow


@dataclass(frozen=True)
class GuardContext:
    submission: Submission
    workflow: WorkflowDef
    today: dt.date


GuardCheck = Callable[[GuardContext], str | None]
# Guard name (applications.definitions.GUARDS) → a check answering the problem, or None when it
# holds. The reviews parts that own what a guard reads (assignments, sheets) register theirs.
GUARD_CHECKS: dict[str, GuardCheck] = {}


def guard(name: str) -> Callable[[GuardCheck], GuardCheck]:
    def register(check: GuardCheck) -> GuardCheck:
        GUARD_CHECKS[name] = check
        return check

    return register


@guard("deadline_passed")
def _deadline_passed(context: GuardContext) -> str | None:
    due = context.submission.additions_due
    if due is None or context.today <= due:
        return _("补正期限尚未届满")
    return None


@guard("deadline_not_passed")
def _deadline_not_passed(context: GuardContext) -> str | None:
    due = context.submission.additions_due
    if due is not None and context.today > due:
        return _("补正期限已过（%(due)s）") % {"due": f"{due:%Y年%-m月%-d日}"}
    return None


@guard("eligibility_passed")
def _eligibility_passed(context: GuardContext) -> str | None:
    from applications.selectors import submission_status

    failed = [rule for rule in submission_status(context.submission, today=context.today).eligibility
              if not rule.passed]
    if failed:
        return _("申报条件未全部满足：%(rules)s") % {"rules": "；".join(f"{rule.label}（{rule.reason}）"
                                                           for rule in failed)}
    return None


def guard_problems(transition: TransitionDef, context: GuardContext) -> list[str]:
    problems = []
    for name in transition.guards:
        check = GUARD_CHECKS.get(name)
        if check is None:
            problems.append(_("未实现的条件检查：%(guard)s") % {"guard": name})
            continue
        problem = check(context)
        if problem:
            problems.append(problem)
    return problems


def available_transitions(user: object, submission: Submission, *, today: dt.date | None = None,
                          check_guards: bool = True) -> list[TransitionDef]:
    """The transitions the user may take on the submission now (guards holding, unless asked not to
    check them: a page may show a step with the reason it is not yet possible)."""
    definition = submission_definition(submission)
    workflow = definition.workflow
    if workflow is None:
        return []
    actors = workflow_actors(user, submission, first_review_level=workflow.first_review_level)  # type: ignore[arg-type]
    context = GuardContext(submission=submission, workflow=workflow, today=today or local_today())
    found = []
    for transition in workflow.transitions_from(submission.state):
        if not actors & set(transition.actors):
            continue
        if check_guards and guard_problems(transition, context):
            continue
        found.append(transition)
    return found


@transaction.atomic
def transition_perform(*, submission: Submission, action: str, actor: object, reason: str = "",
                       deadline: dt.date | None = None, today: dt.date | None = None) -> Activity:
    """Take `action` on the submission as `actor`; refuse (changing nothing) when it may not."""
    locked = Submission.objects.select_for_update().select_related(
        "program_version", "enterprise__region").get(pk=submission.pk)
    workflow = workflow_of(locked)
    today = today or local_today()
    transition = workflow.transition(action)
    if transition is None:
        raise TransitionRefused([_("未知操作：%(action)s") % {"action": action}])
    actors = workflow_actors(actor, locked, first_review_level=workflow.first_review_level)  # type: ignore[arg-type]
    if not actors & set(transition.actors):
        raise TransitionRefused([_("您不能对该申报执行“%(label)s”") % {"label": transition.label.zh}],
                                forbidden=True)
    if locked.state not in transition.sources:
        raise TransitionRefused([_("当前状态下不能执行“%(label)s”") % {"label": transition.label.zh}])
    problems = guard_problems(transition, GuardContext(submission=locked, workflow=workflow, today=today))
    reason = (reason or "").strip()
    if transition.needs_reason and not reason:
        problems.append(_("请填写理由"))
    if transition.needs_deadline:
        if deadline is None:
            problems.append(_("请填写补正期限"))
        elif deadline <= today:
            problems.append(_("补正期限须晚于今天"))
    if problems:
        raise TransitionRefused(problems)
    previous = locked.state
    if transition.target == FILING_TARGET and "applicant" in transition.actors and "applicant" in actors:
        try:
            submission_file(submission=locked, user=actor, today=today)  # type: ignore[arg-type]
        except SubmissionRefused as exc:
            raise TransitionRefused(list(exc.messages)) from exc
    locked.state = transition.target
    if transition.needs_deadline:
        locked.additions_due = deadline
    elif transition.target == FILING_TARGET:
        locked.additions_due = None
    locked.save(update_fields=["state", "additions_due", "submitted_at", "submitted_by"])
    user = actor if isinstance(actor, User) else None
    activity = Activity.objects.create(
        submission=locked, action=transition.key, from_state=previous, to_state=transition.target,
        actor=user, actor_name=(user.get_full_name() or user.username) if user is not None else "",
        actor_kind=",".join(sorted(actors)), reason=reason,
        deadline=deadline if transition.needs_deadline else None, created_at=timezone.now())
    audit.record(f"transition:{transition.key}"[:40], obj=locked, actor=user, changes={
        "state": [previous, transition.target], "reason": reason,
        "deadline": deadline.isoformat() if deadline and transition.needs_deadline else None})
    transaction.on_commit(lambda: transition_performed.send(sender=Activity, activity=activity,
                                                            transition=transition))
    submission.state, submission.additions_due = locked.state, locked.additions_due
    return activity


@guard("lead_expert_assigned")
def _lead_expert_assigned(context: GuardContext) -> str | None:
    from reviews.selectors import active_assignments

    if not active_assignments(context.submission).filter(is_lead=True).exists():
        return _("尚未分配评审专家组长")
    return None


@guard("expert_reviews_received")
def _expert_reviews_received(context: GuardContext) -> str | None:
    from reviews.selectors import checklists_for

    wanted = context.workflow.min_expert_reviews
    for checklist in checklists_for(context.submission):
        received = ScoreSheet.objects.filter(submission=context.submission, checklist=checklist.key,
                                             submitted_at__isnull=False,
                                             assignment__withdrawn_at__isnull=True).count()
        if received < wanted:
            return _("%(checklist)s：已收到 %(received)s 份专家评审表，至少需要 %(wanted)s 份") % {
                "checklist": checklist.title.zh, "received": received, "wanted": wanted}
    return None


@guard("checklists_complete")
def _checklists_complete(context: GuardContext) -> str | None:
    from reviews.selectors import active_assignments, submission_scores

    experts = active_assignments(context.submission).count()
    if experts == 0:
        return _("尚未分配评审专家")
    for scores in submission_scores(context.submission):
        if len(scores.sheets) < experts:
            return _("%(checklist)s：还有专家未提交评审表") % {"checklist": scores.checklist.title.zh}
        for sheet, result in scores.sheets:
            if not result.complete:
                return _("%(checklist)s：%(expert)s 的评审表还有 %(count)s 项未评判") % {
                    "checklist": scores.checklist.title.zh, "expert": sheet.assignment.expert,
                    "count": len(result.unjudged)}
    return None


@guard("signed_scan_attached")
def _signed_scan_attached(context: GuardContext) -> str | None:
    definition = submission_definition(context.submission)
    kinds = [kind for kind in definition.attachments if kind.signed_scan_of]
    present = set(context.submission.attachment_files.values_list("kind", flat=True))
    missing = [kind.label.zh for kind in kinds if kind.key not in present]
    if missing:
        return _("请上传签字盖章后的扫描件：%(kinds)s") % {"kinds": "、".join(missing)}
    return None


def applicant_filing_action(user: object, submission: Submission) -> TransitionDef | None:
    """The applicant's filing step from the submission's current state (submit from a draft,
    resubmit after a return), if the workflow has one the user may take."""
    for transition in available_transitions(user, submission, check_guards=False):
        if transition.target == FILING_TARGET and "applicant" in transition.actors:
            return transition
    return None


def applicant_file(*, submission: Submission, user: User, today: dt.date | None = None) -> Activity | None:
    """File (or refile) through the program's workflow. None when the program has no workflow: the
    caller files with applications.services.submission_submit then."""
    if submission_definition(submission).workflow is None:
        return None
    transition = applicant_filing_action(user, submission)
    if transition is None:
        raise TransitionRefused([_("当前状态下不能提交")], forbidden=True)
    return transition_perform(submission=submission, action=transition.key, actor=user, today=today)


def latest_return(submission: Submission) -> Activity | None:
    """The return for additions the submission is answering, while it is returned."""
    if submission.state != SubmissionState.RETURNED:
        return None
    return (Activity.objects.filter(submission=submission, to_state=SubmissionState.RETURNED)
            .order_by("-created_at", "-id").first())
