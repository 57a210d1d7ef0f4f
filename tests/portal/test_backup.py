"""`backup` and `restore`: a backup, a wipe, a restore, and nothing differs; tampering is refused.

The checksums compared here are computed by the test itself (every row of every table, read
back and hashed; every file's sha256), not taken from the manifest the commands write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from metering.ingest.services import quarantine_message, readings_ingest
from metering.ingest.spool import Spool
from metering.storage.partitions import existing_partitions
from portal.backup import MANIFEST_NAME, POSTGRES_DUMP_NAME
from portal.models import AuditEntry
from tests.metering.test_ingest import make_meter

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
COMMAND_TIMEOUT_S = 300


def table_rows_checksums() -> dict[str, tuple[int, str]]:
    """Every table of the test database: row count and sha256 of its rows, sorted."""
    checksums = {}
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
        for table in sorted(connection.introspection.table_names(cursor, include_views=False)):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - names from the catalog
            # bytea comes back as a memoryview, whose repr is its address: compare its bytes.
            rows = sorted(repr(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row))
                          for row in cursor.fetchall())
            checksums[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return checksums


def file_checksums(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def spool_rows(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT * FROM spooled_batch ORDER BY id").fetchall()
    finally:
        db.close()


@pytest.fixture
def node_dirs(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SPOOL_DIR = tmp_path / "spool"
    return settings.MEDIA_ROOT, settings.SPOOL_DIR


def write_media(media: Path) -> None:
    (media / "attachments" / "郑州甲").mkdir(parents=True)
    (media / "attachments" / "郑州甲" / "能源审计报告.pdf").write_bytes(os.urandom(300_000))
    (media / "documents").mkdir()
    (media / "documents" / "empty.txt").write_bytes(b"")


def fill_spool(spool_dir: Path, enterprise_id: int) -> None:
    spool = Spool("collector-a", directory=spool_dir)
    for minute in range(3):
        reading = {"meter": "E-001", "ts": f"2025-06-01T08:0{minute}:00+08:00", "value": 1.5}
        spool.put("items", {"enterprise_id": enterprise_id, "items": [reading]})
    spool.close()


def restore_schema_if_wiped() -> None:
    """Leave a usable test database behind even when the test fails between wipe and restore."""
    if "portal_user" not in connection.introspection.table_names():
        call_command("migrate", verbosity=0)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_backup_wipe_restore_gives_back_every_row_and_file(world, node_dirs, tmp_path) -> None:  # type: ignore[no-untyped-def]
    media, spool_dir = node_dirs
    make_meter(world.tenant_a, "E-001")
    make_meter(world.tenant_b, "W-001", unit="t")
    # Readings in this month's partition and in the default partition (months without one).
    an_hour_ago = timezone.now().astimezone(SHANGHAI).replace(tzinfo=None) - dt.timedelta(hours=1)
    for when in (an_hour_ago, dt.datetime(2025, 6, 1, 8, 0), dt.datetime(2019, 1, 1)):
        reading = {"meter": "E-001", "ts": when.replace(tzinfo=SHANGHAI).isoformat(), "value": 7.25}
        readings_ingest(enterprise_id=world.tenant_a.pk, source="http", items=[reading])
    quarantine_message(enterprise_id=world.tenant_b.pk, source="http", channel="http",
                       reason="测试：无法解析", payload=b"\xff{")
    write_media(media)
    fill_spool(spool_dir, world.tenant_a.pk)

    rows_before = table_rows_checksums()
    media_before, spool_before = file_checksums(media), file_checksums(spool_dir)
    spool_rows_before = spool_rows(spool_dir / "collector-a.sqlite3")
    assert rows_before["metering_reading"][0] == 3 and rows_before["portal_auditentry"][0] > 0
    partitions_before = existing_partitions()
    assert len(partitions_before) > 1  # this month's and the default one, at least
    assert len(media_before) == 2 and len(spool_rows_before) == 3

    out = tmp_path / "backup"
    call_command("backup", out=out)
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert set(manifest["files"]) == {
        POSTGRES_DUMP_NAME, "spool/collector-a.sqlite3",
        "media/attachments/郑州甲/能源审计报告.pdf", "media/documents/empty.txt",
    }
    assert (out.stat().st_mode & 0o777) == 0o700  # it holds password and token hashes

    try:
        # The wipe: an empty database, no media, no spool.
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        for path in sorted(media.rglob("*"), reverse=True) + sorted(spool_dir.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        assert connection.introspection.table_names() == []

        call_command("restore", out)
    finally:
        restore_schema_if_wiped()

    assert table_rows_checksums() == rows_before
    assert existing_partitions() == partitions_before
    assert file_checksums(media) == media_before
    assert file_checksums(spool_dir) == spool_before  # the spool copy is byte for byte
    assert spool_rows(spool_dir / "collector-a.sqlite3") == spool_rows_before
    # The schema came back too, triggers included: the audit trail is still append-only.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.update(action="tampered")


@pytest.mark.django_db
def test_backup_of_a_spool_in_use_holds_its_unflushed_batches(node_dirs, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    _media, spool_dir = node_dirs
    live = Spool("live", directory=spool_dir)  # stays open: its batches sit in the WAL
    for minute in range(2):
        reading = {"meter": "M", "ts": f"2025-06-01T08:0{minute}:00+08:00", "value": minute}
        live.put("items", {"enterprise_id": 1, "items": [reading]})
    try:
        call_command("backup", out=tmp_path / "backup")
        live.put("items", {"enterprise_id": 1, "items": []})  # the collector was not blocked for good
    finally:
        live.close()
    copy = tmp_path / "backup" / "spool" / "live.sqlite3"
    assert [row[1] for row in spool_rows(copy)] == ["items", "items"]
    assert not Path(f"{copy}-wal").exists()


@pytest.fixture
def good_backup(db, node_dirs, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    media, spool_dir = node_dirs
    write_media(media)
    fill_spool(spool_dir, 1)
    out = tmp_path / "backup"
    call_command("backup", out=out)
    for path in sorted(media.rglob("*"), reverse=True) + sorted(spool_dir.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    return out


def test_restore_refuses_a_non_empty_database(good_backup) -> None:  # type: ignore[no-untyped-def]
    refused = r"database test_\S+ is not empty \(\d+ tables.*public\.\w+, .*only writes into an empty"
    with pytest.raises(CommandError, match=refused):
        call_command("restore", good_backup)


def test_restore_refuses_to_overwrite_a_media_file(good_backup, node_dirs) -> None:  # type: ignore[no-untyped-def]
    media, _spool = node_dirs
    (media / "documents").mkdir(parents=True)
    (media / "documents" / "empty.txt").write_bytes(b"newer")
    with pytest.raises(CommandError, match=r"documents/empty\.txt: already exists"):
        call_command("restore", good_backup)
    assert (media / "documents" / "empty.txt").read_bytes() == b"newer"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda d: (d / "media/attachments/郑州甲/能源审计报告.pdf").open("r+b").write(b"\0"),
         r"能源审计报告\.pdf: sha256 differs from the manifest"),
        (lambda d: (d / "media/documents/empty.txt").write_bytes(b"x"),
         r"empty\.txt: 1 bytes, the manifest says 0"),
        (lambda d: (d / POSTGRES_DUMP_NAME).unlink(), r"database\.dump: missing; the backup is incomplete"),
        (lambda d: (d / "spool/collector-a.sqlite3").unlink(), r"collector-a\.sqlite3: missing"),
        (lambda d: (d / "media/extra.bin").write_bytes(b"?"), r"extra\.bin: not in the manifest"),
        (lambda d: (d / MANIFEST_NAME).unlink(), r"manifest\.json: missing; the backup is incomplete"),
        (lambda d: (d / MANIFEST_NAME).write_text("{", encoding="utf-8"), r"manifest\.json: unreadable"),
    ],
    ids=["altered", "truncated", "no-dump", "no-spool", "extra-file", "no-manifest", "bad-manifest"],
)
def test_restore_refuses_a_tampered_or_incomplete_backup(good_backup, tamper, message) -> None:  # type: ignore[no-untyped-def]
    tamper(good_backup)
    with pytest.raises(CommandError, match=message):
        call_command("restore", good_backup)


def test_restore_refuses_a_manifest_naming_files_outside_the_backup(good_backup) -> None:  # type: ignore[no-untyped-def]
    manifest_path = good_backup / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"]["media/../../../etc/cron.d/evil"] = manifest["files"].pop("media/documents/empty.txt")
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(CommandError, match=r"names the file 'media/\.\./\.\./\.\./etc/cron\.d/evil'"):
        call_command("restore", good_backup)


def test_backup_refuses_a_directory_that_is_not_empty(good_backup) -> None:  # type: ignore[no-untyped-def]
    before = file_checksums(good_backup)
    with pytest.raises(CommandError, match="not empty; a backup never overwrites another"):
        call_command("backup", out=good_backup)
    assert file_checksums(good_backup) == before


# --- the embedded default: SQLite -------------------------------------------------------------


def sqlite_rows(path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        return {name: sorted(db.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)  # noqa: S608
                for name in names}
    finally:
        db.close()


def test_sqlite_backup_and_restore_into_a_new_file(tmp_path) -> None:
    def manage(*args: str, node: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "NENGTAN_ENV": "test"}
        env.update(DATABASE_URL=f"sqlite:///{tmp_path / node / 'db.sqlite3'}")
        env.update(MEDIA_ROOT=str(tmp_path / node / "media"), SPOOL_DIR=str(tmp_path / node / "spool"))
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S, check=False)

    (tmp_path / "old").mkdir()
    assert manage("migrate", "-v0", node="old").returncode == 0
    create_user = ("from tests.factories import UserFactory; "
                   "UserFactory(username='备份用户', role='platform_admin')")
    created = manage("shell", "-c", create_user, node="old")
    assert created.returncode == 0, created.stderr
    write_media(tmp_path / "old" / "media")
    fill_spool(tmp_path / "old" / "spool", 1)

    backed_up = manage("backup", "--out", str(tmp_path / "backup"), node="old")
    assert backed_up.returncode == 0, backed_up.stderr
    assert "sqlite database" in backed_up.stdout
    (tmp_path / "new").mkdir()
    restored = manage("restore", str(tmp_path / "backup"), node="new")
    assert restored.returncode == 0, restored.stderr
    assert "checksums match" in restored.stdout

    old, new = sqlite_rows(tmp_path / "old" / "db.sqlite3"), sqlite_rows(tmp_path / "new" / "db.sqlite3")
    assert new == old
    assert "备份用户" in repr(new["portal_user"])
    for part in ("media", "spool"):
        assert file_checksums(tmp_path / "new" / part) == file_checksums(tmp_path / "old" / part)

    again = manage("restore", str(tmp_path / "backup"), node="new")
    assert again.returncode != 0
    assert "already exists; restore never overwrites a file" in again.stderr

    # A restore that does not reproduce the manifest's rows is reported, table by table.
    manifest_path = tmp_path / "backup" / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["database"]["tables"]["portal_user"]["rows"] += 1
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    (tmp_path / "third").mkdir()
    differs = manage("restore", str(tmp_path / "backup"), node="third")
    assert differs.returncode != 0
    assert "differs from the backup's manifest in the tables portal_user;" in differs.stderr
    assert not (tmp_path / "third" / "media").exists()  # files are put back only after the check
