"""Load the program definitions (applications/programs/*.yaml) into the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from applications.services import PROGRAMS_DIR, programs_load
from portal import audit
from portal.models import AuditEntry


class Command(BaseCommand):
    help = "Load or update the programs from their YAML files; the version goes up only when a file changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=PROGRAMS_DIR,
                            help="directory holding the program files")

    def handle(self, *args: Any, **options: Any) -> None:
        directory: Path = options["dir"]
        if not directory.is_dir():
            raise CommandError(f"{directory}: not a directory")
        # Programs are not tenant-owned, so no tenant scope is needed here.
        with audit.audit_context(channel=AuditEntry.Channel.COMMAND):
            result = programs_load(directory=directory)
        for label, codes in (("created", result.created), ("updated", result.updated),
                             ("unchanged", result.unchanged)):
            if codes:
                self.stdout.write(f"{label}: {', '.join(codes)}")
        if result.errors:
            for error in result.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{len(result.errors)} program file(s) could not be loaded; the others were loaded"
            )
        loaded = len(result.created) + len(result.updated) + len(result.unchanged)
        self.stdout.write(self.style.SUCCESS(f"{loaded} program(s) loaded"))
