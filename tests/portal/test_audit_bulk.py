"""Bulk writes on audited models leave audit rows too; quarantine entries are data, not audit events.

`QuerySet.update()` and `bulk_create()` send no model signals, so the signal-based trail misses
them unless they go through `portal.audit.audited_update` / `audited_bulk_create`. The guard at
the end scans the code for bulk writes on audited models made any other way.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from metering.collectors.modbus.polling import modbus_device_claim, modbus_device_poll
from metering.demo.simulator import RegisterBank, SimulatedModbusServer, free_tcp_port
from metering.ingest.senders import LAST_USED_RESOLUTION_S
from metering.ingest.services import readings_ingest
from metering.models import GatewayToken, Meter, ModbusDevice, QuarantinedMessage
from metering.registry.tokens import gateway_token_create
from portal import audit
from portal.access import enterprise_scope, reach_scope
from portal.models import AuditEntry
from tests.metering.modbus_support import add_point, make_device, make_meter
from tests.scoping import unscoped

ROOT = Path(__file__).resolve().parents[2]
SOURCE_PACKAGES = ("portal", "metering", "applications", "reviews")
WAIT_S = 30.0


def rows_for(obj: Any, action: str | None = None):  # type: ignore[no-untyped-def]
    rows = AuditEntry.objects.filter(object_type=obj._meta.label, object_id=str(obj.pk))
    return rows.filter(action=action) if action else rows


def poll_now(device: ModbusDevice):  # type: ignore[no-untyped-def]
    with enterprise_scope(device.enterprise_id):
        token = modbus_device_claim(device_id=device.pk, force=True)
        assert token
        return modbus_device_poll(device_id=device.pk, claim_token=token)


# --- Modbus device state ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_poll_leaves_one_audit_row_with_the_device_state_it_changed(world) -> None:  # type: ignore[no-untyped-def]
    bank = RegisterBank()
    bank.set_registers("holding", 0, [1234])
    with SimulatedModbusServer({1: bank}) as server:
        device = make_device(world.tenant_a, "审计设备", port=server.port)
        add_point(device, make_meter(world.tenant_a, "AUD-1"), address=0, data_type="uint16")
        before = AuditEntry.objects.count()
        with audit.audit_context(channel=AuditEntry.Channel.TASK):
            assert poll_now(device).ok
    assert AuditEntry.objects.count() == before + 1  # claim and outcome: one row per poll
    row = rows_for(device, "poll").get()
    assert row.channel == AuditEntry.Channel.TASK and row.enterprise_id_snapshot == world.tenant_a.pk
    assert row.changes["status"] == {"before": "unknown", "after": "online"}
    assert row.changes["polls_total"] == {"before": 0, "after": 1}
    assert row.changes["polls_ok"] == {"before": 0, "after": 1}
    assert row.changes["claimed_until"]["after"] is None  # the claim, released in the same row
    # claim_token holds "token": blanked like every secret-looking field, even on release.
    assert row.changes["claim_token"] == audit.BLANKED

    # Offline next time: the state change is in the trail with the error.
    device.refresh_from_db()
    device.port = free_tcp_port()
    device.save()
    poll_now(device)
    offline = rows_for(device, "poll").order_by("-id").first()
    assert offline is not None
    assert offline.changes["status"] == {"before": "online", "after": "offline"}
    assert "no answer" in offline.changes["last_error"]["after"]
    assert offline.changes["consecutive_failures"] == {"before": 0, "after": 1}


# --- gateway token use ------------------------------------------------------------------------


@pytest.mark.django_db
def test_token_use_is_audited_at_most_once_per_resolution(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    admin = world.user("a_admin")
    with reach_scope(admin):  # as the token page or API creates it
        token, plain = gateway_token_create(actor=admin, enterprise=world.tenant_a, name="审计网关")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")
    body = {"readings": [{"meter": "E-001", "ts": "2025-06-01T08:00:00+08:00", "value": 1.0}]}

    for _ in range(3):
        response = client.post("/api/v1/readings/", data=json.dumps(body), content_type="application/json",
                               REMOTE_ADDR="10.1.2.3")
        assert response.status_code == 200, response.content
    used = rows_for(token, "update").get()  # three requests within the resolution: one row
    assert set(used.changes) == {"last_used_at"}
    assert used.changes["last_used_at"]["before"] is None
    assert used.channel == AuditEntry.Channel.API and used.enterprise_id_snapshot == world.tenant_a.pk
    assert plain not in json.dumps(used.changes) and token.token_sha256 not in json.dumps(used.changes)

    # Once the resolution has passed, the next use is recorded again.
    with unscoped():  # test setup: age the last use
        GatewayToken.objects.filter(pk=token.pk).update(
            last_used_at=timezone.now() - dt.timedelta(seconds=LAST_USED_RESOLUTION_S + 1)
        )
    client.post("/api/v1/readings/", data=json.dumps(body), content_type="application/json")
    assert rows_for(token, "update").count() == 2


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_conditional_audited_update_racing_another_changes_the_row_once(world) -> None:  # type: ignore[no-untyped-def]
    """The second caller waits on the row lock, re-checks the filter and finds nothing to do."""
    admin = world.user("a_admin")
    with reach_scope(admin):
        token, _plain = gateway_token_create(actor=admin, enterprise=world.tenant_a, name="并发")
    stale = timezone.now() - dt.timedelta(seconds=LAST_USED_RESOLUTION_S)
    # Built as gateway-token authentication builds it: the token row is already known, no scope.
    with unscoped():
        unused = GatewayToken.objects.filter(pk=token.pk, last_used_at__isnull=True)
    second: dict[str, Any] = {}
    pids: list[int] = []

    def touch_from_another_connection() -> None:
        try:
            pids.append(backend_pid())
            second["updated"] = audit.audited_update(unused, last_used_at=timezone.now())
        except BaseException as exc:  # reported by the test, not lost with the thread
            second["error"] = exc
        finally:
            connections.close_all()

    with transaction.atomic():
        assert audit.audited_update(unused, last_used_at=stale + dt.timedelta(seconds=1)) == 1
        thread = threading.Thread(target=touch_from_another_connection)
        thread.start()
        deadline = time.monotonic() + WAIT_S
        while not pids and time.monotonic() < deadline:
            time.sleep(0.05)
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pids[0]])
                if (cursor.fetchone() or [None])[0] == "Lock":
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the second update never waited for the row lock")
    thread.join(WAIT_S)
    assert second == {"updated": 0}
    assert rows_for(token, "update").count() == 1


# --- Meter.last_reading_at --------------------------------------------------------------------


@pytest.mark.django_db
def test_last_reading_at_is_telemetry_while_the_rest_of_a_meter_stays_audited(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-009")
    before = AuditEntry.objects.count()
    items = [{"meter": "E-009", "ts": f"2025-06-01T08:0{n}:00+08:00", "value": 1.0} for n in range(3)]
    readings_ingest(enterprise_id=world.tenant_a.pk, items=items, source="http")
    meter.refresh_from_db()
    assert meter.last_reading_at is not None
    assert AuditEntry.objects.count() == before
    meter.name = "改名后的表计"
    meter.save()
    renamed = rows_for(meter, "update").get()
    assert renamed.changes == {"name": {"before": "E-009", "after": "改名后的表计"}}
    assert "last_reading_at" not in rows_for(meter, "create").get().changes


# --- quarantine -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_both_quarantine_paths_store_the_entry_and_write_no_audit_row(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    client = APIClient()
    client.force_authenticate(world.user("a_admin"))
    before = AuditEntry.objects.count()

    # One path: a whole message that cannot be read (quarantine_message, one save()).
    unreadable = client.post("/api/v1/readings/", data=b"\xff not json", content_type="application/json")
    assert unreadable.status_code == 400
    # The other: bad items of a batch that is otherwise stored (bulk_create of the rejects).
    batch = {"readings": [{"meter": "E-001", "ts": "2025-06-01T08:00:00+08:00", "value": 1.0},
                          {"meter": "E-001", "ts": "not a time", "value": 2.0},
                          {"meter": "NO-SUCH", "ts": "2025-06-01T08:00:00+08:00", "value": 3.0}]}
    partial = client.post("/api/v1/readings/", data=json.dumps(batch), content_type="application/json")
    assert partial.status_code == 200 and len(partial.json()["rejected"]) == 2

    with unscoped():  # what the two requests stored
        stored = QuarantinedMessage.objects.filter(enterprise=world.tenant_a)
        assert stored.filter(item_index__isnull=True, payload=b"\xff not json").count() == 1
        assert sorted(stored.exclude(item_index__isnull=True).values_list("item_index", flat=True)) == [1, 2]
    assert not AuditEntry.objects.filter(object_type="metering.QuarantinedMessage").exists()
    assert AuditEntry.objects.count() == before
    assert QuarantinedMessage not in audit.registered_models()


# --- the helpers themselves -------------------------------------------------------------------


@pytest.mark.django_db
def test_audited_writes_blank_secret_fields(world) -> None:  # type: ignore[no-untyped-def]
    admin, platform_admin = world.user("a_admin"), world.user("platform_admin")
    with reach_scope(admin):
        token, plain = gateway_token_create(actor=admin, enterprise=world.tenant_a, name="密钥")
    with reach_scope(platform_admin), audit.audit_context(actor=platform_admin,
                                                          channel=AuditEntry.Channel.COMMAND):
        changed = audit.audited_update(GatewayToken.objects.filter(pk=token.pk),
                                       mosquitto_password_hash="PBKDF2$sha512$new-secret-hash",
                                       token_sha256="f" * 64, name="密钥（轮换）")
        made = audit.audited_bulk_create(GatewayToken, [
            GatewayToken(enterprise=world.tenant_b, name="批量", token_prefix="ntg_abc",
                         token_sha256="e" * 64, mosquitto_password_hash="PBKDF2$sha512$bulk-secret"),
        ])
    assert changed == 1
    row = rows_for(token, "update").get()
    assert row.changes == {
        "mosquitto_password_hash": audit.BLANKED,  # changed, and nothing of it shown
        "token_sha256": audit.BLANKED,
        "name": {"before": "密钥", "after": "密钥（轮换）"},
    }
    assert row.actor == world.user("platform_admin") and row.channel == AuditEntry.Channel.COMMAND
    created = rows_for(made[0], "create").get()
    assert created.changes["mosquitto_password_hash"] == audit.BLANKED
    assert created.changes["name"] == {"before": None, "after": "批量"}
    assert created.enterprise_id_snapshot == world.tenant_b.pk
    dumped = json.dumps([row.changes, created.changes])
    for secret in ("new-secret-hash", "bulk-secret", "f" * 64, "e" * 64, plain, token.token_sha256):
        assert secret not in dumped


@pytest.mark.django_db
def test_audited_update_refuses_expressions_and_unaudited_models(world) -> None:  # type: ignore[no-untyped-def]
    from django.db.models import F

    with enterprise_scope(world.tenant_a.pk):  # the helpers run below an edge, in its scope
        with pytest.raises(TypeError, match="plain values"):
            audit.audited_update(ModbusDevice.objects.all(), polls_total=F("polls_total") + 1)
        with pytest.raises(ValueError, match=r"metering\.QuarantinedMessage is not audited"):
            audit.audited_update(QuarantinedMessage.objects.all(), reason="x")
    assert Meter in audit.registered_models()


# --- the guard --------------------------------------------------------------------------------

BULK_METHODS = {"update", "bulk_create", "bulk_update"}
MANAGERS = {"objects", "_base_manager", "_default_manager"}
# Bulk writes on audited models that leave no row of their own, each with its reason.
ALLOWED = {
    # The claim is released, and so recorded, in the poll's one audit row (modbus_device_record_poll).
    ("metering/collectors/modbus/polling.py", "modbus_device_claim"),
}
SQL_WRITE = re.compile(r"\b(?:UPDATE|INSERT\s+INTO|DELETE\s+FROM)\s+(\w+)(.*)", re.I | re.S)
SQL_ASSIGNED = re.compile(r"(\w+)\s*=")
SQL_SET = re.compile(r"\bSET\s+(.*?)(?:\bFROM\b|\bWHERE\b|$)", re.I | re.S)


def _audited_models_by_name() -> dict[str, Any]:
    return {model.__name__: model for model in audit.registered_models()}


def _model_of_receiver(node: ast.AST) -> str | None:
    """`Model.objects.filter(...).exclude(...)` → "Model" (the name the chain starts from)."""
    through_manager = False
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            through_manager = through_manager or node.attr in MANAGERS
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id if through_manager else None
        else:
            return None


def _bulk_writes() -> list[tuple[str, str, int, str, set[str] | None]]:
    """(file, function, line, model name, keyword names or None when **kwargs) of every
    `<Model>.objects…update/bulk_create/bulk_update(…)` in the source."""
    found = []
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                            and node.func.attr in BULK_METHODS):
                        continue
                    model = _model_of_receiver(node.func.value)
                    if model is None:
                        continue
                    keywords = {k.arg for k in node.keywords if k.arg is not None}
                    has_spread = any(k.arg is None for k in node.keywords) or node.func.attr != "update"
                    found.append((path.relative_to(ROOT).as_posix(), function.name, node.lineno, model,
                                  None if has_spread else keywords))
    return found


def test_no_bulk_write_on_an_audited_model_bypasses_the_audit_helpers() -> None:
    audited = _audited_models_by_name()
    offenders = []
    for file, function, line, model_name, keywords in _bulk_writes():
        model = audited.get(model_name)
        if model is None or file == "portal/audit.py" or (file, function) in ALLOWED:
            continue
        if keywords is not None and keywords <= audit.unaudited_fields(model):
            continue  # writes only fields left out of the trail on purpose
        offenders.append(f"{file}:{line} {function}(): a bulk write on {model_name}")
    assert offenders == [], (
        "bulk writes on audited models must go through portal.audit.audited_update / audited_bulk_create:\n"
        + "\n".join(offenders)
    )


def _raw_sql_writes() -> list[tuple[str, int, str, str, set[str] | None]]:
    """(file, line, table, statement, columns an UPDATE sets or None) of every SQL write in a
    string constant of the source."""
    found = []
    for package in SOURCE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                for match in SQL_WRITE.finditer(node.value):
                    columns = None
                    if match.group(0).upper().startswith("UPDATE"):
                        assignments = SQL_SET.search(match.group(2))
                        columns = set(SQL_ASSIGNED.findall(assignments.group(1))) if assignments else set()
                    found.append((path.relative_to(ROOT).as_posix(), node.lineno, match.group(1).lower(),
                                  " ".join(match.group(0).split())[:80], columns))
    return found


def test_no_raw_sql_writes_an_audited_table_outside_its_unaudited_fields() -> None:
    tables = {model._meta.db_table: model for model in audit.registered_models()}
    offenders = [
        f"{file}:{line}: {statement}"
        for file, line, table, statement, columns in _raw_sql_writes()
        if table in tables and (columns is None or not columns <= audit.unaudited_fields(tables[table]))
    ]
    assert offenders == []


def test_the_guard_sees_the_writes_it_is_meant_to_see() -> None:
    """The scanner itself: it must find the known bulk writes, or the guard above proves nothing."""
    seen = {(file, function, model) for file, function, _line, model, _kw in _bulk_writes()}
    assert ("metering/collectors/modbus/polling.py", "modbus_device_claim", "ModbusDevice") in seen
    assert ("metering/ingest/writers.py", "_advance_last_reading_at", "Meter") in seen
    raw = {(file, table, frozenset(columns or ())) for file, _line, table, _sql, columns in _raw_sql_writes()}
    assert ("metering/ingest/writers.py", "metering_meter", frozenset({"last_reading_at"})) in raw
