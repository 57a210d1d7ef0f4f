"""Each shipped program's review, the whole path, every step taken by the role that owns it and
refused (forbidden, not offered, nothing changed) for every other role of the test world.

The real definitions (applications/programs/*.yaml) are loaded; applications are filled the way
the demo fills them (applications.demo), with placeholder attachments, and filed through the
workflow's own `submit`. Meter data for the Shanghai programme's evidence (2000 tce a year, six
stable months) goes in through the real ingest and rollups. Experts are assigned and their sheets
written as rows: the assignment and sheet services belong to other parts of issue 10.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from django_scopes import scopes_disabled

from applications.definitions import Checklist
from applications.demo import DEMO_APPLICATIONS, DemoApplication, _filled
from applications.models import Program, Submission, SubmissionState
from applications.selectors import submission_definition
from applications.services import programs_load, submission_save, submission_start
from metering.monitoring.tasks import recompute_rollups
from portal.models import AuditEntry, Authority, Enterprise, Role, User
from reviews.models import Activity, Assignment, ScoreItem, ScoreSheet
from reviews.selectors import checklists_for, submission_scores
from reviews.services import TransitionRefused, available_transitions, transition_perform
from tests.factories import (
    AuthorityFactory,
    EnterpriseFactory,
    ReviewOrganizationFactory,
    UserFactory,
    placeholder_attachments,
    region,
)
from tests.metering.test_indicators import every_quarter, ingest
from tests.metering.test_ingest import make_meter

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 1)
DUE = TODAY + dt.timedelta(days=10)
CST = dt.timezone(dt.timedelta(hours=8))
APPLICANTS = {"a_admin", "a_staff"}  # both are tenant_a's users: either files for it


@dataclass
class Cast:
    """Everyone who might try a step: the test world's users and the extras a program needs."""

    users: dict[str, User]
    experts: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> User:
        return self.users[key]


@pytest.fixture
def cast(world) -> Cast:  # type: ignore[no-untyped-def]
    with scopes_disabled():
        result = programs_load()
    assert result.ok, result.errors
    users = dict(world.users)
    commission = AuthorityFactory(name="上海市经济和信息化委员会", region=region("310000"),
                                  level=Authority.Level.PROVINCIAL)
    users["sh_commission"] = UserFactory(username="sh_commission", role=Role.PROVINCIAL_OFFICER,
                                         authority=commission, is_staff=True)
    organization = ReviewOrganizationFactory()
    experts = []
    for number in (1, 2, 3):
        key = f"panel_expert_{number}"
        users[key] = UserFactory(username=key, role=Role.EXPERT, review_organization=organization,
                                 is_staff=True)
        experts.append(key)
    return Cast(users=users, experts=experts)


# -- helpers ------------------------------------------------------------------------------------

def _spec(code: str, variant: str = "", track: str = "") -> DemoApplication:
    found = next((spec for spec in DEMO_APPLICATIONS if spec.program == code and spec.variant == variant
                  and spec.track == track), None)
    return found or DemoApplication(username="", program=code, variant=variant, track=track)


def _draft(enterprise: Enterprise, user: User, code: str, *, variant: str = "",
           track: str = "") -> Submission:
    """An application filled throughout (as the demo fills it) with its attachments, not yet filed."""
    with scopes_disabled():
        program = Program.objects.get(code=code)
        submission = submission_start(program=program, enterprise=enterprise, user=user, variant=variant,
                                      track=track, today=TODAY)
        definition = submission_definition(submission)
        spec = _spec(code, variant, track)
        submission_save(submission=submission, user=user, title=spec.title or None,
                        changes=_filled(definition, submission, spec, TODAY))
    placeholder_attachments(submission, today=TODAY)
    return submission


def _snapshot(submission: Submission) -> tuple[Any, ...]:
    fresh = Submission.objects.get(pk=submission.pk)
    return (fresh.state, fresh.additions_due, fresh.submitted_at, fresh.filings.count(),
            Activity.objects.filter(submission=submission).count(),
            AuditEntry.objects.filter(object_id=str(submission.pk)).count())


def _take(submission: Submission, user: User, action: str, **kwargs: Any) -> Activity:
    with scopes_disabled():
        activity = transition_perform(submission=submission, action=action, actor=user, today=TODAY, **kwargs)
    assert activity.to_state == submission.state
    return activity


def _step(cast: Cast, submission: Submission, action: str, owners: set[str], **kwargs: Any) -> Activity:
    """Everyone but `owners` is refused `action` (forbidden, not offered, nothing changed); then
    the first owner takes it."""
    with scopes_disabled():
        for key, user in cast.users.items():
            if key in owners:
                continue
            offered = [transition.key for transition in
                       available_transitions(user, submission, today=TODAY, check_guards=False)]
            assert action not in offered, (action, key)
            before = _snapshot(submission)
            with pytest.raises(TransitionRefused) as refused:
                transition_perform(submission=submission, action=action, actor=user, today=TODAY, **kwargs)
            assert refused.value.forbidden, (action, key, refused.value.problems)
            assert _snapshot(submission) == before, (action, key)
        owner = cast[sorted(owners)[0]]
        assert action in [t.key for t in available_transitions(owner, submission, today=TODAY)], action
    return _take(submission, owner, action, **kwargs)


def _refused_now(submission: Submission, user: User, action: str, **kwargs: Any) -> list[str]:
    """The owner is refused for now (a guard, not the role): the problems, nothing changed."""
    with scopes_disabled():
        before = _snapshot(submission)
        with pytest.raises(TransitionRefused) as refused:
            transition_perform(submission=submission, action=action, actor=user, today=TODAY, **kwargs)
        assert not refused.value.forbidden
        assert _snapshot(submission) == before
    return refused.value.problems


def _assign(cast: Cast, submission: Submission, officer: str) -> list[Assignment]:
    """The officer assigns the panel, the first expert leading."""
    with scopes_disabled():
        return [Assignment.objects.create(submission=submission, expert=cast[key], is_lead=index == 0,
                                          assigned_by=cast[officer])
                for index, key in enumerate(cast.experts)]


def _sheet(assignment: Assignment, checklist: Checklist, judgements: dict[str, Any] | None = None,
           *, default: Any = "meets") -> ScoreSheet:
    """The expert's submitted sheet: each item meets (or its given verdict / points)."""
    judgements = judgements or {}
    with scopes_disabled():
        sheet = ScoreSheet.objects.create(submission=assignment.submission, assignment=assignment,
                                          checklist=checklist.key, conclusion_note="现场核查意见",
                                          submitted_at=timezone.now())
        for item in checklist.items:
            value = judgements.get(item.key, default if item.mode == "verdict" else item.max_points)
            if item.mode == "points":
                ScoreItem.objects.create(sheet=sheet, item=item.key, points=Decimal(value), note="")
            else:
                ScoreItem.objects.create(sheet=sheet, item=item.key, verdict=value, note="")
    return sheet


def _path(submission: Submission) -> list[tuple[str, str, str]]:
    with scopes_disabled():
        return list(Activity.objects.filter(submission=submission).order_by("created_at", "id")
                    .values_list("action", "from_state", "to_state"))


# -- Henan 2023 ---------------------------------------------------------------------------------

def test_henan_2023_city_recommends_the_province_selects_with_three_experts(world, cast):
    submission = _draft(world.tenant_a, cast["a_admin"], "henan_dcmc_2023")
    _step(cast, submission, "submit", APPLICANTS)
    _step(cast, submission, "return_for_additions", {"zhengzhou_reviewer"}, reason="请补充绿色工厂称号证明",
          deadline=DUE)
    assert submission.additions_due == DUE
    _step(cast, submission, "resubmit", APPLICANTS)
    recommendation = "该中心建设规范，同意推荐。"
    activity = _step(cast, submission, "recommend", {"zhengzhou_reviewer"}, reason=recommendation)
    assert activity.reason == recommendation  # the city's 推荐意见, kept with the step
    _step(cast, submission, "accept", {"henan_officer"})
    assert "尚未分配评审专家组长" in _refused_now(submission, cast["henan_officer"], "start_expert_review")
    assignments = _assign(cast, submission, "henan_officer")
    _step(cast, submission, "start_expert_review", {"henan_officer"})

    with scopes_disabled():
        [checklist] = checklists_for(submission)
    assert checklist.key == "element_conditions" and len(checklist.items) == 7
    for assignment in assignments[:2]:
        _sheet(assignment, checklist)
    problems = _refused_now(submission, cast["henan_officer"], "decide_pass", reason="符合要素条件")
    assert any("至少需要 3 份" in problem for problem in problems), problems
    _sheet(assignments[2], checklist, {"integration": "fails"})
    with scopes_disabled():
        [scores] = submission_scores(submission)
    assert scores.combined.passed is True  # two of three experts find every condition met
    _step(cast, submission, "decide_pass", {"henan_officer"}, reason="七项要素条件均符合，遴选通过")
    _step(cast, submission, "publish", {"henan_officer"})

    assert _path(submission) == [
        ("submit", "draft", "submitted"), ("return_for_additions", "submitted", "returned"),
        ("resubmit", "returned", "submitted"), ("recommend", "submitted", "first_review_passed"),
        ("accept", "first_review_passed", "accepted"),
        ("start_expert_review", "accepted", "under_expert_review"),
        ("decide_pass", "under_expert_review", "passed"), ("publish", "passed", "published")]
    with scopes_disabled():
        assert submission.filings.count() == 2  # filed, and filed again with the additions


def test_henan_2023_a_lapsed_return_is_closed_by_the_city_and_a_rejection_ends_the_review(world, cast):
    submission = _draft(world.tenant_a, cast["a_admin"], "henan_dcmc_2023")
    _take(submission, cast["a_admin"], "submit")
    _take(submission, cast["zhengzhou_reviewer"], "return_for_additions", reason="请补充审计报告",
          deadline=DUE)
    assert "补正期限尚未届满" in _refused_now(submission, cast["zhengzhou_reviewer"], "close_lapsed_return",
                                         reason="逾期未补正")
    later = DUE + dt.timedelta(days=1)
    with scopes_disabled():
        with pytest.raises(TransitionRefused, match="补正期限已过"):
            transition_perform(submission=submission, action="resubmit", actor=cast["a_admin"], today=later)
        for key in ("a_admin", "luoyang_reviewer", "henan_officer", "platform_admin"):
            with pytest.raises(TransitionRefused) as refused:
                transition_perform(submission=submission, action="close_lapsed_return", actor=cast[key],
                                   reason="逾期", today=later)
            assert refused.value.forbidden, key
        transition_perform(submission=submission, action="close_lapsed_return", reason="逾期未补正",
                           actor=cast["zhengzhou_reviewer"], today=later)
    assert submission.state == SubmissionState.NOT_PASSED

    other = _draft(world.tenant_b, cast["b_admin"], "henan_dcmc_2023")
    _take(other, cast["b_admin"], "submit")
    assert _refused_now(other, cast["luoyang_reviewer"], "first_review_reject") == ["请填写理由"]
    _step(cast, other, "first_review_reject", {"luoyang_reviewer"}, reason="不符合基本条件（三）")
    assert other.state == SubmissionState.FIRST_REVIEW_REJECTED
    with scopes_disabled():
        assert available_transitions(cast["luoyang_reviewer"], other, today=TODAY) == []


# -- Shanghai 2024 ------------------------------------------------------------------------------

@pytest.fixture
def shanghai_meters(world) -> None:  # type: ignore[no-untyped-def]
    """The data center (the park's member) measured ≈ 2330 tce in 2025, read every quarter-hour
    from December 2025 to May 2026: six stable months by 1 June 2026. The park's figures take in
    its member's."""
    make_meter(world.outsider, "SH-E-1")
    ingest(world.outsider.pk, "SH-E-1", [(dt.datetime(2025, 1, 1, tzinfo=CST), 0.0)])
    ingest(world.outsider.pk, "SH-E-1", every_quarter(dt.datetime(2025, 12, 1, tzinfo=CST),
                                                       dt.datetime(2026, 6, 1, tzinfo=CST),
                                                       step=1000.0, first=16_000_000.0))
    recompute_rollups()


@pytest.mark.parametrize(("variant", "applicant", "checklist_key", "items"), [
    ("enterprise", "outsider_admin", "enterprise_check", 19),
    ("park", "park_admin", "park_check", 17),
])
def test_shanghai_2024_district_window_and_on_site_check(world, cast, shanghai_meters, variant, applicant,
                                                        checklist_key, items):
    enterprise = world.outsider if variant == "enterprise" else world.park
    submission = _draft(enterprise, cast[applicant], "shanghai_emc_2024", variant=variant)
    owner = {applicant}
    _step(cast, submission, "submit", owner)
    # The district (徐汇区) reviews first: it returns with a time limit, then passes with its opinion.
    _step(cast, submission, "return_for_additions", {"xuhui_reviewer"}, reason="请补充设备购置发票",
          deadline=DUE)
    _step(cast, submission, "resubmit", owner)
    _step(cast, submission, "first_review_pass", {"xuhui_reviewer"}, reason="经初审，材料真实，同意上报")
    # The commission's acceptance window may return it too; it comes back through the district.
    _step(cast, submission, "window_return", {"sh_commission"}, reason="请补充专项审计报告", deadline=DUE)
    _step(cast, submission, "resubmit", owner)
    _step(cast, submission, "first_review_pass", {"xuhui_reviewer"}, reason="补正材料已核，同意上报")
    _step(cast, submission, "accept", {"sh_commission"})
    assignments = _assign(cast, submission, "sh_commission")
    _step(cast, submission, "start_onsite_check", {"sh_commission"})

    with scopes_disabled():
        [checklist] = checklists_for(submission)
    assert (checklist.key, len(checklist.items)) == (checklist_key, items)
    lead = cast.experts[0]
    problems = _refused_now(submission, cast[lead], "conclude_pass", reason="通过")
    assert any("还有专家未提交评审表" in problem for problem in problems), problems
    not_claimed = {"metering_datacenter_platform": "meets"} if variant == "enterprise" else {}
    for assignment in assignments:
        # The center claims the saving rate; other effects it does not claim are not applicable.
        effects = {item.key: "na" for item in checklist.items
                   if item.key.startswith("effect_") and item.key != "effect_saving"}
        _sheet(assignment, checklist, {**effects, **not_claimed})
    with scopes_disabled():
        [scores] = submission_scores(submission)
    assert scores.combined.passed is True and scores.combined.sheets == 3
    _step(cast, submission, "conclude_pass", {lead}, reason="核查结论：通过")
    _step(cast, submission, "publish", {"sh_commission"})
    assert [step[0] for step in _path(submission)] == [
        "submit", "return_for_additions", "resubmit", "first_review_pass", "window_return", "resubmit",
        "first_review_pass", "accept", "start_onsite_check", "conclude_pass", "publish"]
    assert submission.state == SubmissionState.PUBLISHED


# -- Henan 2025 contest -------------------------------------------------------------------------

def _zhengzhou_entrant(number: int) -> tuple[Enterprise, User]:
    enterprise = EnterpriseFactory(name=f"郑州参赛第{number}号制造有限公司", region=region("410105"))
    user = UserFactory(username=f"zz_entrant_{number}", role=Role.ENTERPRISE_ADMIN, enterprise=enterprise)
    return enterprise, user


def test_contest_2025_cities_recommend_the_secretariat_collects_the_committee_scores(world, cast):
    entry = _draft(world.tenant_a, cast["a_admin"], "henan_contest_2025", track="energy_saving")
    _step(cast, entry, "submit", APPLICANTS)
    _step(cast, entry, "return_for_additions", {"zhengzhou_reviewer"}, reason="请补充用户使用报告",
          deadline=DUE)
    _step(cast, entry, "resubmit", APPLICANTS)
    _step(cast, entry, "recommend", {"zhengzhou_reviewer"}, reason="推荐参加节能降碳技术创新成果赛道")
    # The city has recommended one entry of the track: the secretariat waits for the three.
    problems = _refused_now(entry, cast["henan_officer"], "collect")
    assert any("已推荐 1 个" in problem and "至少推荐 3 个" in problem for problem in problems), problems
    for number in (1, 2):
        enterprise, user = _zhengzhou_entrant(number)
        cast.users[f"zz_entrant_{number}"] = user
        other = _draft(enterprise, user, "henan_contest_2025", track="energy_saving")
        _take(other, user, "submit")
        _take(other, cast["zhengzhou_reviewer"], "recommend", reason="推荐")
    _step(cast, entry, "collect", {"henan_officer"})
    assignments = _assign(cast, entry, "henan_officer")
    _step(cast, entry, "start_expert_review", {"henan_officer"})

    with scopes_disabled():
        [rubric] = checklists_for(entry)
    assert rubric.key == "technology_rubric" and rubric.conclusion == "score"
    # Three experts' points (out of 25 / 25 / 30 / 20): 90, 80 and 50; the median is 80.
    for assignment, points in zip(assignments, ((23, 22, 27, 18), (20, 20, 24, 16), (12, 13, 15, 10)),
                                  strict=True):
        _sheet(assignment, rubric, dict(zip(("maturity", "innovation", "economic_benefit",
                                             "promotion_potential"), points, strict=True)))
    with scopes_disabled():
        [scores] = submission_scores(entry)
    assert scores.combined.score == Decimal("80.00") and scores.combined.aggregation == "median"
    _step(cast, entry, "award", {"henan_officer"}, reason="节能降碳技术创新成果赛道一等奖")
    _step(cast, entry, "publish", {"henan_officer"})
    with scopes_disabled():
        award = Activity.objects.get(submission=entry, action="award")
    assert award.reason == "节能降碳技术创新成果赛道一等奖"
    assert submission_definition(entry).workflow.transition("award").outcome == "awarded"  # type: ignore[union-attr]
    assert [step[0] for step in _path(entry)] == [
        "submit", "return_for_additions", "resubmit", "recommend", "collect", "start_expert_review", "award",
        "publish"]


def test_contest_2025_suppliers_cases_go_straight_to_the_secretariat(world, cast):
    case = _draft(world.tenant_b, cast["b_admin"], "henan_contest_2025", track="supplier_service_case")
    _take(case, cast["b_admin"], "submit")
    technology = _draft(world.tenant_a, cast["a_admin"], "henan_contest_2025", track="energy_saving")
    _take(technology, cast["a_admin"], "submit")
    problems = _refused_now(technology, cast["henan_officer"], "collect_supplier_case")
    assert problems == ["节能降碳技术创新成果赛道的参赛项目须由所在省辖市推荐"]
    _step(cast, case, "collect_supplier_case", {"henan_officer"})
    with scopes_disabled():
        [rubric] = checklists_for(case)
    assert rubric.key == "service_rubric"
