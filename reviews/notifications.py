"""Review mails: who hears of a transition, what the mail says, and its delivery.

Who (per `TransitionDef.notify`):
- applicant: the submission's enterprise's active admins and staff with an email address;
- first_reviewer: the reviewers of the authority whose region holds the enterprise, at the
  workflow's first_review_level (a city's or a district's);
- provincial: the provincial officers of the program's province;
- experts: the experts assigned (active assignments).
An official is mailed only when the access policy says they act for that audience on this
submission (portal.access.workflow_actors): one rule for who reviews and who is told.
An expert also hears of their own assignment when it is made (`assignment_mail_queue`).

Essential or not: what changes what an applicant must do (returned with a deadline, a decision,
a rejection, the publication of results) and whatever goes to an assigned expert are essential
and sent whatever the recipient's preference; the rest ("submitted", "passed the first review",
for the officials' information) is non-essential, and a user may turn it off
(NotificationPreference.non_essential).

Delivery is at least once and never in the transition's way: the receiver runs after the
transition committed, writes one NotificationMail row per person (composed then, in Chinese, as
the transition was) and queues a task per row. The task sends it; an SMTP failure keeps the row
unsent and the task retries with a growing delay; once its retries are spent (or if the broker
was down when it was queued) the sweep (`notification_mails_send_due`, on the beat) offers the
row again at its `next_attempt_at`, so no mail is lost while the mail server is away.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_scopes import scopes_disabled

from applications.definitions import TransitionDef, WorkflowDef
from applications.documents.content import zh_date
from applications.models import Submission, SubmissionState
from applications.selectors import submission_definition
from portal.access import workflow_actors
from portal.models import ENTERPRISE_ROLES, Role, User
from reviews.models import Activity, Assignment, NotificationMail, NotificationPreference
from reviews.signals import transition_performed

logger = logging.getLogger(__name__)

APPLICANT, FIRST_REVIEWER, PROVINCIAL, EXPERTS = "applicant", "first_reviewer", "provincial", "experts"
ASSIGNMENT = "assignment"  # an expert told of their own assignment
OFFICIAL_AUDIENCES = frozenset({FIRST_REVIEWER, PROVINCIAL, EXPERTS, ASSIGNMENT})
# States that change what an applicant must do, or tell them the outcome.
APPLICANT_ESSENTIAL_STATES = frozenset({
    SubmissionState.RETURNED, SubmissionState.FIRST_REVIEW_REJECTED, SubmissionState.PASSED,
    SubmissionState.NOT_PASSED, SubmissionState.AWARDED, SubmissionState.PUBLISHED})

# The task's own retries: 1, 2, 4, … minutes, capped; after them the sweep takes the row.
RETRY_BASE = dt.timedelta(minutes=1)
RETRY_CAP = dt.timedelta(minutes=30)
TASK_RETRIES = 6
# A fresh row is the task's; the sweep looks at it only if the task has not sent it by then.
SWEEP_GRACE = dt.timedelta(minutes=5)
SWEEP_BATCH = 100


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_CAP)


def is_essential(audience: str, transition: TransitionDef | None) -> bool:
    if audience in (EXPERTS, ASSIGNMENT):
        return True
    if audience == APPLICANT and transition is not None:
        return bool(transition.needs_deadline or transition.outcome
                    or transition.target in APPLICANT_ESSENTIAL_STATES)
    return False


# -- who ---------------------------------------------------------------------------------------

def _with_address(users: Iterable[User]) -> list[User]:
    return [user for user in users if user.is_active and user.email]


def _acting_as(candidates: Iterable[User], submission: Submission, workflow: WorkflowDef | None,
               actor: str) -> list[User]:
    level = workflow.first_review_level if workflow is not None else "municipal"
    return [user for user in candidates
            if actor in workflow_actors(user, submission, first_review_level=level)]


def recipients_for(audience: str, submission: Submission, workflow: WorkflowDef | None) -> list[User]:
    """The people of one audience for this submission (active, with an address), by id."""
    users = User.objects.filter(is_active=True).exclude(email="").select_related("authority__region")
    if audience == APPLICANT:
        return list(users.filter(enterprise_id=submission.enterprise_id, role__in=ENTERPRISE_ROLES)
                    .order_by("id"))
    enterprise_path = submission.enterprise.region.path
    if audience == FIRST_REVIEWER:
        # Prefiltered by role and region; the access policy decides the level.
        reviewers = users.filter(role=Role.MUNICIPAL_REVIEWER, authority__isnull=False).order_by("id")
        candidates = [user for user in reviewers if user.authority is not None
                      and enterprise_path.startswith(user.authority.region.path)]
        return _acting_as(candidates, submission, workflow, FIRST_REVIEWER)
    if audience == PROVINCIAL:
        province = "/" + submission.program.region.path.strip("/").split("/")[0] + "/"
        candidates = list(users.filter(role__in=(Role.PROVINCIAL_OFFICER, Role.MUNICIPAL_REVIEWER),
                                       authority__region__path__startswith=province).order_by("id"))
        return _acting_as(candidates, submission, workflow, PROVINCIAL)
    if audience == EXPERTS:
        experts = (Assignment.objects.filter(submission=submission, withdrawn_at__isnull=True)
                   .select_related("expert").order_by("-is_lead", "assigned_at"))
        return _with_address(assignment.expert for assignment in experts)
    return []


def _opted_out(user_ids: Iterable[int]) -> set[int]:
    return set(NotificationPreference.objects.filter(user_id__in=list(user_ids), non_essential=False)
               .values_list("user_id", flat=True))


def wants_non_essential(user: User) -> bool:
    return user.pk not in _opted_out([user.pk])


# -- what --------------------------------------------------------------------------------------

def _absolute(path: str) -> str:
    # PORTAL_BASE_URL ("https://nengtan.example.cn"): mails leave the site, so links need the
    # host; without it the path is given (the reader knows the portal's address).
    base = str(getattr(settings, "PORTAL_BASE_URL", "") or "").rstrip("/")
    return f"{base}{path}"


def submission_link(submission: Submission, audience: str) -> str:
    applicant_page = reverse("applications:submission_detail", kwargs={"submission_id": submission.pk})
    if audience == APPLICANT:
        return _absolute(applicant_page)
    try:
        return _absolute(reverse("admin:applications_submission_change", args=[submission.pk]))
    except NoReverseMatch:
        return _absolute(applicant_page)


def preferences_link() -> str:
    return _absolute(reverse("reviews:notification_preferences"))


def _state_label(workflow: WorkflowDef | None, state: str) -> str:
    defined = workflow.state(state) if workflow is not None else None
    if defined is not None:
        return defined.label.zh
    return str(SubmissionState(state).label) if state in SubmissionState.values else state


INTRO = {
    APPLICANT: gettext_noop("贵单位的申报有新的办理进展。"),
    FIRST_REVIEWER: gettext_noop("您负责初审的一份申报有新的办理进展。"),
    PROVINCIAL: gettext_noop("您所在省级主管部门的一份申报有新的办理进展。"),
    EXPERTS: gettext_noop("您参与评审的一份申报有新的办理进展。"),
}


@dataclass(frozen=True)
class Composed:
    subject: str
    body: str


def _head(submission: Submission) -> list[str]:
    lines = [
        _("项目：%(program)s") % {"program": submission.program.name},
        _("申报单位：%(enterprise)s") % {"enterprise": submission.enterprise.name},
    ]
    if submission.title:
        lines.append(_("申报名称：%(title)s") % {"title": submission.title})
    return lines


def _foot(essential: bool, link: str) -> list[str]:
    lines = ["", _("查看申报：%(link)s") % {"link": link}, ""]
    if essential:
        lines.append(_("本邮件为必要通知，无论通知设置如何都会发送。"))
    else:
        lines.append(_("本邮件为知悉类通知。如不再接收此类邮件，请在“我的账户 → 通知设置”中关闭：%(link)s")
                     % {"link": preferences_link()})
    lines.append(_("此邮件由能碳平台自动发送，请勿直接回复。"))
    return lines


def transition_message(activity: Activity, transition: TransitionDef, workflow: WorkflowDef | None,
                       audience: str, user: User, essential: bool) -> Composed:
    """The Chinese mail of one transition to one person."""
    submission = activity.submission
    with translation.override("zh-hans"):
        subject = _("【能碳评审】%(program)s · %(enterprise)s：%(action)s") % {
            "program": submission.program.name, "enterprise": submission.enterprise.name,
            "action": transition.label.zh}
        lines = [_("%(name)s：您好！") % {"name": user.get_full_name() or user.username}, "",
                 _(INTRO.get(audience, INTRO[APPLICANT])), "", *_head(submission),
                 _("办理操作：%(action)s") % {"action": transition.label.zh},
                 _("办理时间：%(date)s") % {"date": zh_date(activity.created_at)}]
        if activity.actor_name and audience != APPLICANT:
            lines.append(_("办理人：%(name)s") % {"name": activity.actor_name})
        lines.append(_("当前状态：%(state)s") % {"state": _state_label(workflow, activity.to_state)})
        if activity.reason:
            lines.append(_("理由：%(reason)s") % {"reason": activity.reason})
        if activity.deadline:
            lines.append(_("补正期限：%(date)s") % {"date": zh_date(activity.deadline)})
            if audience == APPLICANT:
                lines.append(_("请在补正期限前按上述理由修改申报材料并重新提交；逾期将不能再提交。"))
        lines += _foot(essential, submission_link(submission, audience))
    return Composed(subject=subject, body="\n".join(lines))


def assignment_message(assignment: Assignment) -> Composed:
    submission = assignment.submission
    with translation.override("zh-hans"):
        subject = _("【能碳评审】%(program)s · %(enterprise)s：专家评审分配") % {
            "program": submission.program.name, "enterprise": submission.enterprise.name}
        expert = assignment.expert
        role = _("评审组长") if assignment.is_lead else _("评审专家")
        lines = [_("%(name)s：您好！") % {"name": expert.get_full_name() or expert.username}, "",
                 _("您已被分配为以下申报的%(role)s。") % {"role": role}, "", *_head(submission),
                 _("分配时间：%(date)s") % {"date": zh_date(assignment.assigned_at)},
                 _("如与该企业存在利益冲突，请及时申报回避。"),
                 *_foot(True, submission_link(submission, ASSIGNMENT))]
    return Composed(subject=subject, body="\n".join(lines))


# -- queueing ----------------------------------------------------------------------------------

def _queue(rows: list[NotificationMail]) -> list[NotificationMail]:
    created = NotificationMail.objects.bulk_create(rows)
    for mail in created:
        _send_later(mail.pk)
    return created


def _send_later(mail_id: int) -> None:
    from reviews.tasks import send_notification_mail

    try:
        send_notification_mail.delay(mail_id)
    except Exception:
        # The broker is away: the row stays unsent and the sweep sends it.
        logger.warning("notification mail %s: not queued, left to the sweep", mail_id, exc_info=True)


def notification_mails_queue(activity: Activity, transition: TransitionDef) -> list[NotificationMail]:
    """One mail per person the transition concerns, opt-outs respected for non-essential mail."""
    submission = (Submission.objects.select_related("program__region", "program_version",
                                                    "enterprise__region")
                  .get(pk=activity.submission_id))
    activity.submission = submission
    workflow = submission_definition(submission).workflow
    now = timezone.now()
    rows: list[NotificationMail] = []
    seen: set[str] = set()
    for audience in transition.notify:
        essential = is_essential(audience, transition)
        people = recipients_for(audience, submission, workflow)
        skipped = set() if essential else _opted_out(user.pk for user in people)
        for user in people:
            if user.pk in skipped or user.email.lower() in seen:
                continue
            seen.add(user.email.lower())  # one message per person, whatever the audiences
            composed = transition_message(activity, transition, workflow, audience, user, essential)
            rows.append(NotificationMail(
                submission=submission, activity=activity, recipient=user, address=user.email,
                audience=audience, essential=essential, subject=composed.subject[:300], body=composed.body,
                created_at=now, next_attempt_at=now + SWEEP_GRACE))
    return _queue(rows)


def assignment_mail_queue(assignment: Assignment) -> list[NotificationMail]:
    expert = assignment.expert
    if not expert.is_active or not expert.email:
        return []
    assignment = (Assignment.objects.select_related("submission__program", "submission__enterprise", "expert")
                  .get(pk=assignment.pk))
    composed = assignment_message(assignment)
    now = timezone.now()
    return _queue([NotificationMail(
        submission=assignment.submission, recipient=expert, address=expert.email, audience=ASSIGNMENT,
        essential=True, subject=composed.subject[:300], body=composed.body, created_at=now,
        next_attempt_at=now + SWEEP_GRACE)])


@receiver(transition_performed, dispatch_uid="reviews.notifications.transition")
def on_transition_performed(sender: Any, activity: Activity, transition: TransitionDef,
                            **kwargs: Any) -> None:
    """After commit: queue the mails. Never raises: the transition is done whatever happens here."""
    if not transition.notify:
        return
    try:
        # Recipients span roles (the applicant's users, officials, experts): system work, not
        # the actor's reach.
        with scopes_disabled():
            notification_mails_queue(activity, transition)
    except Exception:
        logger.exception("activity %s: review mails not queued", activity.pk)


@receiver(post_save, sender=Assignment, dispatch_uid="reviews.notifications.assignment")
def on_assignment_saved(sender: Any, instance: Assignment, created: bool, **kwargs: Any) -> None:
    if not created or instance.withdrawn_at is not None:
        return

    def queue() -> None:
        try:
            with scopes_disabled():
                assignment_mail_queue(instance)
        except Exception:
            logger.exception("assignment %s: mail not queued", instance.pk)

    transaction.on_commit(queue)


# -- sending -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SendOutcome:
    sent: bool
    error: str = ""
    attempts: int = 0

    @property
    def failed(self) -> bool:
        return not self.sent and bool(self.error)


def notification_mail_send(mail_id: int, *, now: dt.datetime | None = None) -> SendOutcome:
    """Send one row, unless it was sent or another worker holds it. An SMTP failure is written
    on the row (attempts, error, next attempt) and reported, never raised."""
    now = now or timezone.now()
    with transaction.atomic():
        mail = (NotificationMail.objects.select_for_update(skip_locked=True)
                .filter(pk=mail_id, sent_at__isnull=True).first())
        if mail is None:
            return SendOutcome(sent=False)
        attempts = mail.attempts + 1
        message = EmailMessage(subject=mail.subject, body=mail.body, from_email=settings.DEFAULT_FROM_EMAIL,
                               to=[mail.address])
        try:
            message.send(fail_silently=False)
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning("notification mail %s: not sent (attempt %s): %s", mail_id, attempts, error)
            NotificationMail.objects.filter(pk=mail_id).update(
                attempts=attempts, last_error=error, next_attempt_at=now + retry_delay(attempts))
            return SendOutcome(sent=False, error=error, attempts=attempts)
        NotificationMail.objects.filter(pk=mail_id).update(attempts=attempts, last_error="",
                                                           sent_at=timezone.now())
        return SendOutcome(sent=True, attempts=attempts)


@dataclass
class MailRun:
    sent: int = 0
    failed: int = 0


def notification_mails_send_due(*, now: dt.datetime | None = None, limit: int = SWEEP_BATCH) -> MailRun:
    """The net beneath the tasks: unsent rows whose next attempt is due, oldest first."""
    now = now or timezone.now()
    run = MailRun()
    due = list(NotificationMail.objects.filter(sent_at__isnull=True, next_attempt_at__lte=now)
               .order_by("id").values_list("id", flat=True)[:limit])
    for mail_id in due:
        outcome = notification_mail_send(mail_id, now=now)
        if outcome.sent:
            run.sent += 1
        elif outcome.failed:
            run.failed += 1
    return run


# -- preferences -------------------------------------------------------------------------------

def notification_preference_set(user: User, *, non_essential: bool) -> NotificationPreference:
    """Turn the user's non-essential review mails on or off (essential ones are always sent)."""
    from portal import audit

    preference, _created = NotificationPreference.objects.update_or_create(
        user=user, defaults={"non_essential": non_essential})
    audit.record("notification_preference", obj=preference, actor=user,
                 changes={"non_essential": non_essential}, enterprise_id=user.enterprise_id)
    return preference
