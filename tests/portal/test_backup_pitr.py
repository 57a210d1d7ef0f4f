"""Point-in-time recovery with the pgBackRest configuration in deploy/pgbackrest/.

A private PostgreSQL 15 cluster runs with deploy/pgbackrest/archive.conf appended to its
postgresql.conf, and pgBackRest reads deploy/pgbackrest/pgbackrest.conf. Only the paths and the
port are pointed at the test's directory, through pgBackRest's PGBACKREST_* environment variables
(which take precedence over the file); every other option is the shipped one. The test takes a
full backup, writes more, picks a moment, writes again, restores to that moment and looks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.conftest import unavailable
from tests.metering.private_postgres import PrivatePostgres, _as_postgres, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "pgbackrest"
STANZA = "nengtan"
WAIT_S = 60
PGBACKREST_TIMEOUT_S = 300
BACKUP_STOP_RESOLUTION_S = 1.5
TARGET_FORMAT = "YYYY-MM-DD HH24:MI:SS.US+00"


@pytest.fixture
def archived_cluster() -> Iterator[PrivatePostgres]:
    if shutil.which("pgbackrest") is None:
        unavailable("pgbackrest is not installed (apt-get install pgbackrest; scripts/setup.sh test does)")
    # Not pytest's tmp_path: its parent is private to root and the postgres user must reach it.
    directory = Path(tempfile.mkdtemp(prefix="nengtan-pitr-"))
    os.chmod(directory, 0o755)  # noqa: S103 - the postgres user must enter it
    config = directory / "pgbackrest.conf"
    shutil.copyfile(DEPLOY / "pgbackrest.conf", config)
    (directory / "pgbackrest-log").mkdir()
    if os.geteuid() == 0:
        shutil.chown(config, "postgres", "postgres")
        shutil.chown(directory / "pgbackrest-log", "postgres", "postgres")
    port = free_port()
    cluster = PrivatePostgres(
        directory=directory / "cluster",
        port=port,
        environment={
            "PGBACKREST_CONFIG": str(config),
            "PGBACKREST_STANZA": STANZA,
            "PGBACKREST_REPO1_PATH": str(directory / "cluster" / "repo"),
            "PGBACKREST_PG1_PATH": str(directory / "cluster" / "data"),
            "PGBACKREST_PG1_PORT": str(port),
            "PGBACKREST_PG1_SOCKET_PATH": str(directory / "cluster"),
            "PGBACKREST_SPOOL_PATH": str(directory / "cluster" / "spool"),
            "PGBACKREST_LOCK_PATH": str(directory / "cluster" / "lock"),
            "PGBACKREST_LOG_PATH": str(directory / "pgbackrest-log"),
        },
    )
    try:
        cluster.init()
        cluster.configure((DEPLOY / "archive.conf").read_text(encoding="utf-8"))
        cluster.start()
        yield cluster
    finally:
        if cluster.is_running():
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def pgbackrest(cluster: PrivatePostgres, *args: str) -> str:
    result = subprocess.run(
        _as_postgres(["pgbackrest", *args]),
        env={**os.environ, **cluster.environment},
        capture_output=True,
        text=True,
        timeout=PGBACKREST_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"pgbackrest {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result.stdout


def sql(cluster: PrivatePostgres, query: str) -> list[tuple]:
    connection = psycopg2.connect(cluster.url())
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except psycopg2.OperationalError:
            pass  # the server is still starting
        time.sleep(0.2)
    pytest.fail(f"timed out after {WAIT_S} s waiting for {what}")


def test_full_backup_then_restore_to_a_point_in_time(archived_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = archived_cluster
    pgbackrest(cluster, "stanza-create")
    pgbackrest(cluster, "check")  # archive_command from archive.conf reaches the repository
    sql(cluster, "CREATE TABLE reading (n int PRIMARY KEY, note text NOT NULL)")
    sql(cluster, "INSERT INTO reading SELECT n, 'in the full backup' FROM generate_series(1, 100) n")
    pgbackrest(cluster, "--type=full", "backup")
    assert "full backup:" in pgbackrest(cluster, "info")

    # More writes after the backup: only the archived WAL can bring these back.
    sql(cluster, "INSERT INTO reading SELECT n, 'after the backup' FROM generate_series(101, 150) n")
    sql(cluster, "CREATE TABLE meter AS SELECT 1 AS id, 'made after the backup' AS name")
    sql(cluster, "DELETE FROM reading WHERE n <= 10")
    # pgBackRest keeps a backup's stop time in whole seconds and restores from a backup that stopped
    # before the target: a target in the backup's last second would find none.
    time.sleep(BACKUP_STOP_RESOLUTION_S)
    # After those commits, before the next; in UTC, a form pgBackRest parses (it misreads "+08").
    target = sql(cluster, f"SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', '{TARGET_FORMAT}')")[0][0]
    sql(cluster, "INSERT INTO reading SELECT n, 'after the target' FROM generate_series(151, 200) n")
    sql(cluster, "UPDATE reading SET note = 'changed after the target' WHERE n = 50")
    sql(cluster, "DROP TABLE meter")
    # Close the current segment rather than wait archive_timeout for it, and see it archived.
    segment = sql(cluster, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    wait_for(lambda: (sql(cluster, "SELECT last_archived_wal FROM pg_stat_archiver")[0][0] or "") >= segment,
             f"WAL segment {segment} to be archived")

    cluster.stop()
    pgbackrest(cluster, "--delta", "--type=time", f"--target={target}", "--target-action=promote", "restore")
    cluster.start()
    wait_for(lambda: sql(cluster, "SELECT NOT pg_is_in_recovery()")[0][0], "recovery to end and promote")

    rows = dict(sql(cluster, "SELECT n, note FROM reading"))
    assert sorted(rows) == list(range(11, 151))  # the delete before the target was replayed
    assert {rows[n] for n in range(11, 101)} == {"in the full backup"}
    assert {rows[n] for n in range(101, 151)} == {"after the backup"}
    assert sql(cluster, "SELECT name FROM meter") == [("made after the backup",)]
    # The restored cluster is writable and archives again, on a new timeline.
    sql(cluster, "INSERT INTO reading VALUES (1000, 'after the recovery')")
    pgbackrest(cluster, "check")
