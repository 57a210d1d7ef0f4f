"""The audit trail: what is recorded, what is blanked, search, CSV export, and append-only storage."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from portal import audit
from portal.models import AuditEntry, Enterprise, Role
from portal.selectors import audit_entries_search
from portal.views.pages import defuse_csv_cell
from tests.conftest import TEST_PASSWORD, login
from tests.factories import EnterpriseFactory, region

NEW_PASSWORD = "another-horse-battery-7"


@pytest.mark.django_db
def test_create_update_delete_have_before_and_after(world):
    with audit.audit_context(actor=world.user("platform_admin"), channel=AuditEntry.Channel.COMMAND):
        enterprise = EnterpriseFactory(name="审计测试企业", region=region("410102"))
        enterprise.contact_name = "赵六"
        enterprise.save()
        pk = enterprise.pk
        enterprise.delete()
    rows = AuditEntry.objects.filter(object_type="portal.Enterprise", object_id=str(pk))
    created = rows.get(action="create")
    assert created.changes["name"] == {"before": None, "after": "审计测试企业"}
    assert created.actor == world.user("platform_admin")
    assert created.channel == AuditEntry.Channel.COMMAND
    updated = rows.get(action="update")
    assert updated.changes == {"contact_name": {"before": "", "after": "赵六"}}
    deleted = rows.get(action="delete")
    assert deleted.changes["name"] == {"before": "审计测试企业", "after": None}
    assert deleted.enterprise_id_snapshot == pk


@pytest.mark.django_db
def test_password_change_is_blanked(client, world):
    user = world.user("a_staff")
    login(client, user)
    response = client.post("/accounts/password/", {
        "old_password": TEST_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD,
    })
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    entry = AuditEntry.objects.filter(action="update", object_type="portal.User",
                                      object_id=str(user.pk)).latest("id")
    assert entry.changes["password"] == "******"
    dumped = json.dumps(entry.changes)
    assert NEW_PASSWORD not in dumped and user.password not in dumped
    assert entry.actor == user
    assert entry.channel == AuditEntry.Channel.WEB


@pytest.mark.django_db
def test_login_logout_and_failed_login_are_recorded(client, world):
    user = world.user("b_admin")
    client.post("/accounts/login/", {"username": user.username, "password": "wrong-password-1"})
    client.post("/accounts/login/", {"username": user.username, "password": TEST_PASSWORD})
    client.post("/accounts/logout/")
    failed = AuditEntry.objects.get(action="login_failed")
    assert failed.changes == {"username": user.username}
    assert failed.ip_address == "127.0.0.1"
    assert AuditEntry.objects.get(action="login").actor == user
    assert AuditEntry.objects.get(action="logout").actor == user


@pytest.mark.django_db
def test_role_change_is_a_permission_change(world):
    user = world.user("a_staff")
    with audit.audit_context(actor=world.user("a_admin")):
        user.role = Role.ENTERPRISE_ADMIN
        user.save()
    entry = AuditEntry.objects.filter(object_type="portal.User", object_id=str(user.pk)).latest("id")
    assert entry.action == "permission_change"
    assert entry.changes["role"] == {"before": "enterprise_staff", "after": "enterprise_admin"}
    assert entry.actor == world.user("a_admin")


@pytest.mark.django_db
def test_audit_entries_are_append_only(world):
    entry = audit.record("export", object_repr="测试")
    entry.action = "tampered"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    assert connection.vendor == "postgresql", "the append-only trigger is tested on PostgreSQL"
    for statement in ("UPDATE portal_auditentry SET action = 'tampered' WHERE id = %s",
                      "DELETE FROM portal_auditentry WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).action == "export"


@pytest.mark.django_db
def test_search_by_user_action_type_dates_and_text(world):
    admin = world.user("platform_admin")
    audit.record("approve", obj=world.tenant_a, actor=admin)
    audit.record("approve", obj=world.tenant_b, actor=world.user("luoyang_reviewer"))
    today = timezone.localdate()
    assert audit_entries_search(username="platform_admin", action="approve").count() == 1
    assert audit_entries_search(action="approve", text="洛阳乙").count() == 1
    assert audit_entries_search(object_type="portal.enterprise", action="approve").count() == 2
    assert audit_entries_search(action="approve", date_from=today, date_to=today).count() == 2
    assert audit_entries_search(action="approve", date_to=today - dt.timedelta(days=1)).count() == 0
    assert audit_entries_search(action="approve", date_from=today + dt.timedelta(days=1)).count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["a_admin", "zhengzhou_reviewer", "henan_officer", "expert"])
def test_audit_pages_are_for_platform_admins_only(client, world, who):
    login(client, world.user(who))
    assert client.get("/audit/").status_code == 404
    assert client.get("/audit/export.csv").status_code == 404


@pytest.mark.django_db
def test_audit_page_lists_and_filters(client, world):
    audit.record("approve", obj=world.tenant_a, actor=world.user("zhengzhou_reviewer"))
    login(client, world.user("platform_admin"))
    page = client.get("/audit/", {"action": "approve"}).content.decode()
    assert "郑州甲钢铁有限公司" in page
    assert "洛阳乙化工有限公司" not in page
    assert client.get("/audit/", {"date_from": "not-a-date"}).status_code == 200


@pytest.mark.django_db
def test_csv_export_is_excel_ready_and_defused(client, world):
    audit.record("approve", obj=world.tenant_a, actor=world.user("zhengzhou_reviewer"))
    audit.record("note", object_type="portal.Enterprise", object_repr="=HYPERLINK(\"http://x\",\"点我\")")
    audit.record("other", object_repr="不应出现")
    login(client, world.user("platform_admin"))
    response = client.get("/audit/export.csv", {"action": "note"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "时间"
    assert len(rows) == 2
    assert rows[1][3] == "note"
    assert rows[1][6] == "'=HYPERLINK(\"http://x\",\"点我\")"

    response = client.get("/audit/export.csv", {"action": "approve"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["zz_reviewer"]
    assert rows[1][6] == "郑州甲钢铁有限公司"


def test_defuse_csv_cell():
    assert defuse_csv_cell("=1+1") == "'=1+1"
    assert defuse_csv_cell("+86 138") == "'+86 138"
    assert defuse_csv_cell("-5") == "'-5"
    assert defuse_csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert defuse_csv_cell("郑州") == "郑州"
    assert defuse_csv_cell(None) == ""


@pytest.mark.django_db
def test_service_writes_through_the_web_leave_rows(client, world):
    pending = EnterpriseFactory(name="郑州审计待审企业", region=region("410102"),
                                status=Enterprise.Status.PENDING)
    login(client, world.user("zhengzhou_reviewer"))
    client.post(f"/enterprises/{pending.pk}/approve/")
    rows = AuditEntry.objects.filter(object_id=str(pending.pk), object_type="portal.Enterprise")
    assert set(rows.values_list("action", flat=True)) >= {"create", "update", "approve"}
    assert rows.get(action="update").changes["status"] == {"before": "pending", "after": "approved"}
