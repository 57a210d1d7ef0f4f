"""Expert assignments and conflicts of interest: the rules (reads and writes) in one place.

An expert is never offered, nor assigned to, a submission whose enterprise they are in conflict
with (issue 10, part 3):
- an enterprise they declared (employer, relation, consulting, or building its energy management
  center), unless the declaration ended more than three years ago: "the enterprises they served in
  the last three years". An open-ended declaration (no end date) always holds;
- an enterprise in a group (集团) they declared, with the same three-year rule;
- an enterprise in their own employer's (ReviewOrganization) group;
- their employer organization itself, recognised by its credit code.
Groups are compared by name, normalized (width, case and spaces): "中国宝武" and "中国 宝武" are one
group, "中国宝武" and "中国宝武钢铁集团有限公司" are not (a partial match would let a short name
exclude half the province's experts).

Who may assign is `portal.access.can_assign_experts` (the submission's provincial actors, platform
admins). Assigning a conflicted expert takes a reason: it is kept on the assignment and the audit
trail gets an `assignment_override` row saying who assigned whom despite what, and why. Every
write here also leaves the ordinary audit rows (reviews.signals registers the models).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.models import Submission, SubmissionState
from applications.selectors import local_today
from portal import audit
from portal.access import can_assign_experts, can_declare_conflicts
from portal.credit_code import normalize_credit_code
from portal.models import Enterprise, Role, User
from reviews.models import Assignment, ConflictDeclaration

# "近三年": a declaration that ended longer ago than this no longer conflicts.
CONFLICT_YEARS = 3


class AssignmentRefused(Exception):
    """The assignment (or its withdrawal) may not be made; `problems` say why. `forbidden`: the
    actor may not assign experts to this submission at all (403), else it is not possible as asked
    (400/409)."""

    def __init__(self, problems: list[str], *, forbidden: bool = False) -> None:
        self.problems = problems
        self.forbidden = forbidden
        super().__init__("; ".join(problems))


# --- conflicts (reads) -------------------------------------------------------------------------------

def normalize_group_name(name: str) -> str:
    """A group name as compared: full-width folded to half-width, case and whitespace ignored."""
    folded = unicodedata.normalize("NFKC", name or "").casefold()
    return "".join(folded.split())


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def declaration_holds(declaration: ConflictDeclaration, *, today: dt.date) -> bool:
    """Whether the declaration still conflicts: open-ended, or ended within the last three years."""
    return declaration.until is None or declaration.until >= years_before(today, CONFLICT_YEARS)


def _period(declaration: ConflictDeclaration) -> str:
    def day(value: dt.date) -> str:
        return f"{value:%Y年%-m月%-d日}"

    if declaration.since and declaration.until:
        return _("%(since)s至%(until)s") % {"since": day(declaration.since), "until": day(declaration.until)}
    if declaration.since:
        return _("%(since)s至今") % {"since": day(declaration.since)}
    if declaration.until:
        return _("至%(until)s") % {"until": day(declaration.until)}
    return _("未注明起止日期")


def _declaration_reasons(declarations: Iterable[ConflictDeclaration], enterprise: Enterprise,
                         *, today: dt.date) -> list[str]:
    reasons = []
    group = normalize_group_name(enterprise.group_name)
    for declaration in declarations:
        if not declaration_holds(declaration, today=today):
            continue
        values = {"kind": declaration.get_kind_display(), "period": _period(declaration)}
        if declaration.enterprise_id == enterprise.pk:
            reasons.append(_("专家声明与该企业存在利益关系：%(kind)s（%(period)s）") % values)
        elif group and normalize_group_name(declaration.group_name) == group:
            reasons.append(_("专家声明与该企业所属集团“%(group)s”存在利益关系：%(kind)s（%(period)s）")
                           % {**values, "group": enterprise.group_name})
    return reasons


def _employer_reasons(expert: User, enterprise: Enterprise) -> list[str]:
    organization = expert.review_organization
    if organization is None:
        return []
    reasons = []
    if normalize_credit_code(organization.credit_code) == normalize_credit_code(enterprise.credit_code):
        reasons.append(_("该企业即专家所在机构“%(organization)s”") % {"organization": organization.name})
    group = normalize_group_name(enterprise.group_name)
    if group and normalize_group_name(organization.group_name) == group:
        reasons.append(_("专家所在机构“%(organization)s”与该企业同属“%(group)s”") % {
            "organization": organization.name, "group": enterprise.group_name})
    return reasons


def _relevant_declarations(expert_ids: Iterable[int],
                           enterprise: Enterprise) -> QuerySet[ConflictDeclaration]:
    """Declarations of these experts that may name the enterprise: by it, or by some group (groups
    are compared normalized, in Python)."""
    named = Q(enterprise_id=enterprise.pk)
    if normalize_group_name(enterprise.group_name):
        named |= ~Q(group_name="")
    return ConflictDeclaration.objects.filter(named, expert_id__in=list(expert_ids)).order_by("kind", "id")


def conflicts_for(expert: User, enterprise: Enterprise, *, today: dt.date | None = None) -> list[str]:
    """Why the expert may not review the enterprise's submissions; empty when nothing conflicts."""
    today = today or local_today()
    return (_declaration_reasons(_relevant_declarations([expert.pk], enterprise), enterprise, today=today)
            + _employer_reasons(expert, enterprise))


def active_experts() -> QuerySet[User]:
    return (User.objects.filter(role=Role.EXPERT, is_active=True).select_related("review_organization")
            .order_by("last_name", "first_name", "username"))


def experts_offered(submission: Submission, *, today: dt.date | None = None) -> list[User]:
    """The experts an officer may pick for the submission: every active expert, minus any in
    conflict with its enterprise (they are never offered; assigning one anyway takes an override
    reason). Experts already assigned are still listed (an assignment form shows its own)."""
    today = today or local_today()
    enterprise = submission.enterprise
    experts = list(active_experts())
    declarations: dict[int, list[ConflictDeclaration]] = {}
    for declaration in _relevant_declarations([expert.pk for expert in experts], enterprise):
        declarations.setdefault(declaration.expert_id, []).append(declaration)
    return [expert for expert in experts
            if not _declaration_reasons(declarations.get(expert.pk, []), enterprise, today=today)
            and not _employer_reasons(expert, enterprise)]


def conflict_declarations_of(expert: User) -> QuerySet[ConflictDeclaration]:
    return ConflictDeclaration.objects.filter(expert=expert).select_related("enterprise").order_by(
        "-declared_at", "-id")


# --- assignments (writes) ----------------------------------------------------------------------------

# Once decided (or rejected, withdrawn, published), a submission's panel is what reviewed it.
DECIDED_STATES = frozenset({
    SubmissionState.FIRST_REVIEW_REJECTED, SubmissionState.PASSED, SubmissionState.NOT_PASSED,
    SubmissionState.AWARDED, SubmissionState.PUBLISHED, SubmissionState.WITHDRAWN})


def assignable(submission: Submission) -> bool:
    """Whether experts may still be assigned: filed and not yet decided."""
    return submission.state != SubmissionState.DRAFT and submission.state not in DECIDED_STATES


def _locked_submission(submission: Submission) -> Submission:
    # Serializes the assignments of one submission: the lead check and the duplicate check read
    # what a concurrent assignment would change.
    return Submission.objects.select_for_update().select_related("enterprise").get(pk=submission.pk)


@transaction.atomic
def assignment_create(*, submission: Submission, expert: User, by: User, lead: bool = False,
                      override_reason: str = "", today: dt.date | None = None) -> Assignment:
    """Assign `expert` to the submission as `by`; refuse (changing nothing) when it may not be.

    A conflicted expert is refused unless `override_reason` is given: then the assignment keeps the
    reason and the audit trail records the override. `lead=True` makes the expert the lead, the
    previous lead (if any) staying on as an ordinary member."""
    if not can_assign_experts(by, submission):
        raise AssignmentRefused([_("您不能为该申报分配评审专家")], forbidden=True)
    locked = _locked_submission(submission)
    problems = []
    if locked.state == SubmissionState.DRAFT:
        problems.append(_("申报尚未提交，不能分配评审专家"))
    elif not assignable(locked):
        problems.append(_("该申报已有结论，不能再分配评审专家"))
    if expert.role != Role.EXPERT or not expert.is_active:
        problems.append(_("%(user)s 不是在用的评审专家账号") % {"user": expert.username})
    elif Assignment.objects.filter(submission=locked, expert=expert, withdrawn_at__isnull=True).exists():
        problems.append(_("%(user)s 已分配到该申报") % {"user": expert.get_full_name() or expert.username})
    if problems:
        raise AssignmentRefused(problems)
    conflicts = conflicts_for(expert, locked.enterprise, today=today)
    reason = (override_reason or "").strip()
    if conflicts and not reason:
        raise AssignmentRefused([_("该专家存在利益冲突，不能分配（如确需分配，请填写例外理由）："),
                                 *conflicts])
    if lead:
        _demote_lead(locked)
    assignment = Assignment.objects.create(
        submission=locked, expert=expert, is_lead=lead, assigned_by=by, assigned_at=timezone.now(),
        conflict_override_reason=reason if conflicts else "")
    if conflicts:
        audit.record("assignment_override", obj=assignment, actor=by, changes={
            "expert": expert.username, "expert_id": expert.pk, "assigned_by": by.username,
            "submission_id": locked.pk, "conflicts": conflicts, "reason": reason})
    return assignment


def _demote_lead(submission: Submission) -> None:
    for previous in Assignment.objects.filter(submission=submission, is_lead=True, withdrawn_at__isnull=True):
        previous.is_lead = False
        previous.save(update_fields=["is_lead"])  # saved one by one: each leaves its audit row


def _locked_assignment(assignment: Assignment, by: User) -> Assignment:
    if not can_assign_experts(by, assignment.submission):
        raise AssignmentRefused([_("您不能调整该申报的评审专家")], forbidden=True)
    _locked_submission(assignment.submission)
    return Assignment.objects.select_for_update().select_related("expert").get(pk=assignment.pk)


@transaction.atomic
def assignment_make_lead(*, assignment: Assignment, by: User) -> Assignment:
    """Make an assigned expert the lead; the previous lead stays on as an ordinary member."""
    locked = _locked_assignment(assignment, by)
    if locked.withdrawn_at is not None:
        raise AssignmentRefused([_("该分配已撤回")])
    if not locked.is_lead:
        _demote_lead(locked.submission)
        locked.is_lead = True
        locked.save(update_fields=["is_lead"])
    assignment.is_lead = locked.is_lead
    return locked


@transaction.atomic
def assignment_withdraw(*, assignment: Assignment, by: User, reason: str) -> Assignment:
    """Withdraw an assignment: the expert loses the submission (and its enterprise) from their
    reach; their sheets stay as they filled them but no longer count. The reason goes to the
    audit trail."""
    locked = _locked_assignment(assignment, by)
    reason = (reason or "").strip()
    problems = []
    if locked.withdrawn_at is not None:
        problems.append(_("该分配已撤回"))
    if not reason:
        problems.append(_("请填写撤回理由"))
    if problems:
        raise AssignmentRefused(problems)
    locked.withdrawn_at = timezone.now()
    locked.save(update_fields=["withdrawn_at"])
    audit.record("assignment_withdraw", obj=locked, actor=by, changes={
        "expert": locked.expert.username, "expert_id": locked.expert_id,
        "submission_id": locked.submission_id,
        "was_lead": locked.is_lead, "reason": reason})
    assignment.withdrawn_at = locked.withdrawn_at
    return locked


# --- declarations (writes) ---------------------------------------------------------------------------

def conflict_declare(*, expert: User, kind: str, enterprise: Enterprise | None = None, group_name: str = "",
                     description: str = "", since: dt.date | None = None, until: dt.date | None = None,
                     today: dt.date | None = None) -> ConflictDeclaration:
    """The expert declares a conflict of interest: an enterprise of the portal or a group by name
    (one of the two), with what the relation is and, if known, since and until when."""
    today = today or local_today()
    if not can_declare_conflicts(expert):
        raise ValidationError(_("只有评审专家本人可以声明利益冲突"))
    group_name = " ".join((group_name or "").split())
    errors: dict[str, list[str]] = {}
    if kind not in ConflictDeclaration.Kind.values:
        errors.setdefault("kind", []).append(_("请选择利益关系类型"))
    if enterprise is None and not group_name:
        errors.setdefault("enterprise", []).append(_("请填写企业的统一社会信用代码或集团名称（二选一）"))
    elif enterprise is not None and group_name:
        errors.setdefault("group_name", []).append(_("企业与集团请分别声明（二选一）"))
    if since is not None and since > today:
        errors.setdefault("since", []).append(_("起始日期不能晚于今天"))
    if since is not None and until is not None and until < since:
        errors.setdefault("until", []).append(_("截止日期不能早于起始日期"))
    if not errors:
        same = ConflictDeclaration.objects.filter(expert=expert, kind=kind, enterprise=enterprise,
                                                  group_name=group_name, since=since, until=until)
        if same.exists():
            errors.setdefault("__all__", []).append(_("您已声明过相同的利益关系"))
    if errors:
        raise ValidationError(errors)
    declaration = ConflictDeclaration(expert=expert, kind=kind, enterprise=enterprise, group_name=group_name,
                                      description=(description or "").strip(), since=since, until=until,
                                      declared_at=timezone.now())
    declaration.full_clean(exclude=["expert", "enterprise"])
    declaration.save()
    return declaration


def conflict_remove(*, declaration: ConflictDeclaration, by: User) -> None:
    """The expert withdraws one of their own declarations (the audit trail keeps it). Assignments
    made meanwhile are not touched; from now on the enterprise may be offered to the expert."""
    if declaration.expert_id != by.pk or not can_declare_conflicts(by):
        raise ValidationError(_("只能撤回本人的利益冲突声明"))
    declaration.delete()
