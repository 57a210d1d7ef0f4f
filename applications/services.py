"""Writes on programs and applications.

A program is data: one YAML file per program in `applications/programs/`, loaded into
`Program` rows by `programs_load()` (`manage.py load_programs`). The whole file is kept as
`Program.definition`; the stored `version` goes up whenever the definition changes, so a
submission can name the exact definition it was filed with.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from applications.definitions import DefinitionFormatError, ProgramDefinition, definition_validate
from applications.evidence import evidence_freeze
from applications.models import Program, ProgramVersion, Submission, SubmissionFiling, SubmissionState
from applications.selectors import (
    program_definition,
    program_is_open_to,
    submission_context,
    submission_definition,
    submission_status,
    variants_for,
)
from applications.values import FormCheck, form_check
from portal import audit
from portal.models import Enterprise, Region, User

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
    stored = json.loads(json.dumps(data, ensure_ascii=False, default=str))
    try:
        definition_validate(stored)
    except DefinitionFormatError as exc:
        raise ProgramDefinitionError(path, "; ".join(exc.problems)) from exc
    return stored


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
            # A program loaded before versions were kept gets its row now.
            ProgramVersion.objects.get_or_create(program=program, version=program.version,
                                                 defaults={"definition": program.definition})
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
    ProgramVersion.objects.update_or_create(program=program, version=program.version,
                                            defaults={"definition": program.definition})
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


# --- submissions ------------------------------------------------------------------------------

class SubmissionRefused(ValidationError):
    """A write the submission's state or completeness does not allow; the message says why."""


def _prefill(definition: ProgramDefinition, enterprise: Enterprise) -> dict[str, Any]:
    """Fields the definition prefills from the enterprise record (名称, 信用代码, 地址, ...)."""
    known = {
        "enterprise.name": enterprise.name, "enterprise.credit_code": enterprise.credit_code,
        "enterprise.address": enterprise.address, "enterprise.industry": enterprise.industry,
        "enterprise.contact_name": enterprise.contact_name,
        "enterprise.contact_phone": enterprise.contact_phone,
        "enterprise.contact_email": enterprise.contact_email,
        "enterprise.region": enterprise.region.full_name if enterprise.region_id else "",
    }
    return {item.key: known[item.prefill] for item in definition.fields()
            if item.prefill and known.get(item.prefill)}


@transaction.atomic
def submission_start(*, program: Program, enterprise: Enterprise, user: User | None, variant: str = "",
                     track: str = "", today: dt.date | None = None) -> Submission:
    """A new draft for the enterprise, under the program's current definition version."""
    if not program_is_open_to(program, enterprise, today=today):
        raise SubmissionRefused(_("该项目当前不接受本单位申报"))
    definition = program_definition(program)
    if definition.tracks:
        chosen = next((item for item in definition.tracks if item.key == track), None)
        if chosen is None:
            raise SubmissionRefused(_("请选择赛道"))
        variant = chosen.form
    if definition.variants and variant not in variants_for(definition, enterprise):
        raise SubmissionRefused(_("请选择本单位适用的申报类型"))
    version = ProgramVersion.objects.get(program=program, version=program.version)
    submission = Submission(program=program, program_version=version, enterprise=enterprise,
                            variant=variant, track=track, data=_prefill(definition, enterprise),
                            created_by=user, updated_by=user)
    submission.full_clean()
    submission.save()
    return submission


def _merged(definition: ProgramDefinition, data: Mapping[str, Any],
            changes: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with `changes` applied: only keys the form defines (and their `__text` companions)."""
    allowed = {item.key for item in definition.items()}
    allowed |= {f"{item.key}__text" for item in definition.fields()
                if item.choices and any(choice.with_text for choice in item.choices)}
    merged = dict(data)
    for key, value in changes.items():
        if key in allowed:
            merged[key] = value
    return merged


@transaction.atomic
def submission_save(*, submission: Submission, user: User | None, changes: Mapping[str, Any],
                    title: str | None = None) -> FormCheck:
    """Save what was typed, valid or not, and answer the check of the whole form. Nothing typed is
    dropped: a value that fails its check is stored as typed and shown again beside its message."""
    locked = Submission.objects.select_for_update().get(pk=submission.pk)
    if not locked.is_editable:
        raise SubmissionRefused(_("已提交的申报不能修改"))
    definition = submission_definition(locked)
    locked.data = _merged(definition, locked.data, changes)
    if title is not None:
        locked.title = title[:200]
    locked.updated_by = user
    locked.updated_at = timezone.now()
    locked.save(update_fields=["data", "title", "updated_by", "updated_at"])
    submission.data, submission.title, submission.updated_at = locked.data, locked.title, locked.updated_at
    return form_check(definition, locked.data, context=submission_context(locked))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def submission_file(*, submission: Submission, user: User | None,
                    today: dt.date | None = None) -> SubmissionFiling:
    """File a locked, editable submission: refuse while anything is missing; otherwise keep a filing
    of what was filed and freeze the measured evidence. The caller changes the state (the review
    workflow's transition, or `submission_submit` for a program without one) and saves."""
    if not submission.is_editable:
        raise SubmissionRefused(_("该申报已提交"))
    status = submission_status(submission, today=today)
    if not status.ready:
        raise SubmissionRefused(status.blockers)
    number = submission.filings.count() + 1
    attachments = [{"id": item.pk, "kind": item.kind, "name": item.original_name, "sha256": item.sha256,
                    "size": item.size} for item in submission.attachment_files.order_by("kind", "id")]
    filing = SubmissionFiling.objects.create(submission=submission, number=number, data=submission.data,
                                             values=_jsonable(status.form.values), attachments=attachments,
                                             filed_by=user)
    evidence_freeze(submission=submission, filing=filing, figures=status.figures, values=status.form.values,
                    definition=status.definition)
    submission.submitted_at = timezone.now()
    submission.submitted_by = user
    return filing


@transaction.atomic
def submission_submit(*, submission: Submission, user: User | None,
                      today: dt.date | None = None) -> Submission:
    """File a submission of a program that has no review workflow and move it to 'submitted'.
    Programs with a workflow file through reviews.services.transition_perform."""
    locked = Submission.objects.select_for_update().select_related("enterprise__region").get(pk=submission.pk)
    filing = submission_file(submission=locked, user=user, today=today)
    previous = locked.state
    locked.state = SubmissionState.SUBMITTED
    locked.save(update_fields=["state", "submitted_at", "submitted_by"])
    audit.record("submit", obj=locked, actor=user, changes={
        "state": [previous, locked.state], "filing": filing.number,
        "flagged_evidence": [row.key for row in filing.evidence.all() if row.flagged]})
    submission.state, submission.submitted_at = locked.state, locked.submitted_at
    return locked
