"""The role-based admin: each role sees and changes exactly what its reach and rights allow."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from metering.models import Meter
from portal.admin import csv_safe
from portal.models import AuditEntry, Enterprise, Region, Role, User
from tests.conftest import login
from tests.factories import EnterpriseFactory, region
from tests.scoping import unscoped

ENTERPRISE_CHANGELIST = "admin:portal_enterprise_changelist"


def change_url(obj) -> str:  # type: ignore[no-untyped-def]
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def enterprise_post_data(enterprise: Enterprise, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": enterprise.name,
        "credit_code": enterprise.credit_code,
        "kind": enterprise.kind,
        "region": enterprise.region_id,
        "industry": enterprise.industry,
        "address": enterprise.address,
        "contact_name": enterprise.contact_name,
        "contact_phone": enterprise.contact_phone,
        "contact_email": enterprise.contact_email,
        "park": enterprise.park_id or "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("role_key", "expected"),
    [
        ("zhengzhou_reviewer", {"tenant_a"}),
        ("luoyang_reviewer", {"tenant_b"}),
        ("henan_officer", {"tenant_a", "tenant_b"}),
        ("xuhui_reviewer", {"outsider", "park"}),
        ("platform_admin", {"tenant_a", "tenant_b", "outsider", "park"}),
    ],
)
def test_enterprise_changelist_shows_exactly_the_reach(client, world, role_key, expected):
    login(client, world.user(role_key))
    response = client.get(reverse(ENTERPRISE_CHANGELIST))
    assert response.status_code == 200
    shown = {enterprise.name for enterprise in response.context["cl"].result_list}
    all_names = {key: getattr(world, key).name for key in ("tenant_a", "tenant_b", "outsider", "park")}
    assert shown == {all_names[key] for key in expected}
    body = response.content.decode()
    for key, name in all_names.items():
        assert (name in body) == (key in expected), f"{role_key} and {name}"


def test_expert_has_no_enterprise_admin(client, world):
    login(client, world.user("expert"))
    assert client.get(reverse(ENTERPRISE_CHANGELIST)).status_code == 403


def test_out_of_reach_change_page_is_404_like_missing(client, world):
    login(client, world.user("luoyang_reviewer"))
    assert client.get(change_url(world.tenant_a)).status_code == 404
    missing = reverse("admin:portal_enterprise_change", args=[10**9])
    assert client.get(missing).status_code == 404
    history = reverse("admin:portal_enterprise_history", args=[world.tenant_a.pk])
    assert client.get(history).status_code == 404
    # In reach: readable.
    assert client.get(change_url(world.tenant_b)).status_code == 200


@pytest.mark.parametrize("role_key", ["zhengzhou_reviewer", "henan_officer"])
def test_officials_cannot_change_enterprise_data(client, world, role_key):
    login(client, world.user(role_key))
    enterprise = world.tenant_a
    with unscoped():
        before = Enterprise.objects.get(pk=enterprise.pk)
    page = client.get(change_url(enterprise))
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()  # read-only view, no inputs
    response = client.post(change_url(enterprise), enterprise_post_data(enterprise, name="改名有限公司",
                                                                         contact_phone="110"))
    assert response.status_code == 403
    with unscoped():
        after = Enterprise.objects.get(pk=enterprise.pk)
    assert (after.name, after.contact_phone) == (before.name, before.contact_phone)
    delete_url = reverse("admin:portal_enterprise_delete", args=[enterprise.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    with unscoped():
        assert Enterprise.objects.filter(pk=enterprise.pk).exists()
    assert client.get(reverse("admin:portal_enterprise_add")).status_code == 403


def test_platform_admin_changes_enterprise_data(client, world):
    login(client, world.user("platform_admin"))
    data = enterprise_post_data(world.tenant_a, contact_phone="0371-1")
    response = client.post(change_url(world.tenant_a), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    with unscoped():
        assert Enterprise.objects.get(pk=world.tenant_a.pk).contact_phone == "0371-1"
    assert AuditEntry.objects.filter(action="update", object_type="portal.Enterprise",
                                     object_id=str(world.tenant_a.pk), channel="admin").exists()


@pytest.mark.parametrize("role_key", ["a_admin", "a_staff", "outsider_admin"])
def test_enterprise_users_are_sent_to_admin_login(client, world, role_key):
    login(client, world.user(role_key))
    for url in (reverse("admin:index"), reverse(ENTERPRISE_CHANGELIST), change_url(world.tenant_a)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_anonymous_is_sent_to_admin_login(client, world):
    response = client.get(reverse(ENTERPRISE_CHANGELIST))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def _index_models(client) -> set[str]:  # type: ignore[no-untyped-def]
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {f"{app['app_label']}.{model['object_name']}" for app in response.context["app_list"]
            for model in app["models"]}


@pytest.mark.parametrize(
    ("role_key", "expected"),
    [
        ("zhengzhou_reviewer", {"portal.Region", "portal.Enterprise", "portal.User", "applications.Program",
                                "applications.Submission"}),
        ("henan_officer", {"portal.Region", "portal.Enterprise", "portal.User", "applications.Program",
                           "applications.Submission"}),
        ("expert", {"portal.Region", "applications.Submission"}),  # submissions: their assignments only
    ],
)
def test_admin_index_lists_only_what_the_role_may_use(client, world, role_key, expected):
    login(client, world.user(role_key))
    models = _index_models(client)
    # Other apps add their own admin models for officials and experts; the core ones are fixed.
    core = {m for m in models if m.split(".")[0] in ("portal", "applications", "auth", "otp_totp")}
    assert core == expected
    assert client.get(reverse("admin:portal_auditentry_changelist")).status_code == 403
    assert client.get(reverse("admin:portal_authority_changelist")).status_code == 403
    assert client.get(reverse("admin:otp_totp_totpdevice_changelist")).status_code == 403


def test_platform_admin_index_has_the_core_but_no_group_or_permission_admin(client, world):
    login(client, world.user("platform_admin"))
    models = _index_models(client)
    assert {"portal.Region", "portal.Enterprise", "portal.Authority", "portal.ReviewOrganization",
            "portal.User", "portal.AuditEntry", "applications.Program", "otp_totp.TOTPDevice"} <= models
    assert not {m for m in models if m.startswith("auth.")}


def test_region_is_read_only_for_officials(client, world):
    zhengzhou = region("410100")
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(change_url(zhengzhou)).status_code == 200
    data = {"code": zhengzhou.code, "name": "改名市", "name_en": "", "level": zhengzhou.level,
            "parent": zhengzhou.parent_id}
    assert client.post(change_url(zhengzhou), data).status_code == 403
    assert Region.objects.get(pk=zhengzhou.pk).name == "郑州市"
    client.logout()
    login(client, world.user("platform_admin"))
    data["name_en"] = "Zhengzhou City"
    data["name"] = "郑州市"
    assert client.post(change_url(zhengzhou), data).status_code == 302
    assert Region.objects.get(pk=zhengzhou.pk).name_en == "Zhengzhou City"


# --- registration review actions -------------------------------------------------------------


@pytest.fixture
def pending_zhengzhou(world):  # type: ignore[no-untyped-def]
    return EnterpriseFactory(name="郑州待审核科技有限公司", region=region("410103"),
                             status=Enterprise.Status.PENDING)


def _action(client, action: str, enterprises, note: str = ""):  # type: ignore[no-untyped-def]
    return client.post(reverse(ENTERPRISE_CHANGELIST), {
        "action": action, "_selected_action": [e.pk for e in enterprises], "note": note, "index": 0,
    }, follow=True)


def test_municipal_reviewer_approves_pending_registration(client, world, pending_zhengzhou):
    reviewer = world.user("zhengzhou_reviewer")
    login(client, reviewer)
    response = _action(client, "approve_registrations", [pending_zhengzhou], note="材料齐全")
    assert response.status_code == 200
    pending_zhengzhou.refresh_from_db()
    assert pending_zhengzhou.status == Enterprise.Status.APPROVED
    assert pending_zhengzhou.reviewed_by == reviewer
    assert pending_zhengzhou.review_note == "材料齐全"
    assert AuditEntry.objects.filter(action="approve", object_id=str(pending_zhengzhou.pk),
                                     actor=reviewer).exists()


def test_rejection_needs_a_reason(client, world, pending_zhengzhou):
    login(client, world.user("zhengzhou_reviewer"))
    response = _action(client, "reject_registrations", [pending_zhengzhou])
    pending_zhengzhou.refresh_from_db()
    assert pending_zhengzhou.status == Enterprise.Status.PENDING
    assert "驳回时必须填写理由" in response.content.decode()
    _action(client, "reject_registrations", [pending_zhengzhou], note="营业执照不清晰")
    pending_zhengzhou.refresh_from_db()
    assert pending_zhengzhou.status == Enterprise.Status.REJECTED
    assert pending_zhengzhou.review_note == "营业执照不清晰"


def test_reviewer_cannot_decide_out_of_reach_registration(client, world, pending_zhengzhou):
    login(client, world.user("luoyang_reviewer"))
    _action(client, "approve_registrations", [pending_zhengzhou])  # a forged selection
    pending_zhengzhou.refresh_from_db()
    assert pending_zhengzhou.status == Enterprise.Status.PENDING
    assert not AuditEntry.objects.filter(action="approve", object_id=str(pending_zhengzhou.pk)).exists()


# --- users -----------------------------------------------------------------------------------


def test_officials_see_users_of_enterprises_in_reach_read_only(client, world):
    login(client, world.user("zhengzhou_reviewer"))
    response = client.get(reverse("admin:portal_user_changelist"))
    assert response.status_code == 200
    a_admin = world.user("a_admin")
    shown = {u.username for u in response.context["cl"].result_list}
    assert shown == {a_admin.username, world.user("a_staff").username}
    page = client.get(change_url(a_admin))
    assert page.status_code == 200
    assert a_admin.password not in page.content.decode()  # never the hash
    assert client.get(change_url(world.user("b_admin"))).status_code == 404
    assert client.get(change_url(world.user("luoyang_reviewer"))).status_code == 404
    response = client.post(change_url(a_admin), {"username": a_admin.username, "role": Role.PLATFORM_ADMIN,
                                                   "is_superuser": "on"})
    assert response.status_code == 403
    a_admin.refresh_from_db()
    assert (a_admin.role, a_admin.is_superuser) == (Role.ENTERPRISE_ADMIN, False)
    password_url = reverse("admin:auth_user_password_change", args=[a_admin.pk])
    assert client.post(password_url, {"password1": "x" * 12, "password2": "x" * 12}).status_code == 403


def test_experts_see_no_users(client, world):
    login(client, world.user("expert"))
    assert client.get(reverse("admin:portal_user_changelist")).status_code == 403


def test_platform_admin_role_change_is_audited_as_permission_change(client, world):
    admin_user = world.user("platform_admin")
    target = world.user("a_staff")
    login(client, admin_user)
    data = {
        "username": target.username, "first_name": "", "last_name": "", "email": "", "phone": "",
        "role": Role.ENTERPRISE_ADMIN, "enterprise": target.enterprise_id, "authority": "",
        "review_organization": "", "is_active": "on",
        "last_login_0": "", "last_login_1": "",
        "date_joined_0": "2025-01-01", "date_joined_1": "08:00:00",
    }
    response = client.post(change_url(target), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    target.refresh_from_db()
    assert target.role == Role.ENTERPRISE_ADMIN
    entry = AuditEntry.objects.get(action="permission_change", object_id=str(target.pk))
    assert entry.actor == admin_user
    assert entry.changes["role"] == {"before": Role.ENTERPRISE_STAFF, "after": Role.ENTERPRISE_ADMIN}
    # A role that does not fit the organization is refused by the model's rules.
    data["role"] = Role.MUNICIPAL_REVIEWER
    response = client.post(change_url(target), data)
    assert response.status_code == 200
    target.refresh_from_db()
    assert target.role == Role.ENTERPRISE_ADMIN


def test_platform_admin_adds_an_official(client, world):
    login(client, world.user("platform_admin"))
    authority = world.user("zhengzhou_reviewer").authority
    response = client.post(reverse("admin:portal_user_add"), {
        "username": "new_reviewer", "usable_password": "true", "password1": "Zz-review-2026!",
        "password2": "Zz-review-2026!", "role": Role.MUNICIPAL_REVIEWER, "authority": authority.pk,
        "enterprise": "", "review_organization": "",
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user = User.objects.get(username="new_reviewer")
    assert (user.role, user.authority) == (Role.MUNICIPAL_REVIEWER, authority)


# --- audit trail -----------------------------------------------------------------------------


@pytest.fixture
def audit_rows(world):  # type: ignore[no-untyped-def]
    formula = AuditEntry(actor_username="mallory", action="update", object_type="portal.Enterprise",
                         object_repr="=HYPERLINK(\"http://evil\",\"点我\")", channel=AuditEntry.Channel.WEB,
                         changes={"name": {"before": "甲", "after": "乙"}})
    formula.save()
    plain = AuditEntry(actor_username="alice", action="login", object_type="portal.User", object_repr="alice",
                       channel=AuditEntry.Channel.API)
    plain.save()
    return formula, plain


def test_audit_entries_cannot_be_added_changed_or_deleted_even_by_platform_admin(client, world, audit_rows):
    entry, _plain = audit_rows
    login(client, world.user("platform_admin"))
    assert client.get(reverse("admin:portal_auditentry_changelist")).status_code == 200
    assert client.get(change_url(entry)).status_code == 200  # read-only view
    assert client.get(reverse("admin:portal_auditentry_add")).status_code == 403
    assert client.post(reverse("admin:portal_auditentry_add"), {"action": "forged"}).status_code == 403
    assert client.post(change_url(entry), {"action": "forged", "actor_username": "x"}).status_code == 403
    delete_url = reverse("admin:portal_auditentry_delete", args=[entry.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    response = client.post(reverse("admin:portal_auditentry_changelist"),
                           {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"})
    assert response.status_code in (200, 302)
    entry_after = AuditEntry.objects.get(pk=entry.pk)
    assert (entry_after.action, entry_after.actor_username) == ("update", "mallory")
    assert not AuditEntry.objects.filter(action="forged").exists()
    assert not AuditEntry.objects.filter(action="delete", object_type="portal.AuditEntry").exists()


@pytest.mark.parametrize("role_key", ["henan_officer", "zhengzhou_reviewer", "expert"])
def test_audit_trail_is_for_platform_admins_only(client, world, audit_rows, role_key):
    login(client, world.user(role_key))
    assert client.get(reverse("admin:portal_auditentry_changelist")).status_code == 403
    assert client.get(change_url(audit_rows[0])).status_code == 403
    assert client.get(reverse("admin:portal_auditentry_export")).status_code == 403


def _csv_rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    raw = b"".join(response.streaming_content)
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_audit_csv_export_of_filtered_rows(client, world, audit_rows):
    login(client, world.user("platform_admin"))
    changelist = client.get(reverse("admin:portal_auditentry_changelist"), {"q": "mallory"})
    assert reverse("admin:portal_auditentry_export") + "?q=mallory" in changelist.content.decode()
    response = client.get(reverse("admin:portal_auditentry_export"), {"q": "mallory"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0][:4] == ["时间", "用户名", "单位", "操作"]
    assert len(rows) == 2
    cells = dict(zip(rows[0], rows[1], strict=True))
    assert cells["用户名"] == "mallory"
    assert cells["对象"] == "'=HYPERLINK(\"http://evil\",\"点我\")"  # shown as text, never evaluated
    assert "甲" in cells["变更内容"]
    by_channel = _csv_rows(client.get(reverse("admin:portal_auditentry_export"), {"channel__exact": "api"}))
    assert [row[1] for row in by_channel[1:]] == ["alice"]
    assert AuditEntry.objects.filter(action="export", actor=world.user("platform_admin")).count() == 2


def test_audit_csv_export_of_selected_rows(client, world, audit_rows):
    login(client, world.user("platform_admin"))
    response = client.post(reverse("admin:portal_auditentry_changelist"), {
        "action": "export_selected_csv", "_selected_action": [audit_rows[1].pk], "index": 0,
    })
    assert response.status_code == 200
    rows = _csv_rows(response)
    assert [row[1] for row in rows[1:]] == ["alice"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
     ("郑州", "郑州"), ("", ""), (None, "")],
)
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected


# --- programs and second-factor devices ----------------------------------------------------------


def test_programs_are_read_only_for_officials(client, world):
    from applications.services import programs_load

    programs_load()
    from applications.models import Program

    program = Program.objects.get(code="henan_dcmc_2023")
    login(client, world.user("henan_officer"))
    assert client.get(reverse("admin:applications_program_changelist")).status_code == 200
    assert client.get(change_url(program)).status_code == 200
    assert client.post(change_url(program), {"is_active": ""}).status_code == 403
    assert Program.objects.get(pk=program.pk).is_active
    client.logout()
    login(client, world.user("platform_admin"))
    assert client.get(reverse("admin:applications_program_add")).status_code == 403
    assert client.post(change_url(program), {}).status_code == 302  # switched off (checkbox absent)
    assert not Program.objects.get(pk=program.pk).is_active


ALL_RIGHTS = frozenset({"view", "add", "change", "delete"})


@pytest.mark.parametrize("role_key", ["zhengzhou_reviewer", "henan_officer"])
def test_a_mis_granted_admin_right_still_cannot_let_an_official_write(client, world, monkeypatch, role_key):
    """Defence in depth: `role_rights` wrongly grants officials every right on enterprises and
    meters, yet the access policy's write reach (empty for officials) refuses every write."""
    from metering.admin import MeterAdmin
    from portal.admin import EnterpriseAdmin
    from tests.metering.registry_factories import meter_for

    official = world.user(role_key)
    mistaken = {official.role: ALL_RIGHTS}
    monkeypatch.setattr(EnterpriseAdmin, "role_rights", mistaken)
    monkeypatch.setattr(MeterAdmin, "role_rights", mistaken)
    enterprise = world.tenant_a
    meter = meter_for(enterprise, code="MISGRANT-METER-7731", name="误授权表计")
    with unscoped():
        before = Enterprise.objects.get(pk=enterprise.pk)
    login(client, official)

    # Visible (read reach), so the page answers, but as the read-only view.
    page = client.get(change_url(enterprise))
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()
    response = client.post(change_url(enterprise), enterprise_post_data(enterprise, name="误授权改名有限公司",
                                                                         contact_phone="110"))
    assert response.status_code == 403
    delete_url = reverse("admin:portal_enterprise_delete", args=[enterprise.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:portal_enterprise_add")).status_code == 403

    meter_page = client.get(change_url(meter))
    assert meter_page.status_code == 200
    assert 'name="name"' not in meter_page.content.decode()
    assert client.post(change_url(meter), {"name": "误授权改名表计", "code": meter.code}).status_code == 403
    meter_delete = reverse("admin:metering_meter_delete", args=[meter.pk])
    assert client.post(meter_delete, {"post": "yes"}).status_code == 403
    # The changelist's "delete selected" asks for the right without an object: refused per row.
    bulk = client.post(reverse("admin:metering_meter_changelist"),
                       {"action": "delete_selected", "_selected_action": [meter.pk], "post": "yes"})
    assert bulk.status_code == 403
    new_meter = {"enterprise": enterprise.pk, "code": "MISGRANT-NEW-7732", "name": "误授权新表计"}
    meter_add = client.post(reverse("admin:metering_meter_add"), new_meter)
    assert meter_add.status_code == 403

    with unscoped():
        after = Enterprise.objects.get(pk=enterprise.pk)
        assert (after.name, after.contact_phone) == (before.name, before.contact_phone)
        stored = Meter.objects.get(pk=meter.pk)
        assert stored.name == "误授权表计"
        assert not Meter.objects.filter(code="MISGRANT-NEW-7732").exists()
    assert not AuditEntry.objects.filter(object_type__in=["portal.Enterprise", "metering.Meter"],
                                         channel="admin").exists()
