"""Enterprise self-registration and its review by the authority of the enterprise's region."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from portal import access
from portal.credit_code import CREDIT_CODE_ALPHABET, credit_code_check_character
from portal.models import AuditEntry, Enterprise, Role, User
from tests.conftest import login
from tests.factories import EnterpriseFactory, UserFactory, credit_code_for, region
from tests.scoping import unscoped

REGISTER_URL = "/accounts/register/"
NEW_PASSWORD = "green-steel-2026-x"


def registration_data(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "郑州新能源装备有限公司",
        "credit_code": credit_code_for("410102"),
        "kind": Enterprise.Kind.INDUSTRIAL,
        "region": region("410102").pk,
        "park": "",
        "industry": "C38 电气机械和器材制造业",
        "address": "郑州市中原区建设西路1号",
        "contact_name": "王工",
        "contact_phone": "0371-12345678",
        "contact_email": "wang@example.cn",
        "username": "zz_new_admin",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, int]:
    """How many enterprises and users there are, across tenants (the test's view, not a user's)."""
    with unscoped():
        return Enterprise.objects.count(), User.objects.count()


def field_errors(response, field: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(e) for e in response.context["form"].errors.get(field, [])]


@pytest.mark.django_db
def test_registration_creates_pending_enterprise_and_its_admin(client, world):
    before = counts()
    response = client.post(REGISTER_URL, registration_data())
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:register_done")
    assert counts() == (before[0] + 1, before[1] + 1)

    with unscoped():  # what the registration stored
        enterprise = Enterprise.objects.get(name="郑州新能源装备有限公司")
    assert enterprise.status == Enterprise.Status.PENDING
    assert enterprise.region.code == "410102"
    user = User.objects.get(username="zz_new_admin")
    assert user.role == Role.ENTERPRISE_ADMIN
    assert user.enterprise_id == enterprise.pk
    assert user.check_password(NEW_PASSWORD)
    assert AuditEntry.objects.filter(action="register", object_id=str(enterprise.pk)).exists()
    created = AuditEntry.objects.get(action="create", object_type="portal.User", object_id=str(user.pk))
    assert created.changes["password"] == "******"
    assert user.password not in json.dumps(created.changes)

    done = client.get(response["Location"])
    # The district enterprise is reviewed by the nearest authority above it: Zhengzhou's.
    assert "郑州市工业和信息化局" in done.content.decode()
    assert "等待审核" in done.content.decode()


@pytest.mark.django_db
def test_wrong_check_character_names_the_expected_one(client, world):
    valid = credit_code_for("410102")
    expected = credit_code_check_character(valid[:17])
    wrong = next(c for c in CREDIT_CODE_ALPHABET if c != expected)
    before = counts()
    response = client.post(REGISTER_URL, registration_data(credit_code=valid[:17] + wrong))
    assert response.status_code == 200
    errors = field_errors(response, "credit_code")
    assert any(f"第18位应为 {expected}" in e for e in errors), errors
    assert f"第18位应为 {expected}" in response.content.decode()
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("whose", ["tenant_a", "outsider"])
def test_duplicate_credit_code_is_refused_across_tenants(client, world, whose):
    existing = getattr(world, whose)
    before = counts()
    # Lower case and spaces are normalized before the uniqueness check.
    response = client.post(REGISTER_URL, registration_data(credit_code=f" {existing.credit_code.lower()} "))
    assert response.status_code == 200
    assert any("已注册" in e for e in field_errors(response, "credit_code"))
    assert counts() == before


@pytest.mark.django_db
def test_duplicate_username_is_refused(client, world):
    before = counts()
    response = client.post(REGISTER_URL, registration_data(username=world.user("a_admin").username.upper()))
    assert response.status_code == 200
    assert any("用户名已被使用" in e for e in field_errors(response, "username"))
    assert counts() == before


@pytest.mark.django_db
def test_oversized_name_is_a_field_error(client, world):
    before = counts()
    response = client.post(REGISTER_URL, registration_data(name="企" * 201))
    assert response.status_code == 200
    assert any("200" in e for e in field_errors(response, "name"))
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("forged", ["999999", "abc", "province"])
def test_forged_region_id_is_a_field_error(client, world, forged):
    region_id = region("410000").pk if forged == "province" else forged
    before = counts()
    response = client.post(REGISTER_URL, registration_data(region=region_id))
    assert response.status_code == 200
    assert field_errors(response, "region")
    assert counts() == before


@pytest.mark.django_db
def test_forged_park_id_of_another_tenant_is_a_field_error(client, world):
    before = counts()
    response = client.post(REGISTER_URL, registration_data(park=world.outsider.pk))
    assert response.status_code == 200
    assert field_errors(response, "park")
    assert counts() == before


@pytest.mark.django_db
def test_park_membership_in_the_same_province(client, world):
    park = EnterpriseFactory(name="郑州经开区园区", kind=Enterprise.Kind.PARK, region=region("410100"))
    shanghai_park = EnterpriseFactory(name="上海某园区", kind=Enterprise.Kind.PARK, region=region("310104"))
    before = counts()
    response = client.post(REGISTER_URL, registration_data(park=shanghai_park.pk))
    assert any("同一省" in e for e in field_errors(response, "park"))
    assert counts() == before
    response = client.post(REGISTER_URL, registration_data(park=park.pk))
    assert response.status_code == 302
    with unscoped():
        assert Enterprise.objects.get(name="郑州新能源装备有限公司").park_id == park.pk


@pytest.mark.django_db
def test_weak_password_is_a_field_error(client, world):
    before = counts()
    response = client.post(REGISTER_URL, registration_data(password1="12345678", password2="12345678"))
    assert field_errors(response, "password2")
    assert counts() == before


def _pending_zhengzhou_enterprise() -> tuple[Enterprise, User]:
    enterprise = EnterpriseFactory(name="郑州待审企业有限公司", region=region("410102"),
                                   status=Enterprise.Status.PENDING)
    admin = UserFactory(username="pending_admin", role=Role.ENTERPRISE_ADMIN, enterprise=enterprise)
    return enterprise, admin


@pytest.mark.django_db
def test_zhengzhou_reviewer_approves_a_pending_zhengzhou_enterprise(client, world):
    enterprise, admin = _pending_zhengzhou_enterprise()
    assert not access.can_file_applications(admin)

    login(client, admin)
    home = client.get("/").content.decode()
    assert "审核通过前不能填报" in home

    reviewer = world.user("zhengzhou_reviewer")
    login(client, reviewer)
    home = client.get("/").content.decode()
    assert "郑州待审企业有限公司" in home
    response = client.post(f"/enterprises/{enterprise.pk}/approve/", {"note": "材料齐全"})
    assert response.status_code == 302
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.APPROVED
    assert enterprise.reviewed_by == reviewer
    assert enterprise.reviewed_at is not None
    assert enterprise.review_note == "材料齐全"
    entry = AuditEntry.objects.get(action="approve", object_id=str(enterprise.pk))
    assert entry.actor == reviewer
    assert entry.changes["status"] == {"before": "pending", "after": "approved"}

    admin.refresh_from_db()
    assert access.can_file_applications(admin)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["luoyang_reviewer", "xuhui_reviewer", "expert", "a_admin"])
def test_others_get_404_when_approving(client, world, who):
    enterprise, _ = _pending_zhengzhou_enterprise()
    login(client, world.user(who))
    assert client.post(f"/enterprises/{enterprise.pk}/approve/").status_code == 404
    assert client.post(f"/enterprises/{enterprise.pk}/reject/", {"note": "不行"}).status_code == 404
    assert client.get(f"/enterprises/{enterprise.pk}/").status_code == 404
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.PENDING
    assert not AuditEntry.objects.filter(action__in=["approve", "reject"]).exists()


@pytest.mark.django_db
def test_enterprise_admin_cannot_approve_itself(client, world):
    enterprise, admin = _pending_zhengzhou_enterprise()
    login(client, admin)
    assert client.get(f"/enterprises/{enterprise.pk}/").status_code == 200
    assert client.post(f"/enterprises/{enterprise.pk}/approve/").status_code == 404
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.PENDING


@pytest.mark.django_db
def test_reject_needs_a_reason_and_is_audited(client, world):
    enterprise, admin = _pending_zhengzhou_enterprise()
    login(client, world.user("henan_officer"))
    response = client.post(f"/enterprises/{enterprise.pk}/reject/", {"note": "  "}, follow=True)
    assert "必须填写理由" in response.content.decode()
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.PENDING

    client.post(f"/enterprises/{enterprise.pk}/reject/", {"note": "信用代码与营业执照不符"})
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.REJECTED
    assert enterprise.review_note == "信用代码与营业执照不符"
    assert AuditEntry.objects.filter(action="reject", object_id=str(enterprise.pk)).count() == 1
    admin.refresh_from_db()
    assert not access.can_file_applications(admin)


@pytest.mark.django_db
def test_approve_is_post_only(client, world):
    enterprise, _ = _pending_zhengzhou_enterprise()
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(f"/enterprises/{enterprise.pk}/approve/").status_code == 405
    enterprise.refresh_from_db()
    assert enterprise.status == Enterprise.Status.PENDING
