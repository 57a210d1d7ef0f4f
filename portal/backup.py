"""Backup and verified restore of one portal node: the database, uploaded media and the spool.

A backup is one directory:

    DIR/manifest.json       written last, so an interrupted backup has none and is refused
    DIR/database.dump       PostgreSQL: `pg_dump --format=custom`
    DIR/database.sqlite3    SQLite (the embedded default): a consistent copy made with sqlite3's
                            backup API, never a byte copy of a file another process may be writing
    DIR/media/…             every file under MEDIA_ROOT (uploads, generated documents)
    DIR/spool/…             every file under SPOOL_DIR; its SQLite files copied byte for byte under
                            their write lock, once their WAL is checkpointed

The manifest lists every file with its size and sha256, and every database table with its row
count and a checksum of its rows. On PostgreSQL the checksums are read in the very snapshot
pg_dump dumps (the snapshot is exported to it with `--snapshot`), on SQLite from the copy, so they
describe exactly what the backup holds. `backup_restore` checks every file against the manifest
first and refuses a tampered, truncated or incomplete backup, naming the file; it restores only
into an empty database and never overwrites a file; after the database is restored it reads the
row checksums again and compares them with the manifest.

The manifest guards against corruption, truncation and edited data files. It is not signed: keep
backups where only operators can write (the directory is created mode 0700, as it holds password
and token hashes).

Point-in-time recovery of production PostgreSQL is pgBackRest's job (deploy/pgbackrest/, see the
README); this logical backup exists in every profile and is also the way to move a node.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "nengtan-backup"
MANIFEST_VERSION = 1
POSTGRES_DUMP_NAME = "database.dump"
SQLITE_COPY_NAME = "database.sqlite3"
MEDIA_PREFIX = "media"
SPOOL_PREFIX = "spool"
DATABASE_FILES = {"postgresql": POSTGRES_DUMP_NAME, "sqlite": SQLITE_COPY_NAME}
# SQLite keeps recent commits in these side files; the backup API folds them into the copy, and a
# restored file must not find a stale one beside it.
SQLITE_SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
SPOOL_DATABASE_SUFFIX = ".sqlite3"
HASH_CHUNK_BYTES = 1024 * 1024  # read files in 1 MiB pieces: constant memory for any size
SQLITE_BUSY_TIMEOUT_S = 30.0  # a collector holds its spool's write lock only for one batch
# A long-running reader can keep a checkpoint from emptying a spool's WAL; retry for about 10 s.
SPOOL_COPY_ATTEMPTS = 20
SPOOL_COPY_RETRY_S = 0.5
# How many table names the "database is not empty" message lists before "…".
LISTED_TABLES = 5

# Tables of the current schema, partitioned parents included and their partitions left out:
# `SELECT … FROM parent` already reads every partition's rows.
_POSTGRES_TABLES_SQL = """
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    ORDER BY c.relname
"""
_POSTGRES_CHECKSUM_SQL = (
    "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)"
    " FROM {table} AS t"
)
# Anything a restore would collide with, in any non-system schema.
_POSTGRES_RELATIONS_SQL = """
    SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
    ORDER BY c.relkind NOT IN ('r', 'p'), 1
"""


class BackupError(Exception):
    """A backup cannot be written or restored. The message names the file or table concerned."""


@dataclass(frozen=True)
class TableChecksum:
    rows: int
    checksum: str


@dataclass(frozen=True)
class BackupSummary:
    directory: Path
    vendor: str
    tables: int
    rows: int
    media_files: int
    spool_files: int


# --- checksums --------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _postgres_table_checksums(cursor: Any) -> dict[str, TableChecksum]:
    """Row count and an order-independent checksum of every table's rows, computed in the server.

    The checksum is the sum of the first 64 bits of each row's md5, as a numeric so it never
    overflows: constant memory on a table of any size, and independent of row order, which a
    restore does not keep. It detects lost, added or altered rows; it is not meant to resist a
    forger (the files' sha256 in the manifest do that part). The session time zone is fixed to UTC
    because a timestamptz's text form depends on it.
    """
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.execute(_POSTGRES_TABLES_SQL)
    names = [row[0] for row in cursor.fetchall()]
    checksums = {}
    for name in names:
        # A name read from pg_class, quoted: never input.
        cursor.execute(_POSTGRES_CHECKSUM_SQL.format(table=_quote_identifier(name)))
        rows, checksum = cursor.fetchone()
        checksums[name] = TableChecksum(rows=int(rows), checksum=str(checksum))
    return checksums


def _sqlite_table_checksums(path: Path) -> dict[str, TableChecksum]:
    """The SQLite counterpart of `_postgres_table_checksums`: the same sum, computed in Python
    over each row's repr (only ever compared with checksums from the same vendor)."""
    db = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)
    try:
        names = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                "ESCAPE '\\' ORDER BY name"
            )
        ]
        checksums = {}
        for name in names:
            rows, total = 0, 0
            # A name read from sqlite_master, quoted: never input.
            for row in db.execute("SELECT * FROM " + _quote_identifier(name)):  # noqa: S608
                rows += 1
                digest = hashlib.md5(repr(row).encode(), usedforsecurity=False).digest()
                total += int.from_bytes(digest[:8], "big", signed=True)
            checksums[name] = TableChecksum(rows=rows, checksum=str(total))
        return checksums
    finally:
        db.close()


def database_table_checksums(*, using: str = DEFAULT_DB_ALIAS) -> dict[str, TableChecksum]:
    """What `backup_restore` compares with the manifest, for the database `using` points to."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        raw = _new_postgres_connection(using)
        try:
            return _postgres_table_checksums(raw.cursor())
        finally:
            raw.close()
    if connection.vendor == "sqlite":
        return _sqlite_table_checksums(_sqlite_path(using))
    raise BackupError(f"backups support PostgreSQL and SQLite, not {connection.vendor}")


# --- databases --------------------------------------------------------------------------------


def _new_postgres_connection(using: str) -> Any:
    """A connection of its own, with Django's parameters, so its transaction is nobody else's."""
    connection = connections[using]
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    return raw


def _libpq_environment(using: str) -> dict[str, str]:
    """pg_dump and pg_restore read the connection from libpq's variables: a password passed this
    way never appears in a process list or a log."""
    settings_dict = connections[using].settings_dict
    environment = dict(os.environ)
    for key, variable in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("NAME", "PGDATABASE"),
    ):
        if settings_dict.get(key):
            environment[variable] = str(settings_dict[key])
    options = settings_dict.get("OPTIONS") or {}
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "service", "passfile"):
        if options.get(key):
            environment[f"PG{key.upper()}"] = str(options[key])
    return environment


def _run_client(command: list[str], *, using: str, what: str) -> None:
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
            command, env=_libpq_environment(using), capture_output=True, text=True, check=False
        )
    except FileNotFoundError as exc:
        raise BackupError(
            f"{command[0]} is not installed; it comes with PostgreSQL's client tools "
            "(Debian: apt-get install postgresql-client)"
        ) from exc
    if result.returncode != 0:
        raise BackupError(f"{what} failed ({command[0]} exit {result.returncode}): {result.stderr.strip()}")


def _postgres_dump(*, using: str, target: Path) -> dict[str, TableChecksum]:
    raw = _new_postgres_connection(using)
    try:
        cursor = raw.cursor()
        # One snapshot for the checksums and the dump: the manifest describes exactly the rows
        # dumped, however busy the portal is meanwhile. READ ONLY: a backup never writes.
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        checksums = _postgres_table_checksums(cursor)
        _run_client(
            ["pg_dump", "--format=custom", f"--snapshot={snapshot}", "--no-password", f"--file={target}"],
            using=using,
            what="pg_dump",
        )
        cursor.execute("COMMIT")
    finally:
        raw.close()
    return checksums


def _postgres_existing_relations(using: str) -> list[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(_POSTGRES_RELATIONS_SQL)
        return [row[0] for row in cursor.fetchall()]


def _postgres_restore(*, using: str, dump: Path) -> None:
    name = connections[using].settings_dict["NAME"]
    # --single-transaction: all or nothing; --no-owner / --no-privileges: the restoring role owns
    # everything, so a backup restores on a cluster whose roles differ from the original's.
    _run_client(
        [
            "pg_restore",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            "--no-password",
            f"--dbname={name}",
            str(dump),
        ],
        using=using,
        what="pg_restore",
    )


def _sqlite_path(using: str) -> Path:
    name = str(connections[using].settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise BackupError(f"the SQLite database {name!r} is not a file; back up a file database")
    return Path(name)


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file (WAL included), through sqlite3's backup API."""
    if not source.is_file():
        raise BackupError(f"{source}: the SQLite database does not exist")
    src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_S)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(target)


def _sqlite_quiesced_copy(source: Path, target: Path) -> str:
    """A byte-for-byte copy of a live spool file, taken while nobody can change it.

    Its write lock is held during the copy, after its WAL was checkpointed into the file and is
    seen to be empty: then the file alone is the whole database and cannot change (no commit can
    happen, so no checkpoint either). Unlike the backup API this copy has the original's sha256,
    so a restored spool can be checked byte for byte. Spool files are small and collectors hold
    the lock for one batch, so they wait at most that long; the database, which can be large and
    serves the web, is copied with the backup API instead.
    """
    wal = Path(f"{source}-wal")
    db = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None)
    try:
        for _attempt in range(SPOOL_COPY_ATTEMPTS):
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("BEGIN IMMEDIATE")
            try:
                if not wal.exists() or wal.stat().st_size == 0:
                    return _copy_file(source, target)
            finally:
                db.execute("ROLLBACK")
            time.sleep(SPOOL_COPY_RETRY_S)  # a reader kept the checkpoint from finishing
    finally:
        db.close()
    raise BackupError(f"{source}: its log could not be checkpointed; stop the collector using it and retry")


def _sqlite_tables(path: Path) -> list[str]:
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)
    try:
        query = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1"
        return [row[0] for row in db.execute(query)]
    finally:
        db.close()


# --- files ------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _files_under(root: Path) -> Iterator[Path]:
    """Every regular file under root, in a stable order. A symlink is refused, not skipped or
    followed: skipping would lose data silently, following could copy the whole disk."""
    if not root.exists():
        return
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise BackupError(f"{path}: symbolic links are not backed up; replace it with the file")
        if path.is_file():
            yield path


def _copy_file(source: Path, target: Path) -> str:
    """Copy and hash in one pass; the copy is on disk before this returns."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source.open("rb") as reader, target.open("xb") as writer:
        while chunk := reader.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    shutil.copystat(source, target)
    return digest.hexdigest()


def _is_sqlite_side_file(path: Path) -> bool:
    return path.name.endswith(SQLITE_SIDE_SUFFIXES)


def _file_entry(path: Path, sha256: str | None = None) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256 or file_sha256(path)}


def _backup_media(media_root: Path, out_dir: Path, files: dict[str, dict[str, Any]]) -> int:
    count = 0
    for source in _files_under(media_root):
        relative = PurePosixPath(MEDIA_PREFIX, *source.relative_to(media_root).parts)
        target = out_dir / relative
        files[str(relative)] = _file_entry(source, _copy_file(source, target))
        count += 1
    return count


def _backup_spool(spool_dir: Path, out_dir: Path, files: dict[str, dict[str, Any]]) -> int:
    count = 0
    for source in _files_under(spool_dir):
        if _is_sqlite_side_file(source):
            continue  # folded into the copy of its database by the backup API
        relative = PurePosixPath(SPOOL_PREFIX, *source.relative_to(spool_dir).parts)
        target = out_dir / relative
        if source.name.endswith(SPOOL_DATABASE_SUFFIX):
            files[str(relative)] = _file_entry(target, _sqlite_quiesced_copy(source, target))
        else:
            files[str(relative)] = _file_entry(target, _copy_file(source, target))
        count += 1
    return count


def _prepare_out_dir(out_dir: Path) -> bool:
    """Create the backup directory (private to its owner); refuse one that holds anything.
    Returns whether it was created here, so a failed backup removes only what it made."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise BackupError(f"{out_dir}: exists and is not a directory")
        if any(out_dir.iterdir()):
            raise BackupError(
                f"{out_dir}: not empty; a backup never overwrites another, choose a new directory"
            )
        out_dir.chmod(0o700)
        return False
    out_dir.mkdir(mode=0o700, parents=True)
    return True


def _write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    temporary = out_dir / f".{MANIFEST_NAME}.partial"
    temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    _fsync(temporary)
    temporary.rename(out_dir / MANIFEST_NAME)
    _fsync(out_dir)


# --- backup -----------------------------------------------------------------------------------


def backup_create(*, out_dir: Path, using: str = DEFAULT_DB_ALIAS) -> BackupSummary:
    """Write a backup of the database, MEDIA_ROOT and SPOOL_DIR into the new directory out_dir.

    The spool is copied before the database and the media after it. A reading is removed from
    the spool only after the database has it, so copying the spool first means every reading
    collected before the backup began is in the spool copy, the dump, or both (a replay of a
    stored reading counts as a duplicate). A file is uploaded before the row naming it commits, so
    copying media last finds the file of every row the dump holds.
    """
    vendor = connections[using].vendor
    if vendor not in DATABASE_FILES:
        raise BackupError(f"backups support PostgreSQL and SQLite, not {vendor}")
    out_dir = Path(out_dir).absolute()
    created = _prepare_out_dir(out_dir)
    try:
        files: dict[str, dict[str, Any]] = {}
        spool_files = _backup_spool(Path(settings.SPOOL_DIR), out_dir, files)
        database_file = out_dir / DATABASE_FILES[vendor]
        if vendor == "postgresql":
            tables = _postgres_dump(using=using, target=database_file)
        else:
            _sqlite_copy(_sqlite_path(using), database_file)
            tables = _sqlite_table_checksums(database_file)
        files[DATABASE_FILES[vendor]] = _file_entry(database_file)
        media_files = _backup_media(Path(settings.MEDIA_ROOT), out_dir, files)
        _write_manifest(
            out_dir,
            {
                "format": MANIFEST_FORMAT,
                "version": MANIFEST_VERSION,
                "created_at": dt.datetime.now(dt.UTC).isoformat(),
                "database": {
                    "vendor": vendor,
                    "file": DATABASE_FILES[vendor],
                    "tables": {name: {"rows": t.rows, "checksum": t.checksum} for name, t in tables.items()},
                },
                "files": files,
            },
        )
    except BaseException:
        if created:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    summary = BackupSummary(
        directory=out_dir,
        vendor=vendor,
        tables=len(tables),
        rows=sum(t.rows for t in tables.values()),
        media_files=media_files,
        spool_files=spool_files,
    )
    logger.info("backup written to %s: %s tables, %s rows, %s media files, %s spool files",
                out_dir, summary.tables, summary.rows, media_files, spool_files)
    return summary


# --- verification and restore -----------------------------------------------------------------


def _safe_relative(name: str) -> PurePosixPath:
    """A manifest's file name, refused unless it is one of the places a backup writes."""
    path = PurePosixPath(name)
    in_file_tree = len(path.parts) > 1 and path.parts[0] in (MEDIA_PREFIX, SPOOL_PREFIX)
    allowed = str(path) in DATABASE_FILES.values() or in_file_tree
    normal = not path.is_absolute() and str(path) == name and not {"", ".", ".."} & set(path.parts)
    if not (allowed and normal):
        raise BackupError(f"{MANIFEST_NAME}: names the file {name!r}, outside the backup's layout")
    return path


def backup_verify(*, backup_dir: Path) -> dict[str, Any]:
    """Check a backup directory against its manifest; answer the manifest, or raise naming the
    first file that is missing, altered, truncated or not listed."""
    backup_dir = Path(backup_dir)
    manifest_path = backup_dir / MANIFEST_NAME
    if not backup_dir.is_dir():
        raise BackupError(f"{backup_dir}: no such backup directory")
    if not manifest_path.is_file():
        raise BackupError(
            f"{manifest_path}: missing; the backup is incomplete (the manifest is written last)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{manifest_path}: unreadable ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError(f"{manifest_path}: not a Nengtan backup manifest")
    if manifest.get("version") != MANIFEST_VERSION:
        raise BackupError(
            f"{manifest_path}: manifest version {manifest.get('version')!r}, expected {MANIFEST_VERSION}"
        )
    files = manifest.get("files")
    database = manifest.get("database")
    if (
        not isinstance(files, dict)
        or not isinstance(database, dict)
        or database.get("vendor") not in DATABASE_FILES
        or database.get("file") != DATABASE_FILES[database["vendor"]]
        or not isinstance(database.get("tables"), dict)
    ):
        raise BackupError(f"{manifest_path}: malformed (files and database are required)")
    if database["file"] not in files:
        raise BackupError(f"{backup_dir / database['file']}: the database file is not in the manifest")
    for name, entry in sorted(files.items()):
        path = backup_dir / _safe_relative(name)
        if not path.is_file():
            raise BackupError(f"{path}: missing; the backup is incomplete")
        if not isinstance(entry, dict) or "bytes" not in entry or "sha256" not in entry:
            raise BackupError(f"{manifest_path}: the entry for {name} lacks its size or sha256")
        size = path.stat().st_size
        if size != entry["bytes"]:
            raise BackupError(
                f"{path}: {size} bytes, the manifest says {entry['bytes']} (truncated or altered)"
            )
        if file_sha256(path) != entry["sha256"]:
            raise BackupError(f"{path}: sha256 differs from the manifest (altered or corrupted)")
    listed = set(files) | {MANIFEST_NAME}
    for path in sorted(backup_dir.rglob("*")):
        relative = path.relative_to(backup_dir).as_posix()
        if (path.is_file() or path.is_symlink()) and relative not in listed:
            raise BackupError(f"{path}: not in the manifest; the backup was altered")
    return manifest


def _restore_targets(manifest: dict[str, Any]) -> list[tuple[str, Path]]:
    roots = {MEDIA_PREFIX: Path(settings.MEDIA_ROOT), SPOOL_PREFIX: Path(settings.SPOOL_DIR)}
    targets = []
    for name in sorted(manifest["files"]):
        path = _safe_relative(name)
        if path.parts[0] in roots:
            targets.append((name, roots[path.parts[0]].joinpath(*path.parts[1:])))
    return targets


def _refuse_collisions(targets: list[tuple[str, Path]]) -> None:
    for _name, target in targets:
        for candidate in (target, *(Path(f"{target}{suffix}") for suffix in SQLITE_SIDE_SUFFIXES)):
            if candidate.exists() or candidate.is_symlink():
                raise BackupError(f"{candidate}: already exists; restore never overwrites a file")


def _refuse_non_empty_database(vendor: str, using: str) -> None:
    if vendor == "postgresql":
        existing = _postgres_existing_relations(using)
        where = f"database {connections[using].settings_dict['NAME']}"
        advice = "create an empty one (createdb) and point DATABASE_URL at it"
    else:
        path = _sqlite_path(using)
        existing = _sqlite_tables(path)
        where = f"SQLite database {path}"
        advice = "move the file away or point DATABASE_URL at a new file"
    if existing:
        listed = ", ".join(existing[:LISTED_TABLES]) + (", …" if len(existing) > LISTED_TABLES else "")
        raise BackupError(
            f"the {where} is not empty ({len(existing)} tables or other relations: {listed}); "
            f"restore only writes into an empty database: {advice}"
        )


def _compare_checksums(expected: dict[str, Any], actual: dict[str, TableChecksum]) -> None:
    def same(name: str) -> bool:
        wanted, found = expected.get(name), actual.get(name)
        if not (wanted and found):
            return False
        return (wanted.get("rows"), wanted.get("checksum")) == (found.rows, found.checksum)

    differing = sorted(name for name in set(expected) | set(actual) if not same(name))
    if differing:
        raise BackupError(
            "the restored database differs from the backup's manifest in the tables "
            + ", ".join(differing[:LISTED_TABLES])
            + (", …" if len(differing) > LISTED_TABLES else "")
            + "; do not use it: drop it and investigate the backup"
        )


def backup_restore(*, backup_dir: Path, using: str = DEFAULT_DB_ALIAS) -> BackupSummary:
    """Restore a verified backup into an empty database, then MEDIA_ROOT and SPOOL_DIR.

    Everything that can refuse is checked before anything is written: the manifest and every
    file, the database's vendor and emptiness, and that no media or spool file would be
    overwritten. The restored database is then compared table by table with the manifest before
    the files are put back.
    """
    backup_dir = Path(backup_dir).absolute()
    manifest = backup_verify(backup_dir=backup_dir)
    vendor = connections[using].vendor
    backup_vendor = manifest["database"]["vendor"]
    if vendor != backup_vendor:
        raise BackupError(
            f"{backup_dir / MANIFEST_NAME}: the backup holds a {backup_vendor} database, "
            f"and DATABASE_URL points to {vendor}"
        )
    targets = _restore_targets(manifest)
    _refuse_collisions(targets)
    _refuse_non_empty_database(vendor, using)

    database_file = backup_dir / manifest["database"]["file"]
    if vendor == "postgresql":
        _postgres_restore(using=using, dump=database_file)
    else:
        connections[using].close()  # the copy goes in through a connection of its own
        _sqlite_copy(database_file, _sqlite_path(using))
    _compare_checksums(manifest["database"]["tables"], database_table_checksums(using=using))

    counts = {MEDIA_PREFIX: 0, SPOOL_PREFIX: 0}
    for name, target in targets:
        if _copy_file(backup_dir / name, target) != manifest["files"][name]["sha256"]:
            raise BackupError(f"{backup_dir / name}: changed while it was being restored")
        counts[PurePosixPath(name).parts[0]] += 1
    tables = manifest["database"]["tables"]
    summary = BackupSummary(
        directory=backup_dir,
        vendor=vendor,
        tables=len(tables),
        rows=sum(int(t["rows"]) for t in tables.values()),
        media_files=counts[MEDIA_PREFIX],
        spool_files=counts[SPOOL_PREFIX],
    )
    logger.info("restored %s: %s tables, %s rows, %s media files, %s spool files",
                backup_dir, summary.tables, summary.rows, summary.media_files, summary.spool_files)
    return summary
