"""`manage.py backup --out DIR`: the database, uploaded media and the spool, with a manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.backup import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump custom format, or a consistent copy of the SQLite file), "
        "MEDIA_ROOT and SPOOL_DIR into a new directory, with a manifest of sha256 and row checksums."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="new (or empty) directory for the backup")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_create(out_dir=options["out"])
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Backup written to {summary.directory}: {summary.vendor} database ({summary.tables} tables, "
            f"{summary.rows} rows), {summary.media_files} media files, {summary.spool_files} spool files."
        )
