"""Suspension and reactivation by the region's authority, and re-submission of a rejected registration."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal import access, services
from portal.access import reach_scope
from portal.models import AuditEntry, Enterprise, Role
from tests.conftest import login
from tests.factories import EnterpriseFactory, UserFactory, region

pytestmark = pytest.mark.django_db

REASON = "连续三个月未按要求上传计量数据"


def client_as(world: Any, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        login(client, world.user(role))
    return client


def suspend_url(enterprise: Enterprise) -> str:
    return reverse("portal:enterprise_suspend", args=[enterprise.pk])


def reactivate_url(enterprise: Enterprise) -> str:
    return reverse("portal:enterprise_reactivate", args=[enterprise.pk])


def status_audit(enterprise: Enterprise) -> list[tuple[str, str]]:
    return list(AuditEntry.objects.filter(object_type="portal.Enterprise", object_id=str(enterprise.pk),
                                          action__in=("suspend", "reactivate", "resubmit"))
                .order_by("id").values_list("action", "actor_username"))


# --- suspension and reactivation -------------------------------------------------------------------


def test_the_city_authority_suspends_with_a_reason_and_the_enterprise_stops(world):
    a, reviewer = world.tenant_a, world.user("zhengzhou_reviewer")
    detail = client_as(world, "zhengzhou_reviewer").get(reverse("portal:enterprise_detail", args=[a.pk]))
    assert 'id="suspend-form"' in detail.content.decode()

    response = client_as(world, "zhengzhou_reviewer").post(suspend_url(a), {"reason": REASON})
    assert response.status_code == 302
    a.refresh_from_db()
    assert (a.status, a.suspended_by, a.suspension_reason) == (Enterprise.Status.SUSPENDED, reviewer, REASON)
    entry = AuditEntry.objects.get(action="suspend", object_id=str(a.pk))
    assert entry.actor == reviewer and entry.channel == AuditEntry.Channel.WEB
    assert entry.changes["reason"] == REASON
    assert entry.changes["status"] == {"before": "approved", "after": "suspended"}

    # Its people still sign in and read, see why, and can neither file nor send readings.
    admin = world.user("a_admin")
    admin.refresh_from_db()
    assert not access.can_file_applications(admin)
    home = client_as(world, "a_admin").get(reverse("portal:home")).content.decode()
    assert "企业已被主管部门停用" in home and REASON in home
    readings = client_as(world, "a_admin").post(
        "/api/v1/readings/", data=json.dumps({"readings": []}), content_type="application/json")
    assert readings.status_code == 403


def test_reactivation_needs_a_reason_and_approves_again(world):
    a, officer_user = world.tenant_a, world.user("henan_officer")
    with reach_scope(officer_user):  # as the suspend page runs it
        services.enterprise_suspend(actor=officer_user, enterprise=a, reason=REASON)
    officer = client_as(world, "henan_officer")
    assert officer.post(reactivate_url(a), {"reason": ""}).status_code == 302
    a.refresh_from_db()
    assert a.status == Enterprise.Status.SUSPENDED  # refused: no reason

    assert officer.post(reactivate_url(a), {"reason": "已完成整改"}).status_code == 302
    a.refresh_from_db()
    assert (a.status, a.suspended_by, a.suspension_reason) == (Enterprise.Status.APPROVED, None, "")
    entry = AuditEntry.objects.get(action="reactivate", object_id=str(a.pk))
    assert entry.changes["reason"] == "已完成整改"
    assert entry.changes["suspension"]["reason"] == REASON  # what was lifted stays on record
    assert status_audit(a) == [("suspend", "henan_officer"), ("reactivate", "henan_officer")]
    admin = world.user("a_admin")
    admin.refresh_from_db()
    assert access.can_file_applications(admin)


def test_suspension_without_a_reason_is_refused_and_not_recorded(world):
    a = world.tenant_a
    response = client_as(world, "zhengzhou_reviewer").post(suspend_url(a), {"reason": "   "}, follow=True)
    assert "必须填写理由" in response.content.decode()
    a.refresh_from_db()
    assert a.status == Enterprise.Status.APPROVED
    assert status_audit(a) == []
    reviewer = world.user("zhengzhou_reviewer")
    with reach_scope(reviewer), pytest.raises(ValidationError):
        services.enterprise_suspend(actor=reviewer, enterprise=a, reason="")


@pytest.mark.parametrize(("role", "expected"), [
    ("luoyang_reviewer", 404),  # another city: out of reach
    ("xuhui_reviewer", 404),  # another province
    ("a_admin", 404),  # sees it, but is not its authority
    ("a_staff", 404),
    ("b_admin", 404),
    ("park_admin", 404),
    ("expert", 404),
])
def test_only_the_region_authority_suspends_or_reactivates(world, role, expected):
    a = world.tenant_a
    client = client_as(world, role)
    assert client.post(suspend_url(a), {"reason": REASON}).status_code == expected
    a.refresh_from_db()
    assert a.status == Enterprise.Status.APPROVED
    platform_admin = world.user("platform_admin")
    with reach_scope(platform_admin):
        services.enterprise_suspend(actor=platform_admin, enterprise=a, reason=REASON)
    assert client.post(reactivate_url(a), {"reason": "擅自恢复"}).status_code == expected
    a.refresh_from_db()
    assert a.status == Enterprise.Status.SUSPENDED
    assert status_audit(a) == [("suspend", "platform_admin")]
    with reach_scope(world.user(role)), pytest.raises(PermissionDenied):
        services.enterprise_reactivate(actor=world.user(role), enterprise=a, reason="擅自恢复")


def test_anonymous_is_sent_to_login_and_get_is_not_allowed(world):
    a = world.tenant_a
    response = Client().post(suspend_url(a), {"reason": REASON})
    assert response.status_code == 302 and response["Location"].startswith(reverse("portal:login"))
    assert client_as(world, "zhengzhou_reviewer").get(suspend_url(a)).status_code == 405
    a.refresh_from_db()
    assert a.status == Enterprise.Status.APPROVED


def test_only_an_approved_enterprise_is_suspended_and_only_a_suspended_one_reactivated(world):
    pending = EnterpriseFactory(region=region("410105"), status=Enterprise.Status.PENDING)
    reviewer = world.user("zhengzhou_reviewer")
    with reach_scope(reviewer), pytest.raises(ValidationError) as refused:
        services.enterprise_suspend(actor=reviewer, enterprise=pending, reason=REASON)
    assert "只有已批准的企业可以停用" in str(refused.value)
    with reach_scope(reviewer), pytest.raises(ValidationError) as refused:
        services.enterprise_reactivate(actor=reviewer, enterprise=world.tenant_a, reason="无")
    assert "只有已停用的企业可以恢复" in str(refused.value)


def test_suspension_and_reactivation_in_the_admin(world):
    a, b = world.tenant_a, world.tenant_b
    changelist = reverse("admin:portal_enterprise_changelist")

    def act(client: Client, action: str, enterprises: list[Enterprise], note: str) -> str:
        return client.post(changelist, {"action": action, "_selected_action": [e.pk for e in enterprises],
                                        "note": note, "index": 0}, follow=True).content.decode()

    reviewer = client_as(world, "zhengzhou_reviewer")
    # A forged selection with an enterprise of another city: only the one in reach is decided.
    page = act(reviewer, "suspend_enterprises", [a, b], REASON)
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.status, b.status) == (Enterprise.Status.SUSPENDED, Enterprise.Status.APPROVED)
    assert a.name in page
    entry = AuditEntry.objects.get(action="suspend", object_id=str(a.pk))
    assert (entry.channel, entry.changes["reason"]) == (AuditEntry.Channel.ADMIN, REASON)
    assert "必须填写理由" in act(reviewer, "reactivate_enterprises", [a], "")
    act(reviewer, "reactivate_enterprises", [a], "整改完成")
    a.refresh_from_db()
    assert a.status == Enterprise.Status.APPROVED


# --- re-submission of a rejected registration --------------------------------------------------------


@pytest.fixture
def rejected(world):  # type: ignore[no-untyped-def]
    enterprise = EnterpriseFactory(name="郑州被驳回科技有限公司", region=region("410105"),
                                   status=Enterprise.Status.REJECTED, review_note="企业名称与营业执照不符",
                                   reviewed_by=world.user("zhengzhou_reviewer"), reviewed_at=timezone.now())
    admin = UserFactory(username="rejected_tech_admin", role=Role.ENTERPRISE_ADMIN, enterprise=enterprise)
    staff = UserFactory(username="rejected_tech_staff", role=Role.ENTERPRISE_STAFF, enterprise=enterprise)
    return enterprise, admin, staff


def resubmit_url(enterprise: Enterprise) -> str:
    return reverse("portal:enterprise_resubmit", args=[enterprise.pk])


def test_the_admin_resubmits_and_the_reviewer_sees_it_again(world, rejected):
    enterprise, admin, _staff = rejected
    client = Client()
    login(client, admin)
    detail = client.get(reverse("portal:enterprise_detail", args=[enterprise.pk])).content.decode()
    assert 'id="resubmit-form"' in detail and "企业名称与营业执照不符" in detail
    reviewer_home = client_as(world, "zhengzhou_reviewer").get(reverse("portal:home"))
    assert enterprise.name not in [e.name for e in reviewer_home.context["pending"]]

    response = client.post(resubmit_url(enterprise), {
        "name": "郑州驳回后更正科技有限公司", "region": region("410105").pk, "note": "已按营业执照更正名称"})
    assert response.status_code == 302
    enterprise.refresh_from_db()
    assert (enterprise.status, enterprise.name) == (Enterprise.Status.PENDING, "郑州驳回后更正科技有限公司")
    assert enterprise.resubmission_note == "已按营业执照更正名称" and enterprise.resubmitted_at is not None
    assert enterprise.review_note == "企业名称与营业执照不符"  # the reviewer reads what they asked for
    entry = AuditEntry.objects.get(action="resubmit", object_id=str(enterprise.pk))
    assert entry.actor == admin
    assert entry.changes["name"] == {"before": "郑州被驳回科技有限公司",
                                     "after": "郑州驳回后更正科技有限公司"}
    assert entry.changes["status"] == {"before": "rejected", "after": "pending"}

    reviewer = client_as(world, "zhengzhou_reviewer")
    pending = reviewer.get(reverse("portal:home")).context["pending"]
    assert enterprise.pk in [e.pk for e in pending]
    page = reviewer.get(reverse("portal:enterprise_detail", args=[enterprise.pk])).content.decode()
    assert "已按营业执照更正名称" in page and 'id="approve-form"' in page and 'id="reject-form"' in page
    approved = reviewer.post(reverse("portal:enterprise_approve", args=[enterprise.pk]), {"note": ""})
    assert approved.status_code == 302
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.APPROVED


def test_a_new_region_sends_it_to_that_region_reviewer(world, rejected):
    enterprise, admin, _staff = rejected
    with reach_scope(admin):  # as the re-submission page runs it
        services.enterprise_resubmit(actor=admin, enterprise=enterprise, name=enterprise.name,
                                     region=region("410305"), note="注册地实为洛阳")
    luoyang = client_as(world, "luoyang_reviewer").get(reverse("portal:home")).context["pending"]
    zhengzhou = client_as(world, "zhengzhou_reviewer").get(reverse("portal:home")).context["pending"]
    assert enterprise.pk in [e.pk for e in luoyang] and enterprise.pk not in [e.pk for e in zhengzhou]
    entry = AuditEntry.objects.get(action="resubmit", object_id=str(enterprise.pk))
    assert entry.changes["region"] == {"before": "410105", "after": "410305"}


@pytest.mark.parametrize("who", ["staff", "zhengzhou_reviewer", "a_admin", "platform_admin"])
def test_only_its_own_admin_resubmits(world, rejected, who):
    enterprise, _admin, staff = rejected
    client = Client()
    login(client, staff if who == "staff" else world.user(who))
    response = client.post(resubmit_url(enterprise), {"name": "冒名重新提交", "region": region("410105").pk})
    assert response.status_code == 404
    enterprise.refresh_from_db()
    assert (enterprise.status, enterprise.name) == (Enterprise.Status.REJECTED, "郑州被驳回科技有限公司")
    assert status_audit(enterprise) == []


def test_only_a_rejected_registration_is_resubmitted(world):
    admin = world.user("a_admin")
    with reach_scope(admin), pytest.raises(ValidationError) as refused:
        services.enterprise_resubmit(actor=admin, enterprise=world.tenant_a, name="改名",
                                     region=region("410105"))
    assert "只有被驳回的注册可以重新提交" in str(refused.value)
    page = Client()
    login(page, admin)
    detail = page.get(reverse("portal:enterprise_detail", args=[world.tenant_a.pk])).content.decode()
    assert 'id="resubmit-form"' not in detail
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.status == Enterprise.Status.APPROVED


def test_resubmission_to_a_province_level_region_is_a_field_error(world, rejected):
    enterprise, admin, _staff = rejected
    with reach_scope(admin), pytest.raises(ValidationError) as refused:
        services.enterprise_resubmit(actor=admin, enterprise=enterprise, name=enterprise.name,
                                     region=region("410000"))
    assert "region" in refused.value.message_dict
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.REJECTED
