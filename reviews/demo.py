"""Demo reviews (`manage.py seed_demo`, after the demo applications): the filed demo applications
moved through their programs' workflows by the demo officials, so every reviewer has work waiting.

- Zhengzhou's Henan 2023 application waits for `demo_city`'s first review (submitted);
- Zhengzhou's contest entry is recommended by `demo_city` (first review passed; the secretariat
  collects a city's entries once it has recommended three in the track);
- the Shanghai enterprise's application passed `demo_district`'s first review, was accepted by
  `demo_sh_commission` (the acceptance window), who assigned `demo_expert` as the lead expert of
  the on-site check (under expert review);
- the park's application was returned for additions by `demo_district`, with a deadline.

Every step goes through reviews.services.transition_perform, as on the pages. Idempotent: a
submission that has moved past "submitted" is left as it is.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.utils import timezone
from django_scopes import scopes_disabled

from applications.models import Submission, SubmissionState
from portal.models import User
from reviews.assignments import AssignmentRefused, assignment_create
from reviews.models import Activity
from reviews.services import TransitionRefused, transition_perform

logger = logging.getLogger(__name__)

# Days the demo return gives the park to answer.
DEMO_ADDITIONS_DAYS = 15


@dataclass(frozen=True)
class DemoStep:
    username: str  # who takes it
    action: str
    reason: str = ""
    deadline_days: int | None = None
    assign_lead: str = ""  # before this step, this expert is assigned as lead (by `username`)


# (applicant's user name, program code) → the steps after filing.
DEMO_REVIEWS: dict[tuple[str, str], tuple[DemoStep, ...]] = {
    ("demo_enterprise", "henan_contest_2025"): (
        DemoStep("demo_city", "recommend",
                 "该技术已在本市多家机床企业应用，节能效果经第三方评价，推荐参赛。"),
    ),
    ("demo_shanghai", "shanghai_emc_2024"): (
        DemoStep("demo_district", "first_review_pass", "申报材料真实，符合申报条件，同意上报。"),
        DemoStep("demo_sh_commission", "accept"),
        DemoStep("demo_sh_commission", "start_onsite_check", assign_lead="demo_expert"),
    ),
    ("demo_park", "shanghai_emc_2024"): (
        DemoStep("demo_district", "return_for_additions",
                 "请补充园区二级表具接入比例的计算依据，并上传项目竣工验收报告的盖章扫描件。",
                 deadline_days=DEMO_ADDITIONS_DAYS),
    ),
}


def _user(username: str) -> User | None:
    return User.objects.filter(username=username).select_related("authority__region").first()


def _advance(submission: Submission, steps: tuple[DemoStep, ...], *, today: dt.date) -> None:
    for step in steps:
        actor = _user(step.username)
        if actor is None:
            logger.warning("demo review step %s skipped: no user %s", step.action, step.username)
            return
        try:
            if step.assign_lead:
                expert = _user(step.assign_lead)
                if expert is not None:
                    assignment_create(submission=submission, expert=expert, by=actor, lead=True, today=today)
            deadline = today + dt.timedelta(days=step.deadline_days) if step.deadline_days else None
            transition_perform(submission=submission, action=step.action, actor=actor, reason=step.reason,
                               deadline=deadline, today=today)
        except (TransitionRefused, AssignmentRefused) as exc:
            # The demo says why and stops there: the same reasons the pages would show.
            logger.warning("demo review of %s stops before %s: %s", submission, step.action,
                           "; ".join(exc.problems))
            return


def seed_demo_reviews(*, today: dt.date | None = None) -> None:
    """Move the demo applications that are still just filed (see the module docstring)."""
    today = today or timezone.localdate()
    with scopes_disabled():  # seeding acts for several demo tenants and officials at once
        for (username, program_code), steps in DEMO_REVIEWS.items():
            applicant = _user(username)
            if applicant is None or applicant.enterprise_id is None:
                continue
            submission = (Submission.objects.filter(enterprise_id=applicant.enterprise_id,
                                                    program__code=program_code)
                          .select_related("enterprise__region", "program_version").first())
            if submission is None or submission.state != SubmissionState.SUBMITTED:
                continue
            if Activity.objects.filter(submission=submission).exclude(action="submit").exists():
                continue  # it was moved on before (and came back): leave it as it is
            _advance(submission, steps, today=today)
