"""Writes on programs and applications.

A program is data: one YAML file per program in `applications/programs/`, loaded into
`Program` rows by `programs_load()` (`manage.py load_programs`). The whole file is kept as
`Program.definition`; the stored `version` goes up whenever the definition changes, so a
submission can name the exact definition it was filed with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction

from applications.models import Program
from portal.models import Region

PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"
# Keys every program file must have; later issues add forms, checklists and the workflow.
REQUIRED_PROGRAM_KEYS = ("code", "name", "region", "document", "version", "description")
PROGRAM_FILE_SUFFIXES = (".yaml", ".yml")


class ProgramDefinitionError(ValueError):
    """A program file that cannot be loaded; the message names the file and what is wrong."""

    def __init__(self, source: Path | str, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


@dataclass
class ProgramsLoadResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[ProgramDefinitionError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def program_definition_read(path: Path) -> dict[str, Any]:
    """Parse and check one program file; raise ProgramDefinitionError naming the file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProgramDefinitionError(path, f"cannot read the file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProgramDefinitionError(path, f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProgramDefinitionError(path, "the file must hold a mapping (key: value) at the top level")
    missing = [key for key in REQUIRED_PROGRAM_KEYS if data.get(key) in (None, "")]
    if missing:
        raise ProgramDefinitionError(path, f"missing required key(s): {', '.join(missing)}")
    if not isinstance(data["version"], int) or isinstance(data["version"], bool) or data["version"] < 1:
        raise ProgramDefinitionError(path, f"'version' must be a whole number ≥ 1, got {data['version']!r}")
    for key in ("code", "name", "region", "document", "description"):
        if not isinstance(data[key], str | int):
            raise ProgramDefinitionError(path, f"'{key}' must be text, got {type(data[key]).__name__}")
    if str(data["code"]) != path.stem:
        raise ProgramDefinitionError(path, f"'code' ({data['code']}) must equal the file name ({path.stem})")
    # JSONField storage: dates and other YAML scalars become text, so what is compared with
    # the stored definition is exactly what would be stored.
    return json.loads(json.dumps(data, ensure_ascii=False, default=str))


def _without_version(definition: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in definition.items() if key != "version"}


@transaction.atomic
def program_load(*, definition: dict[str, Any], source: Path | str = "<definition>") -> tuple[Program, str]:
    """Create or update one program from its definition. Returns the program and
    "created", "updated" or "unchanged". The stored version becomes the file's version, or
    the stored one plus one when the content changed without the file's version moving."""
    region_code = str(definition["region"])
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise ProgramDefinitionError(source, f"unknown region code {region_code!r} (行政区划代码)")
    file_version = int(definition["version"])
    program = Program.objects.select_for_update().filter(code=definition["code"]).first()
    if program is None:
        program = Program(code=definition["code"], version=file_version)
        outcome = "created"
    else:
        content_changed = _without_version(program.definition) != _without_version(definition)
        if content_changed:
            program.version = max(program.version + 1, file_version)
        elif file_version > program.version:
            program.version = file_version
        else:
            return program, "unchanged"
        outcome = "updated"
    program.name = str(definition["name"])
    program.name_en = str(definition.get("name_en") or "")
    program.region = region
    program.document = str(definition["document"])
    # The stored copy carries the stored version, so the definition never contradicts its row.
    program.definition = {**definition, "version": program.version}
    try:
        program.full_clean()
    except ValidationError as exc:
        problems = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items())
        raise ProgramDefinitionError(source, problems) from exc
    program.save()
    return program, outcome


def programs_load(*, directory: Path = PROGRAMS_DIR) -> ProgramsLoadResult:
    """Load every program file in `directory`. Idempotent: an unchanged file writes nothing.
    Each file is loaded on its own, so a bad file is reported and never blocks the others."""
    result = ProgramsLoadResult()
    paths = sorted(p for p in directory.iterdir() if p.suffix in PROGRAM_FILE_SUFFIXES and p.is_file())
    for path in paths:
        try:
            program, outcome = program_load(definition=program_definition_read(path), source=path)
        except ProgramDefinitionError as exc:
            result.errors.append(exc)
            continue
        getattr(result, outcome).append(program.code)
    return result
