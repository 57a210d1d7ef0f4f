"""The reviews admin: reach per role on the submission list, its filters, the transition actions
(single and batch, with one reason), the checklist filled by the assigned expert, and the diff a
reviewer sees after a return and a resubmission."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled
from PIL import Image

from applications.models import Attachment, Submission, SubmissionState
from applications.services import submission_save
from reviews.models import Activity, Assignment, ScoreItem, ScoreItemPhoto, ScoreSheet
from reviews.services import transition_perform
from tests.applications.core_definition import core_definition, core_workflow
from tests.conftest import login
from tests.factories import program_loaded, submission_filed

CHANGELIST = "admin:applications_submission_changelist"
FORM_DATA = {
    "founded": "2010-05-01",
    "summary": "十字以内",
    "investment": "80",
    "commitment": "yes",
    "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}],
}


def label(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def review_workflow() -> dict[str, Any]:
    """core_workflow() with the province accepting (a batch with one reason) and an expert step."""
    workflow = core_workflow()
    workflow["states"] += [
        {"key": "accepted", "label": label("已受理", "Accepted")},
        {"key": "under_expert_review", "label": label("专家评审中", "Under expert review")},
    ]
    transitions = [t for t in workflow["transitions"] if t["key"] not in ("decide_pass", "decide_fail")]
    transitions += [
        {
            "key": "accept",
            "label": label("受理", "Accept"),
            "sources": ["first_review_passed"],
            "target": "accepted",
            "actors": ["provincial"],
            "needs_reason": True,
            "batch": True,
        },
        {
            "key": "start_expert_review",
            "label": label("开始专家评审", "Start expert review"),
            "sources": ["accepted"],
            "target": "under_expert_review",
            "actors": ["provincial"],
            "guards": ["lead_expert_assigned"],
        },
        {
            "key": "decide_pass",
            "label": label("评审通过", "Decide: passed"),
            "sources": ["under_expert_review"],
            "target": "passed",
            "actors": ["provincial"],
            "needs_reason": True,
            "batch": True,
            "guards": ["checklists_complete"],
            "outcome": "passed",
        },
        {
            "key": "decide_fail",
            "label": label("评审不通过", "Decide: not passed"),
            "sources": ["under_expert_review"],
            "target": "not_passed",
            "actors": ["provincial"],
            "needs_reason": True,
            "outcome": "not_passed",
        },
    ]
    workflow["transitions"] = transitions
    return workflow


def review_checklists() -> list[dict[str, Any]]:
    return [
        {
            "key": "onsite",
            "title": label("现场核查表", "On-site checklist"),
            "items": [
                {
                    "key": "metering",
                    "label": label("计量器具配备", "Meters"),
                    "category": label("计量", "Metering"),
                    "allow_na": False,
                    "evidence": ["total_tce"],
                },
                {
                    "key": "records",
                    "label": label("台账记录", "Records"),
                    "category": label("计量", "Metering"),
                },
                {
                    "key": "management",
                    "label": label("能源管理制度", "Management"),
                    "category": label("管理", "Management"),
                    "mode": "points",
                    "max_points": 10,
                },
                {
                    "key": "no_accident",
                    "label": label("无重大安全事故", "No accident"),
                    "category": label("管理", "Management"),
                    "veto": True,
                    "allow_na": False,
                },
            ],
        }
    ]


@pytest.fixture
def program(db):  # type: ignore[no-untyped-def]
    return program_loaded(
        {**core_definition("test_admin10"), "workflow": review_workflow(), "checklists": review_checklists()}
    )


@pytest.fixture
def filed(world, program):  # type: ignore[no-untyped-def]
    """tenant_a's and tenant_b's filed submissions."""
    a = submission_filed(
        world.tenant_a, program, FORM_DATA, world.user("a_admin"), title="郑州甲能源管理中心申报"
    )
    b = submission_filed(
        world.tenant_b, program, FORM_DATA, world.user("b_admin"), title="洛阳乙能源管理中心申报"
    )
    return a, b


def shown(client, user, query: str = "") -> set[str]:  # type: ignore[no-untyped-def]
    login(client, user)
    response = client.get(reverse(CHANGELIST) + query)
    assert response.status_code == 200
    return {submission.title for submission in response.context["cl"].result_list}


def take(submission, user, action, **kwargs):  # type: ignore[no-untyped-def]
    with scopes_disabled():
        return transition_perform(submission=submission, action=action, actor=user, **kwargs)


def state_of(submission) -> str:  # type: ignore[no-untyped-def]
    with scopes_disabled():
        return Submission.objects.get(pk=submission.pk).state


def action_names(response) -> set[str]:  # type: ignore[no-untyped-def]
    form = response.context["action_form"]
    return {name for name, _label in form.fields["action"].choices if name}


# --- reach and filters ----------------------------------------------------------------------------


def test_each_role_lists_exactly_its_reach(client, world, filed):
    a, b = filed
    assert shown(client, world.user("zhengzhou_reviewer")) == {a.title}
    assert shown(client, world.user("luoyang_reviewer")) == {b.title}
    assert shown(client, world.user("henan_officer")) == {a.title, b.title}
    assert shown(client, world.user("xuhui_reviewer")) == set()
    assert shown(client, world.user("expert")) == set()
    with scopes_disabled():
        Assignment.objects.create(submission=a, expert=world.user("expert"), is_lead=True)
    assert shown(client, world.user("expert")) == {a.title}
    # Out of reach answers like missing on the change page.
    login(client, world.user("luoyang_reviewer"))
    assert client.get(reverse("admin:applications_submission_change", args=[a.pk])).status_code == 404
    assert client.get(reverse("admin:applications_submission_change", args=[10**9])).status_code == 404


def test_drafts_are_not_listed_and_nothing_is_added_or_deleted(client, world, filed, program):
    a, _b = filed
    login(client, world.user("henan_officer"))
    assert client.get(reverse("admin:applications_submission_add")).status_code == 403
    assert client.post(reverse("admin:applications_submission_delete", args=[a.pk])).status_code == 403
    login(client, world.user("platform_admin"))
    response = client.get(reverse("admin:applications_submission_change", args=[a.pk]))
    assert response.status_code == 200
    assert not response.context["has_change_permission"]  # platform admins too: only transitions move it
    assert client.get(reverse("admin:applications_submission_add")).status_code == 403


def test_filters_program_state_region_track_deadline(client, world, filed, program):
    a, b = filed
    henan = world.user("henan_officer")
    today = timezone.localdate()
    with scopes_disabled():
        Submission.objects.filter(pk=a.pk).update(additions_due=today - dt.timedelta(days=1), track="big")
        Submission.objects.filter(pk=b.pk).update(
            additions_due=today + dt.timedelta(days=3), state=SubmissionState.FIRST_REVIEW_PASSED
        )
    assert shown(client, henan, f"?program={program.pk}") == {a.title, b.title}
    assert shown(client, henan, "?program=999999") == set()
    assert shown(client, henan, "?state__exact=first_review_passed") == {b.title}
    assert shown(client, henan, "?region=410100") == {a.title}
    assert shown(client, henan, "?region=410305") == {b.title}
    assert shown(client, henan, "?track=big") == {a.title}
    assert shown(client, henan, "?deadline=overdue") == {a.title}
    assert shown(client, henan, "?deadline=soon") == {b.title}
    assert shown(client, henan, "?deadline=none") == set()
    # The region filter offers only what is in reach: a city's reviewer its districts, not Luoyang's.
    login(client, world.user("zhengzhou_reviewer"))
    response = client.get(reverse(CHANGELIST))
    region_filter = next(
        spec
        for spec in response.context["cl"].filter_specs
        if getattr(spec, "parameter_name", "") == "region"
    )
    assert [code for code, _name in region_filter.lookup_choices] == ["410105"]
    assert shown(client, world.user("zhengzhou_reviewer"), "?region=410305") == set()


# --- actions -------------------------------------------------------------------------------------------


def test_an_action_by_its_owner_works_and_others_get_nothing(client, world, filed):
    a, b = filed
    city = world.user("zhengzhou_reviewer")
    login(client, city)
    response = client.get(reverse(CHANGELIST))
    assert {"transition__first_review_pass", "transition__return_for_additions"} <= action_names(response)
    assert "transition__accept" not in action_names(response)
    # The action asks first (intermediate page), then applies.
    page = client.post(
        reverse(CHANGELIST), {"action": "transition__first_review_pass", "_selected_action": [a.pk]}
    )
    assert page.status_code == 200 and "确认执行" in page.content.decode()
    assert state_of(a) == SubmissionState.SUBMITTED
    client.post(
        reverse(CHANGELIST),
        {"action": "transition__first_review_pass", "_selected_action": [a.pk], "apply": "1", "reason": ""},
    )
    assert state_of(a) == SubmissionState.FIRST_REVIEW_PASSED

    # Luoyang's reviewer has the action for its own city, but tenant_a's submission is not in its
    # list: the forged selection changes nothing.
    with scopes_disabled():
        activities = Activity.objects.count()
    login(client, world.user("luoyang_reviewer"))
    client.post(
        reverse(CHANGELIST),
        {
            "action": "transition__return_for_additions",
            "_selected_action": [a.pk],
            "apply": "1",
            "reason": "伪造",
            "deadline": "2099-01-01",
        },
    )
    # The province may not take the city's step: not offered, and a forged post changes nothing.
    login(client, world.user("henan_officer"))
    response = client.get(reverse(CHANGELIST))
    assert "transition__first_review_pass" not in action_names(response)
    client.post(
        reverse(CHANGELIST),
        {"action": "transition__first_review_pass", "_selected_action": [b.pk], "apply": "1"},
    )
    # The expert sees none of these and takes no action.
    login(client, world.user("expert"))
    assert client.get(reverse(CHANGELIST)).context["action_form"] is None or not action_names(
        client.get(reverse(CHANGELIST))
    )
    assert state_of(a) == SubmissionState.FIRST_REVIEW_PASSED and state_of(b) == SubmissionState.SUBMITTED
    with scopes_disabled():
        assert Activity.objects.count() == activities

    # The detail page's buttons: the same rules.
    url = reverse("admin:applications_submission_transition", args=[b.pk, "first_review_pass"])
    assert client.get(url).status_code == 404  # the expert: out of reach
    login(client, world.user("henan_officer"))
    assert client.get(url).status_code == 403  # in reach, not theirs to take
    assert client.post(url, {"reason": "x"}).status_code == 403
    assert state_of(b) == SubmissionState.SUBMITTED
    login(client, world.user("luoyang_reviewer"))
    change = client.get(reverse("admin:applications_submission_change", args=[b.pk])).content.decode()
    assert url in change
    assert client.post(url, {"reason": ""}).status_code == 302
    assert state_of(b) == SubmissionState.FIRST_REVIEW_PASSED


def test_a_return_needs_a_reason_and_a_deadline(client, world, filed):
    a, _b = filed
    login(client, world.user("zhengzhou_reviewer"))
    url = reverse("admin:applications_submission_transition", args=[a.pk, "return_for_additions"])
    response = client.post(url, {"reason": "", "deadline": ""})
    assert response.status_code == 400
    assert state_of(a) == SubmissionState.SUBMITTED
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    assert client.post(url, {"reason": "缺审计报告", "deadline": yesterday}).status_code == 400
    assert state_of(a) == SubmissionState.SUBMITTED
    due = timezone.localdate() + dt.timedelta(days=10)
    assert client.post(url, {"reason": "缺审计报告", "deadline": due.isoformat()}).status_code == 302
    with scopes_disabled():
        a.refresh_from_db()
        assert (a.state, a.additions_due) == (SubmissionState.RETURNED, due)
        assert Activity.objects.get(submission=a, action="return_for_additions").reason == "缺审计报告"


def test_a_batch_decision_takes_one_reason_and_reports_each_refusal(client, world, filed, program):
    a, b = filed
    c = submission_filed(world.tenant_a, program, FORM_DATA, world.user("a_admin"), title="郑州甲第二项申报")
    take(a, world.user("zhengzhou_reviewer"), "first_review_pass")
    take(b, world.user("luoyang_reviewer"), "first_review_pass")
    province = world.user("henan_officer")
    login(client, province)
    selected = [a.pk, b.pk, c.pk]
    page = client.post(reverse(CHANGELIST), {"action": "transition__accept", "_selected_action": selected})
    assert page.status_code == 200 and page.context["form"].fields["reason"].required
    # Without the reason it asks again and changes nothing.
    again = client.post(
        reverse(CHANGELIST),
        {"action": "transition__accept", "_selected_action": selected, "apply": "1", "reason": ""},
    )
    assert again.status_code == 200 and again.context["form"].errors
    assert state_of(a) == SubmissionState.FIRST_REVIEW_PASSED
    response = client.post(
        reverse(CHANGELIST),
        {
            "action": "transition__accept",
            "_selected_action": selected,
            "apply": "1",
            "reason": "材料齐全，予以受理",
        },
        follow=True,
    )
    texts = [str(message) for message in response.context["messages"]]
    assert any("已对 2 项申报执行“受理”" in text for text in texts)
    assert any(text.startswith("郑州甲第二项申报：未执行") for text in texts)  # c was still at first review
    assert (state_of(a), state_of(b), state_of(c)) == (
        SubmissionState.ACCEPTED,
        SubmissionState.ACCEPTED,
        SubmissionState.SUBMITTED,
    )
    with scopes_disabled():
        reasons = set(Activity.objects.filter(action="accept").values_list("submission_id", "reason"))
    assert reasons == {(a.pk, "材料齐全，予以受理"), (b.pk, "材料齐全，予以受理")}


def test_a_transition_that_is_not_a_batch_is_refused_for_many(client, world, filed, program):
    a, _b = filed
    c = submission_filed(world.tenant_a, program, FORM_DATA, world.user("a_admin"), title="郑州甲第二项申报")
    login(client, world.user("zhengzhou_reviewer"))
    response = client.post(
        reverse(CHANGELIST),
        {
            "action": "transition__return_for_additions",
            "_selected_action": [a.pk, c.pk],
            "apply": "1",
            "reason": "缺材料",
            "deadline": (timezone.localdate() + dt.timedelta(days=5)).isoformat(),
        },
        follow=True,
    )
    assert any("不能批量执行" in str(message) for message in response.context["messages"])
    assert state_of(a) == state_of(c) == SubmissionState.SUBMITTED


# --- the checklist ----------------------------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 120, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def under_review(world, filed):  # type: ignore[no-untyped-def]
    a, _b = filed
    take(a, world.user("zhengzhou_reviewer"), "first_review_pass")
    take(a, world.user("henan_officer"), "accept", reason="受理")
    with scopes_disabled():
        Assignment.objects.create(
            submission=a, expert=world.user("expert"), is_lead=True, assigned_by=world.user("henan_officer")
        )
    take(a, world.user("henan_officer"), "start_expert_review")
    return a


def test_the_assigned_expert_fills_the_checklist(client, world, under_review, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    a = under_review
    url = reverse("admin:applications_submission_checklist", args=[a.pk, "onsite"])
    expert = world.user("expert")
    login(client, expert)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert (
        "计量器具配备" in body and "能源管理制度" in body and "年综合能耗" in body
    )  # evidence beside the item
    with scopes_disabled():
        assert not ScoreSheet.objects.exists()  # looking writes nothing

    # Points over the maximum and NA where the item forbids it are refused by item; the rest saves.
    response = client.post(
        url,
        {
            "verdict_metering": "na",
            "verdict_records": "na",
            "points_management": "12",
            "note_records": "无台账要求",
            "verdict_no_accident": "meets",
        },
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "该项不允许选择“不适用”" in body and "得分须在 0 至 10 分之间" in body
    with scopes_disabled():
        sheet = ScoreSheet.objects.get(assignment__expert=expert, checklist="onsite")
        items = {row.item: (row.verdict, row.points, row.note) for row in sheet.items.all()}
    assert items == {"records": ("na", None, "无台账要求"), "no_accident": ("meets", None, "")}

    # Submitting while items are unjudged is refused.
    response = client.post(url, {"verdict_records": "na", "verdict_no_accident": "meets", "_submit": "1"})
    assert response.status_code == 400 and "还有 2 项未评判" in response.content.decode()
    with scopes_disabled():
        sheet.refresh_from_db()
        assert sheet.submitted_at is None

    # A photo for an item (checked as an image by content); a PDF posing as a photo is refused.
    response = client.post(
        url, {"verdict_metering": "meets", "photo_metering": SimpleUploadedFile("meter.png", _png())}
    )
    assert response.status_code == 302
    fake = SimpleUploadedFile("fake.png", b"%PDF-1.4\n%fake\n")
    response = client.post(url, {"photo_records": fake})
    assert response.status_code == 400 and "照片只接受 JPG 或 PNG" in response.content.decode()
    with scopes_disabled():
        photo = ScoreItemPhoto.objects.get()
        assert (photo.item.item, photo.content_type, photo.original_name) == (
            "metering",
            "image/png",
            "meter.png",
        )
    photo_url = reverse("admin:applications_submission_photo", args=[a.pk, photo.pk])
    assert b"".join(client.get(photo_url).streaming_content) == _png()

    response = client.post(
        url,
        {
            "verdict_metering": "meets",
            "verdict_records": "na",
            "points_management": "8",
            "verdict_no_accident": "meets",
            "conclusion_note": "现场核查符合要求",
            "_submit": "1",
        },
    )
    assert response.status_code == 302
    with scopes_disabled():
        sheet.refresh_from_db()
        assert sheet.submitted_at is not None and sheet.conclusion_note == "现场核查符合要求"
        assert ScoreItem.objects.get(sheet=sheet, item="management").points == 8
    # Submitted: kept as filled.
    response = client.post(url, {"points_management": "2"})
    assert response.status_code == 400 and "不能再修改" in response.content.decode()
    with scopes_disabled():
        assert ScoreItem.objects.get(sheet=sheet, item="management").points == 8

    # The province sees the combined score and each expert's sheet; the city neither.
    login(client, world.user("henan_officer"))
    change = client.get(reverse("admin:applications_submission_change", args=[a.pk])).content.decode()
    assert "综合得分" in change and "80.00" in change  # 8 of 10 points; verdict items count no points
    sheets = client.get(url)
    assert sheets.status_code == 200 and "现场核查符合要求" in sheets.content.decode()
    assert client.post(url, {"points_management": "1"}).status_code == 403
    assert client.get(photo_url).status_code == 200
    login(client, world.user("zhengzhou_reviewer"))
    assert (
        "综合得分"
        not in client.get(reverse("admin:applications_submission_change", args=[a.pk])).content.decode()
    )
    assert client.get(url).status_code == 403
    assert client.get(photo_url).status_code == 404
    login(client, world.user("luoyang_reviewer"))
    assert client.get(url).status_code == 404
    # The decision's guard now holds.
    login(client, world.user("henan_officer"))
    decide = reverse("admin:applications_submission_transition", args=[a.pk, "decide_pass"])
    assert client.post(decide, {"reason": "现场核查通过"}).status_code == 302
    assert state_of(a) == SubmissionState.PASSED


def test_an_unassigned_expert_gets_no_checklist(client, world, under_review):
    a = under_review
    other = type(world.user("expert")).objects.create_user(
        username="other_expert_for_admin10",
        role="expert",
        review_organization=world.user("expert").review_organization,
        is_staff=True,
    )
    login(client, other)
    url = reverse("admin:applications_submission_checklist", args=[a.pk, "onsite"])
    assert client.get(url).status_code == 404
    assert client.post(url, {"verdict_metering": "meets"}).status_code == 404
    with scopes_disabled():
        assert not ScoreSheet.objects.exists()


# --- the resubmission diff --------------------------------------------------------------------------


def test_the_reviewer_sees_what_changed_since_the_return(client, world, filed, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    a, _b = filed
    city, applicant = world.user("zhengzhou_reviewer"), world.user("a_admin")
    take(
        a,
        city,
        "return_for_additions",
        reason="请补充专项审计报告",
        deadline=timezone.localdate() + dt.timedelta(days=10),
    )
    with scopes_disabled():
        a.refresh_from_db()
        submission_save(
            submission=a,
            user=applicant,
            changes={
                "investment": "120",
                "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "90"}],
            },
        )
        for kind, name in (("audit_report", "专项审计报告.pdf"),):
            content = b"%PDF-1.4\n% audit report\n"
            attachment = Attachment(
                submission=a,
                kind=kind,
                original_name=name,
                content_type="application/pdf",
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
            )
            attachment.file.save(name, ContentFile(content), save=False)
            attachment.save()
    take(a, applicant, "resubmit")
    login(client, city)
    body = client.get(reverse("admin:applications_submission_change", args=[a.pk])).content.decode()
    assert "请补充专项审计报告" in body
    assert "第 2 次提交相对退回版本的修改" in body
    for text in (
        "投资",
        "80",
        "120",
        "近三年主要经济指标",
        "2024年",
        "总负债",
        "90",
        "专项审计报告.pdf",
        "新增",
    ):
        assert text in body, text


# --- assigning experts ------------------------------------------------------------------------------


def test_the_provincial_officer_assigns_experts_with_the_conflict_checks(client, world, filed):
    from portal.models import AuditEntry, Role
    from reviews.assignments import conflict_declare
    from tests.factories import UserFactory

    a, _b = filed
    take(a, world.user("zhengzhou_reviewer"), "first_review_pass")
    organization = world.user("expert").review_organization
    free = UserFactory(username="expert_free", role=Role.EXPERT, is_staff=True, first_name="自由",
                       review_organization=organization)
    bound = UserFactory(username="expert_bound", role=Role.EXPERT, is_staff=True, first_name="回避",
                        review_organization=organization)
    with scopes_disabled():
        conflict_declare(expert=bound, kind="consulting", enterprise=world.tenant_a,
                         since=timezone.localdate() - dt.timedelta(days=300))
    url = reverse("admin:applications_submission_assign", args=[a.pk])
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(url).status_code == 403  # the city does not assign experts
    login(client, world.user("henan_officer"))
    page = client.get(url)
    assert page.status_code == 200
    offered = [expert.username for expert in page.context["offered"]]
    conflicted = [expert.username for expert, _reasons in page.context["conflicted"]]
    assert "expert_free" in offered and "expert_bound" not in offered and "expert_bound" in conflicted
    assert client.post(url, {"do": "assign", "expert": free.pk, "lead": "1"}).status_code == 302
    refused = client.post(url, {"do": "assign", "expert": bound.pk})
    assert refused.status_code == 400 and "利益冲突" in refused.content.decode()
    assert client.post(url, {"do": "assign", "expert": bound.pk,
                             "override_reason": "该领域仅此一位专家"}).status_code == 302
    with scopes_disabled():
        assignments = {item.expert.username: item for item in Assignment.objects.filter(submission=a)}
        assert assignments["expert_free"].is_lead and not assignments["expert_bound"].is_lead
        assert assignments["expert_bound"].conflict_override_reason == "该领域仅此一位专家"
        assert AuditEntry.objects.filter(action="assignment_override").exists()
    withdraw = client.post(url, {"do": "withdraw", "assignment": assignments["expert_bound"].pk,
                                 "reason": "回避"})
    assert withdraw.status_code == 302
    with scopes_disabled():
        assert Assignment.objects.filter(submission=a, withdrawn_at__isnull=True).count() == 1


def test_the_deciding_officer_finds_the_review_exports_on_the_submission_page(client, world, filed):
    a, _b = filed
    change = reverse("admin:applications_submission_change", args=[a.pk])
    login(client, world.user("henan_officer"))
    page = client.get(change).content.decode()
    assert reverse("reviews:export_scores_xlsx", kwargs={"submission_id": a.pk}) in page
    assert reverse("reviews:export_onsite_check_pdf", kwargs={"submission_id": a.pk}) in page
    login(client, world.user("zhengzhou_reviewer"))
    assert reverse("reviews:export_scores_xlsx", kwargs={"submission_id": a.pk}) not in client.get(
        change).content.decode()
