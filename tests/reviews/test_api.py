"""The review API: `available_actions` per role, assignments and combined score for reviewers only,
POST …/actions/ through the one transition service (403 / 404 / 400 / 409, nothing changed on a
refusal), the activity list, and the page helpers (reviews/actions.py) answering exactly what the
per-row functions answer, in a number of queries that does not grow with the page.

Submissions are filed through the real services (tests/factories.py `submission_filed`) under the
core definition with the core workflow (tests/applications/core_definition.py) and a score sheet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_scopes import scopes_disabled
from rest_framework.test import APIClient

from applications.models import Submission
from applications.selectors import local_today
from portal.access import visible_submissions
from portal.models import ApiScope, Region
from reviews.actions import actions_for, actions_for_page, review_details_for_page
from reviews.models import Activity, Assignment, ScoreItem, ScoreSheet
from reviews.selectors import submission_scores
from reviews.services import transition_perform
from tests.api_clients import api_client_with_key, key_header
from tests.applications.core_definition import core_definition, core_workflow
from tests.applications.test_api import core_data
from tests.conftest import ROLE_KEYS, login
from tests.factories import program_loaded, small_definition, submission_filed

pytestmark = pytest.mark.django_db

RUBRIC = {
    "key": "rubric", "title": {"zh": "评比细则", "en": "Rubric"}, "conclusion": "score", "pass_mark": 70,
    "items": [
        {"key": "a", "label": {"zh": "技术成熟度", "en": "Maturity"}, "mode": "points", "max_points": 10},
        {"key": "b", "label": {"zh": "技术创新点", "en": "Innovation"}, "mode": "points", "max_points": 20,
         "weight": 2},
    ],
}
ACTION_FIELDS = {"action", "label", "label_en", "needs_reason", "needs_deadline"}
ACTIVITY_FIELDS = {"when", "who", "from", "to", "reason", "action", "deadline"}


def reviewed_program():  # type: ignore[no-untyped-def]
    return program_loaded({**core_definition(), "workflow": core_workflow(), "checklists": [RUBRIC]})


@pytest.fixture
def program(world):  # type: ignore[no-untyped-def]
    return reviewed_program()


@pytest.fixture
def filed(world, program) -> Submission:  # type: ignore[no-untyped-def]
    """tenant_a's (Zhengzhou) application, filed: it waits for the city's first review."""
    return submission_filed(world.tenant_a, program, core_data(), world.user("a_admin"), title="郑州甲申报")


def as_role(world: Any, role: str) -> APIClient:
    client = APIClient()
    login(client, world.user(role))
    return client


def url(submission: Submission, what: str = "") -> str:
    return f"/api/v1/submissions/{submission.pk}/{what + '/' if what else ''}"


def actions_of(client: APIClient, submission: Submission) -> list[str]:
    response = client.get(url(submission))
    assert response.status_code == 200, response.content
    return [row["action"] for row in response.json()["available_actions"]]


def listed_row(client: APIClient, submission: Submission) -> dict[str, Any]:
    response = client.get("/api/v1/submissions/")
    assert response.status_code == 200, response.content
    return next(row for row in response.json()["results"] if row["id"] == submission.pk)


def take(world: Any, submission: Submission, role: str, action: str, **fields: Any) -> Activity:
    with scopes_disabled():
        return transition_perform(submission=submission, action=action, actor=world.user(role), **fields)


def snapshot(submission: Submission) -> tuple[Any, ...]:
    with scopes_disabled():
        row = Submission.objects.get(pk=submission.pk)
        return row.state, row.additions_due, Activity.objects.filter(submission=submission).count()


def post_action(client: APIClient, submission: Submission, body: dict[str, Any]) -> Any:
    return client.post(url(submission, "actions"), body, format="json")


def assign_expert(world: Any, submission: Submission) -> Assignment:
    with scopes_disabled():
        return Assignment.objects.create(submission=submission, expert=world.user("expert"), is_lead=True,
                                         assigned_by=world.user("henan_officer"))


def submitted_sheet(assignment: Assignment, a: str, b: str) -> ScoreSheet:
    with scopes_disabled():
        sheet = ScoreSheet.objects.create(submission=assignment.submission, assignment=assignment,
                                          checklist="rubric", submitted_at=timezone.now())
        ScoreItem.objects.create(sheet=sheet, item="a", points=Decimal(a))
        ScoreItem.objects.create(sheet=sheet, item="b", points=Decimal(b))
    return sheet


# --- available_actions ---------------------------------------------------------------------------

def test_available_actions_per_role_follow_the_workflow_and_the_state(world, filed):  # type: ignore[no-untyped-def]
    city, province = as_role(world, "zhengzhou_reviewer"), as_role(world, "henan_officer")
    applicant, admin = as_role(world, "a_admin"), as_role(world, "platform_admin")
    assert actions_of(city, filed) == ["return_for_additions", "first_review_pass"]
    assert actions_of(province, filed) == [] and actions_of(applicant, filed) == []
    assert actions_of(admin, filed) == []  # the core workflow gives the platform no step
    row = listed_row(city, filed)
    assert [action["action"] for action in row["available_actions"]] == ["return_for_additions",
                                                                         "first_review_pass"]
    returned = row["available_actions"][0]
    assert set(returned) == ACTION_FIELDS
    assert returned == {"action": "return_for_additions", "label": "退回补正",
                        "label_en": "Return for additions", "needs_reason": True, "needs_deadline": True}
    take(world, filed, "zhengzhou_reviewer", "return_for_additions", reason="补充审计报告",
         deadline=local_today() + dt.timedelta(days=5))
    assert actions_of(applicant, filed) == ["resubmit"] and actions_of(city, filed) == []
    take(world, filed, "a_admin", "resubmit")
    take(world, filed, "zhengzhou_reviewer", "first_review_pass")
    assert actions_of(province, filed) == ["decide_pass", "decide_fail"]
    assert [a["action"] for a in listed_row(province, filed)["available_actions"]] == ["decide_pass",
                                                                                      "decide_fail"]
    assert actions_of(city, filed) == [] and actions_of(applicant, filed) == []


def test_the_detail_checks_guards_the_list_does_not(world, filed):  # type: ignore[no-untyped-def]
    applicant = as_role(world, "a_admin")
    take(world, filed, "zhengzhou_reviewer", "return_for_additions", reason="补充",
         deadline=local_today() + dt.timedelta(days=1))
    with scopes_disabled():  # the deadline for additions passed
        Submission.objects.filter(pk=filed.pk).update(additions_due=local_today() - dt.timedelta(days=1))
    assert actions_of(applicant, filed) == []  # resubmit's guard deadline_not_passed fails
    assert [a["action"] for a in listed_row(applicant, filed)["available_actions"]] == ["resubmit"]
    refused = post_action(applicant, filed, {"action": "resubmit"})
    assert refused.status_code == 400
    assert "补正期限已过" in refused.json()["error"]["fields"]["non_field_errors"][0]


# --- assignments and the combined score: reviewers only ------------------------------------------

def test_assignments_and_combined_score_are_shown_to_reviewers_not_to_the_applicant(world, filed):  # type: ignore[no-untyped-def]
    assignment = assign_expert(world, filed)
    submitted_sheet(assignment, "8", "15")  # 8 + 30 = 38 of 50 → 76.00
    province = as_role(world, "henan_officer")
    for body in (province.get(url(filed)).json(), listed_row(province, filed)):
        assert body["assignments"] == [{
            "expert": world.user("expert").pk, "expert_name": world.user("expert").get_full_name()
            or world.user("expert").username, "lead": True,
            "assigned_at": timezone.localtime(assignment.assigned_at).isoformat()}]
        assert body["assignments"][0]["assigned_at"].endswith("+08:00")
        assert body["combined_score"] == [{"key": "rubric", "title": "评比细则", "title_en": "Rubric",
                                           "sheets": 1, "score": "76.00", "passed": True,
                                           "vetoed": False, "aggregation": "mean"}]
    assert as_role(world, "platform_admin").get(url(filed)).json()["combined_score"][0]["score"] == "76.00"
    # The first reviewer and the expert review it (they see who is assigned) but the access policy
    # shows the experts' combination to the deciding officers only (portal.access.can_view_scores).
    for role in ("zhengzhou_reviewer", "expert"):
        body = as_role(world, role).get(url(filed)).json()
        assert body["combined_score"] is None and body["assignments"][0]["lead"] is True, role
    applicant = as_role(world, "a_admin")
    for body in (applicant.get(url(filed)).json(), listed_row(applicant, filed)):
        assert body["assignments"] is None and body["combined_score"] is None
    _client, key = api_client_with_key(reach_kind="region", region=Region.objects.get(code="410100"),
                                       scopes=[ApiScope.SUBMISSIONS_READ])
    machine = APIClient()
    machine.credentials(**key_header(key))
    body = machine.get(url(filed)).json()
    assert (body["available_actions"], body["assignments"], body["combined_score"]) == ([], None, None)


# --- POST …/actions/ -----------------------------------------------------------------------------

def test_the_owner_of_a_step_takes_it_and_gets_the_new_state_and_the_activity(world, filed):  # type: ignore[no-untyped-def]
    due = local_today() + dt.timedelta(days=10)
    response = post_action(as_role(world, "zhengzhou_reviewer"), filed,
                           {"action": "return_for_additions", "reason": "请补充审计报告",
                            "deadline": due.isoformat()})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["state"], body["state_label"], body["additions_due"]) == (
        filed.pk, "returned", "退回补正", due.isoformat())
    activity = body["activity"]
    assert set(activity) == ACTIVITY_FIELDS
    assert [activity[key] for key in ("action", "from", "to", "reason", "deadline")] == [
        "return_for_additions", "submitted", "returned", "请补充审计报告", due.isoformat()]
    reviewer = world.user("zhengzhou_reviewer")
    assert activity["who"] == (reviewer.get_full_name() or reviewer.username)
    assert activity["when"].endswith("+08:00")
    assert body["available_actions"] == []  # the city waits for the resubmission
    with scopes_disabled():
        row = Submission.objects.get(pk=filed.pk)
        assert (row.state, row.additions_due) == ("returned", due)
        assert Activity.objects.get(submission=filed).reason == "请补充审计报告"


@pytest.mark.parametrize("role, action", [
    ("henan_officer", "first_review_pass"),  # the province's step comes later
    ("a_admin", "return_for_additions"),  # the applicant does not review
    ("platform_admin", "first_review_pass"),  # the core workflow names no platform step
])
def test_a_step_of_another_role_is_refused_403_and_changes_nothing(world, filed, role, action):  # type: ignore[no-untyped-def]
    before = snapshot(filed)
    deadline = (local_today() + dt.timedelta(days=3)).isoformat()
    body = {"action": action, "reason": "越权", "deadline": deadline}
    response = post_action(as_role(world, role), filed, body)
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "permission_denied"
    assert snapshot(filed) == before


def test_a_reader_who_takes_no_step_is_refused_before_the_body_is_read(world):  # type: ignore[no-untyped-def]
    # The Xuhui district reviewer sees the outsider's application, but the core workflow's first
    # review is the city's: they take no step of it at all.
    shanghai = program_loaded(small_definition("test_sh_reviewed", "310000", workflow=core_workflow()))
    outsider = submission_filed(world.outsider, shanghai, {"project_name": "上海丙项目"},
                                world.user("outsider_admin"))
    before = snapshot(outsider)
    client = as_role(world, "xuhui_reviewer")
    assert client.get(url(outsider)).status_code == 200
    for body in ({}, {"action": "first_review_pass"}, {"action": 5}):
        assert post_action(client, outsider, body).status_code == 403
    assert snapshot(outsider) == before


def test_out_of_reach_answers_404_exactly_like_a_missing_id(world, filed):  # type: ignore[no-untyped-def]
    before = snapshot(filed)
    for role in ("luoyang_reviewer", "b_admin", "expert", "xuhui_reviewer"):
        client = as_role(world, role)
        refused = post_action(client, filed, {"action": "first_review_pass"})
        missing = client.post("/api/v1/submissions/2147480000/actions/", {"action": "first_review_pass"},
                              format="json")
        assert refused.status_code == missing.status_code == 404, role
        assert refused.content == missing.content
        assert client.get(url(filed, "activity")).status_code == 404
    assert snapshot(filed) == before


def test_bad_input_answers_400_naming_what_and_changes_nothing(world, filed):  # type: ignore[no-untyped-def]
    city = as_role(world, "zhengzhou_reviewer")
    before = snapshot(filed)
    tomorrow = (local_today() + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"action": "return_for_additions", "deadline": tomorrow}, "non_field_errors", "请填写理由"),
        ({"action": "return_for_additions", "reason": "缺材料"}, "non_field_errors", "请填写补正期限"),
        ({"action": "return_for_additions", "reason": "缺材料", "deadline": local_today().isoformat()},
         "non_field_errors", "补正期限须晚于今天"),
        ({"action": "return_for_additions", "reason": "缺材料", "deadline": "2026-13-40"}, "deadline", ""),
        ({"action": "return_for_additions", "reason": "缺材料", "deadline": "下周五"}, "deadline", ""),
        ({"action": "no_such_step"}, "action", "未知操作"),
        ({}, "action", ""),
        ({"action": ["first_review_pass"]}, "action", ""),
        ({"action": "first_review_pass", "reason": "含\x00字符"}, "reason", ""),
    ]
    for body, field, words in cases:
        response = post_action(city, filed, body)
        assert response.status_code == 400, (body, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and field in error["fields"], (body, error)
        assert words in " ".join(map(str, error["fields"][field])), (body, error)
    assert snapshot(filed) == before


def test_an_action_not_possible_from_the_current_state_is_a_409(world, filed):  # type: ignore[no-untyped-def]
    before = snapshot(filed)
    response = post_action(as_role(world, "henan_officer"), filed, {"action": "decide_pass", "reason": "好"})
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "conflict"
    assert "当前状态下不能执行" in response.json()["error"]["message"]
    assert snapshot(filed) == before


def test_api_clients_never_act(world, filed):  # type: ignore[no-untyped-def]
    _client, key = api_client_with_key(reach_kind="region", region=Region.objects.get(code="410100"))
    machine = APIClient()
    machine.credentials(**key_header(key))
    before = snapshot(filed)
    response = machine.post(url(filed, "actions"), {"action": "first_review_pass"}, format="json")
    assert response.status_code == 403
    assert "只能读取" in response.json()["error"]["message"]
    assert snapshot(filed) == before


# --- the activity -------------------------------------------------------------------------------

def test_the_activity_lists_each_transition_with_who_when_and_why(world, filed):  # type: ignore[no-untyped-def]
    due = local_today() + dt.timedelta(days=7)
    take(world, filed, "zhengzhou_reviewer", "return_for_additions", reason="补充审计报告", deadline=due)
    take(world, filed, "a_admin", "resubmit")
    response = as_role(world, "a_admin").get(url(filed, "activity"))  # the applicant reads why
    assert response.status_code == 200, response.content
    rows = response.json()
    assert [set(row) for row in rows] == [ACTIVITY_FIELDS, ACTIVITY_FIELDS]
    assert [(row["action"], row["from"], row["to"], row["reason"], row["deadline"]) for row in rows] == [
        ("return_for_additions", "submitted", "returned", "补充审计报告", due.isoformat()),
        ("resubmit", "returned", "submitted", "", None)]
    city, applicant = world.user("zhengzhou_reviewer"), world.user("a_admin")
    assert [row["who"] for row in rows] == [city.get_full_name() or city.username,
                                            applicant.get_full_name() or applicant.username]
    assert all(row["when"].endswith("+08:00") for row in rows)
    assert as_role(world, "henan_officer").get(url(filed, "activity")).json() == rows


# --- the page helpers ---------------------------------------------------------------------------

@pytest.fixture
def mixed(world, program) -> list[Submission]:  # type: ignore[no-untyped-def]
    """Submissions of tenant_a and tenant_b in several states, one assigned to the expert with a sheet."""
    rows = [submission_filed(world.tenant_a, program, core_data(), world.user("a_admin")) for _ in range(3)]
    rows.append(submission_filed(world.tenant_b, program, core_data(), world.user("b_admin")))
    take(world, rows[1], "zhengzhou_reviewer", "first_review_pass")
    take(world, rows[2], "zhengzhou_reviewer", "return_for_additions", reason="补",
         deadline=local_today() + dt.timedelta(days=3))
    submitted_sheet(assign_expert(world, rows[1]), "6", "20")
    return rows


@pytest.mark.parametrize("role", [key for key in ROLE_KEYS if key != "anonymous"])
def test_the_page_helpers_answer_what_the_per_row_functions_answer(world, mixed, role):  # type: ignore[no-untyped-def]
    user = world.user(role)
    with scopes_disabled():
        # The page helpers answer for rows the caller can see (a page of their list).
        rows = list(visible_submissions(user).filter(pk__in=[row.pk for row in mixed])
                    .select_related("program_version", "enterprise").order_by("id"))
        page = actions_for_page(user, rows)
        for row in rows:
            assert page[row.pk] == actions_for(user, row, check_guards=False), (role, row.state)
        details = review_details_for_page(rows, scores=True)
        for row in rows:
            expected = [(s.checklist.key, [sheet.pk for sheet, _r in s.sheets], s.combined)
                        for s in submission_scores(row)]
            assert [(s.checklist.key, [sheet.pk for sheet, _r in s.sheets], s.combined)
                    for s in details[row.pk].scores] == expected
    assert any(page[row.pk].transitions for row in rows) or role not in ("zhengzhou_reviewer", "a_admin",
                                                                         "henan_officer")


def test_the_list_costs_the_same_queries_for_three_rows_or_twelve(world, program):  # type: ignore[no-untyped-def]
    city = as_role(world, "zhengzhou_reviewer")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = city.get("/api/v1/submissions/")
        assert response.status_code == 200
        return len(captured.captured_queries)

    for _ in range(3):
        assign_expert(world, submission_filed(world.tenant_a, program, core_data(), world.user("a_admin")))
    few = queries()
    for _ in range(9):
        assign_expert(world, submission_filed(world.tenant_a, program, core_data(), world.user("a_admin")))
    assert queries() == few
