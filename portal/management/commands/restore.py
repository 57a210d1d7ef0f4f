"""`manage.py restore DIR`: check a backup against its manifest and restore it into an empty database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by `backup --out DIR`: every file is checked against the manifest "
        "first, the database must be empty, no media or spool file is overwritten, and the restored "
        "tables are compared with the manifest's row checksums."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path, help="the backup directory (holds manifest.json)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_restore(backup_dir=options["directory"])
        except (BackupError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Restored {summary.directory}: {summary.vendor} database ({summary.tables} tables, "
            f"{summary.rows} rows, checksums match), {summary.media_files} media files, "
            f"{summary.spool_files} spool files."
        )
