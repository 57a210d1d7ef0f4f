"""The format of a program definition (`applications/programs/<code>.yaml`), checked on load.

A program is data: its forms, tables, computed fields, conditional requirements, attachments,
eligibility rules, the evidence it takes from live data, its documents and its summary table
all live in one YAML file. The pydantic models below are the format's schema; a file that does
not match is refused with the file and the field named (`definition_validate`).

Values a form holds are JSON: text, numbers as decimal strings, dates as ISO strings, tables as
lists of row mappings (`applications/values.py` parses and checks them).

Conditions (`required_if`, `applies_if`, eligibility `when`) are small JSON expressions, so a
definition never carries code:

    {field: investment_total, gte: 100}        a field's value compared with a constant
    {field: gov_connected, equals: "yes"}      (ops: equals, not_equals, in, gte, gt, lte, lt, filled)
    {variant: park}                            the variant the applicant chose
    {enterprise_kind: [industrial, data_center]}
    {all: [...]}, {any: [...]}, {not: {...}}

Formulas of computed fields are arithmetic over other fields' keys (`+ - * /`, parentheses,
numbers, `sum(table.column)`), evaluated by `applications.values.formula_evaluate` without eval().
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
FIELD_TYPES = (
    "text", "textarea", "integer", "decimal", "money", "percent", "date", "month", "year",
    "choice", "multichoice", "boolean", "email", "phone", "credit_code", "computed", "declaration",
)
# Kinds of attachment content, by the MIME type libmagic reads from the file's bytes.
ATTACHMENT_TYPES: dict[str, tuple[str, ...]] = {
    "pdf": ("application/pdf",),
    "jpg": ("image/jpeg",),
    "png": ("image/png",),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
}
# The states a submission can be in (applications.models.SubmissionState; a workflow picks from
# them, so the database's choices always hold). Editable: draft and returned.
SUBMISSION_STATES = (
    "draft", "submitted", "returned", "first_review_passed", "first_review_rejected", "accepted",
    "under_expert_review", "passed", "not_passed", "awarded", "published", "withdrawn",
)
CONDITION_OPS = ("equals", "not_equals", "in", "gte", "gt", "lte", "lt", "filled")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Label(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Choice(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    # A choice like "其他，具体为____" or "共享人：____" asks for a text beside it.
    with_text: bool = False


def condition_check(condition: Any, where: str = "condition") -> None:
    """Raise ValueError naming `where` when `condition` is not a condition of the format above."""
    if not isinstance(condition, dict) or not condition:
        raise ValueError(f"{where}: a condition is a mapping such as {{field: x, equals: y}}")
    if set(condition) == {"all"} or set(condition) == {"any"}:
        items = next(iter(condition.values()))
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}: 'all'/'any' take a non-empty list of conditions")
        for index, item in enumerate(items):
            condition_check(item, f"{where}[{index}]")
        return
    if set(condition) == {"not"}:
        condition_check(condition["not"], f"{where}.not")
        return
    if set(condition) == {"variant"} or set(condition) == {"enterprise_kind"}:
        return
    if "field" in condition:
        ops = set(condition) - {"field"}
        if len(ops) != 1 or not ops <= set(CONDITION_OPS):
            raise ValueError(f"{where}: a field condition takes exactly one of {', '.join(CONDITION_OPS)}")
        return
    raise ValueError(f"{where}: unknown condition {condition!r}")


class FormField(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    type: Literal[
        "text", "textarea", "integer", "decimal", "money", "percent", "date", "month", "year",
        "choice", "multichoice", "boolean", "email", "phone", "credit_code", "computed", "declaration",
    ]
    label: Label
    help: Label | None = None
    required: bool = False
    required_if: dict[str, Any] | None = None
    applies_if: dict[str, Any] | None = None
    max_length: int | None = Field(default=None, gt=0)  # characters, as the seeds count them
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    decimals: int | None = Field(default=None, ge=0, le=6)
    unit: str | None = None
    choices: list[Choice] | None = None
    past_only: bool = False  # dates and months that must not lie in the future
    formula: str | None = None  # computed fields only
    # Prefilled from the enterprise record ("enterprise.name", "enterprise.credit_code", ...).
    prefill: str | None = None
    # The live-data figure offered for this field (a key of the definition's `evidence`).
    evidence: str | None = None
    # Where the field is in the seed's form, for the field checklist and the reader.
    seed: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FormField:
        if self.type in ("choice", "multichoice") and not self.choices:
            raise ValueError(f"field {self.key}: a {self.type} field needs 'choices'")
        if self.type == "computed" and not self.formula:
            raise ValueError(f"field {self.key}: a computed field needs a 'formula'")
        if self.formula and self.type != "computed":
            raise ValueError(f"field {self.key}: only computed fields take a 'formula'")
        for name in ("required_if", "applies_if"):
            value = getattr(self, name)
            if value is not None:
                condition_check(value, f"field {self.key}.{name}")
        return self


class RowLabel(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: Label


class TableField(_Strict):
    """A repeating table: fixed rows (e.g. the three years) or rows the applicant adds."""

    key: str = Field(pattern=KEY_PATTERN)
    type: Literal["table"]
    label: Label
    help: Label | None = None
    columns: list[FormField] = Field(min_length=1)
    rows: list[RowLabel] | None = None  # fixed rows; None lets the applicant add rows
    min_rows: int = Field(default=0, ge=0)
    max_rows: int | None = Field(default=None, gt=0)
    required: bool = False
    applies_if: dict[str, Any] | None = None
    seed: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TableField:
        keys = [column.key for column in self.columns]
        if len(keys) != len(set(keys)):
            raise ValueError(f"table {self.key}: column keys must be unique")
        if self.applies_if is not None:
            condition_check(self.applies_if, f"table {self.key}.applies_if")
        return self


Item = Annotated[FormField | TableField, Field(discriminator="type")]


class Section(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    title: Label
    help: Label | None = None
    # The form part the section belongs to (e.g. "申报书" or "申请报告"), for pages and the PDF.
    part: str | None = None
    items: list[Item] = Field(min_length=1)
    applies_if: dict[str, Any] | None = None
    # Blocks printed after the section for handwritten signatures and seals (公章).
    signatures: list[Label] = Field(default_factory=list)
    # Who fills the section in: the applicant, or the recommending authority (the city's opinion),
    # which the applicant's form shows read-only and the reviews part fills in.
    filled_by: Literal["applicant", "authority"] = "applicant"
    seed: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Section:
        if self.applies_if is not None:
            condition_check(self.applies_if, f"section {self.key}.applies_if")
        return self


class Variant(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    enterprise_kinds: list[Literal["industrial", "data_center", "park"]] = Field(min_length=1)


class AttachmentKind(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    help: Label | None = None
    types: list[Literal["pdf", "jpg", "png", "docx", "xlsx"]] = Field(min_length=1)
    max_size_mb: Decimal = Field(default=Decimal(20), gt=0, le=200)
    min_count: int = Field(default=0, ge=0)
    max_count: int | None = Field(default=None, gt=0)
    required: bool = False
    required_if: dict[str, Any] | None = None
    applies_if: dict[str, Any] | None = None
    # The signed and sealed scan of a printed page: needed before the application moves on.
    signed_scan_of: str | None = None
    seed: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AttachmentKind:
        if self.max_count is not None and self.max_count < self.min_count:
            raise ValueError(f"attachment {self.key}: max_count is below min_count")
        for name in ("required_if", "applies_if"):
            value = getattr(self, name)
            if value is not None:
                condition_check(value, f"attachment {self.key}.{name}")
        return self


class EligibilityRule(_Strict):
    """One basic condition. `check` says how it is judged:
    - region: the enterprise is registered under `region` (an administrative division code);
    - enterprise_kind: its kind is one of `kinds`;
    - evidence_gte: a measured figure (`evidence`) is at least `value`;
    - condition: a condition over the form's values (`when`), e.g. an acceptance date;
    - declaration: the applicant declares it in field `field` (a declaration field)."""

    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    seed: str | None = None
    check: Literal["region", "enterprise_kind", "evidence_gte", "condition", "declaration"]
    region: str | None = None
    kinds: list[Literal["industrial", "data_center", "park"]] | None = None
    evidence: str | None = None
    value: Decimal | None = None
    when: dict[str, Any] | None = None
    field: str | None = None
    applies_if: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> EligibilityRule:
        needs = {"region": ("region",), "enterprise_kind": ("kinds",), "evidence_gte": ("evidence", "value"),
                 "condition": ("when",), "declaration": ("field",)}[self.check]
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"eligibility {self.key}: a '{self.check}' rule needs {', '.join(missing)}")
        for name in ("when", "applies_if"):
            value = getattr(self, name)
            if value is not None:
                condition_check(value, f"eligibility {self.key}.{name}")
        return self


EVIDENCE_INDICATORS = (
    "total_tce", "co2_t", "access_rate_1", "access_rate_2", "access_rate_3", "meters_1", "meters_2",
    "meters_3", "completeness", "stable_months", "saving_rate", "longest_gap_minutes", "pue",
    "energy_intensity", "carbon_intensity",
)


class EvidenceSpec(_Strict):
    """A figure measured from the enterprise's live data, offered in the form and frozen on filing.
    `period`: last_full_year (the calendar year before filing), last_12_months (the twelve full
    months before filing), base_year (the year before `base_year_field`'s date: "before"),
    after_completion (the twelve full months after that date: "after")."""

    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    indicator: Literal[
        "total_tce", "co2_t", "access_rate_1", "access_rate_2", "access_rate_3", "meters_1", "meters_2",
        "meters_3", "completeness", "stable_months", "saving_rate", "longest_gap_minutes", "pue",
        "energy_intensity", "carbon_intensity",
    ]
    period: Literal["last_full_year", "last_12_months", "base_year", "after_completion"] = "last_full_year"
    base_year_field: str | None = None
    unit: str | None = None
    # How far a typed value may differ before it is flagged for reviewers (relative, 0.05 = 5 %).
    tolerance: Decimal = Field(default=Decimal("0.05"), ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> EvidenceSpec:
        if self.period in ("base_year", "after_completion") and not self.base_year_field:
            raise ValueError(f"evidence {self.key}: period {self.period} needs 'base_year_field'")
        return self


class PrintRules(_Strict):
    """Page layout of the program's printed documents (Shanghai 附件4, for one)."""

    page_size: str = "A4"
    margin_top_cm: Decimal = Decimal("2.54")
    margin_bottom_cm: Decimal = Decimal("2.54")
    margin_left_cm: Decimal = Decimal("3.17")
    margin_right_cm: Decimal = Decimal("3.17")
    cover: bool = True
    cover_title: str | None = None
    toc: bool = False
    page_numbers: Literal["bottom-right", "bottom-center", "none"] = "bottom-center"
    title_font: Literal["heiti", "songti", "fangsong", "kaiti"] = "heiti"
    body_font: Literal["heiti", "songti", "fangsong", "kaiti"] = "songti"
    seed: str | None = None


class Document(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    title: Label
    template: str = "applications/pdf/application.html"
    sections: list[str] | None = None  # section keys printed, in order; None prints them all
    print_rules: PrintRules = Field(default_factory=PrintRules)


class SummaryColumn(_Strict):
    """A column of the officials' summary table. `source` is one of: seq (the row number),
    field:<key>, enterprise.<name|industry|county|region|credit_code>, submitted_at, state."""

    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    source: str

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if not re.fullmatch(r"seq|submitted_at|state|field:[a-z][a-z0-9_.]*|"
                            r"enterprise\.(name|industry|county|region|credit_code)", value):
            raise ValueError(f"unknown summary-table source {value!r}")
        return value


class SummaryTable(_Strict):
    title: Label
    columns: list[SummaryColumn] = Field(min_length=1)
    seed: str | None = None


class Track(_Strict):
    """A contest track (赛道): the form it uses and how many entries a city recommends at least."""

    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    form: str  # key of a form variant (Variant.key)
    min_recommended_per_city: int = Field(default=0, ge=0)


# -- the review workflow (the engine is reviews.services.transition_perform) --------------------
# Actors: `applicant` (the submission's enterprise's users), `first_reviewer` (the district or
# municipal authority whose region holds the enterprise), `provincial` (the provincial authority;
# for Shanghai the commission, also the acceptance window), `expert` and `lead_expert` (assigned
# experts), `platform_admin`. Who counts as which is the access policy's (portal.access).

ACTORS = ("applicant", "first_reviewer", "provincial", "expert", "lead_expert", "platform_admin")
Actor = Literal["applicant", "first_reviewer", "provincial", "expert", "lead_expert", "platform_admin"]
GUARDS = (
    "eligibility_passed",  # every eligibility rule of the filed application passed
    "checklists_complete",  # every assigned expert's sheet judges every item
    "expert_reviews_received",  # at least min_expert_reviews sheets are submitted
    "lead_expert_assigned",  # experts are assigned, one of them the lead
    "deadline_passed",  # the deadline for additions has passed
    "deadline_not_passed",  # it has not (a resubmission in time)
    "signed_scan_attached",  # the signed and sealed scan of the printed form is attached
    # Registered by reviews.guards_programs (the shipped programs' own rules):
    "recommendations_per_track",  # the entry's city recommended at least its track's minimum
    "track_without_city_recommendation",  # the entry's track is not one the cities recommend
)
Guard = Literal[
    "eligibility_passed", "checklists_complete", "expert_reviews_received", "lead_expert_assigned",
    "deadline_passed", "deadline_not_passed", "signed_scan_attached", "recommendations_per_track",
    "track_without_city_recommendation",
]
Notify = Literal["applicant", "first_reviewer", "provincial", "experts"]


class StateDef(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    final: bool = False


class TransitionDef(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    sources: list[str] = Field(min_length=1)
    target: str
    actors: list[Actor] = Field(min_length=1)
    guards: list[Guard] = Field(default_factory=list)
    needs_reason: bool = False
    needs_deadline: bool = False
    # May be taken on many submissions at once with one reason (the admin's batch decisions).
    batch: bool = False
    notify: list[Notify] = Field(default_factory=list)
    # Shown as a decision (passed / not passed / a prize) in results lists.
    outcome: str | None = None


class WorkflowDef(_Strict):
    # Which authority does the first review: the city's (Henan) or the district's (Shanghai).
    first_review_level: Literal["district", "municipal"] = "municipal"
    aggregation: Literal["mean", "median"] = "mean"
    min_expert_reviews: int = Field(default=1, ge=1)
    states: list[StateDef] = Field(min_length=2)
    transitions: list[TransitionDef] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowDef:
        states = [state.key for state in self.states]
        if len(states) != len(set(states)):
            raise ValueError("state keys must be unique")
        if "draft" not in states or "submitted" not in states:
            raise ValueError("a workflow has the states 'draft' and 'submitted'")
        unknown_states = [state for state in states if state not in SUBMISSION_STATES]
        if unknown_states:
            raise ValueError(f"unknown state(s) {', '.join(unknown_states)}: states are those of "
                             f"applications.models.SubmissionState ({', '.join(SUBMISSION_STATES)})")
        keys = [transition.key for transition in self.transitions]
        if len(keys) != len(set(keys)):
            raise ValueError("transition keys must be unique")
        for transition in self.transitions:
            unknown = [state for state in [*transition.sources, transition.target] if state not in states]
            if unknown:
                raise ValueError(f"transition {transition.key}: unknown state(s) {', '.join(unknown)}")
        return self

    def state(self, key: str) -> StateDef | None:
        return next((state for state in self.states if state.key == key), None)

    def transition(self, key: str) -> TransitionDef | None:
        return next((transition for transition in self.transitions if transition.key == key), None)

    def transitions_from(self, state: str) -> list[TransitionDef]:
        return [transition for transition in self.transitions if state in transition.sources]


# -- review checklists and rubrics (scored by reviews.scoring) -----------------------------------

class ChecklistItem(_Strict):
    """One criterion. `verdict` items take meets / does not meet / not applicable; `points` items
    take points up to `max_points`, weighted by `weight`. Not-applicable items are left out of the
    total; a veto item judged "does not meet" (or given no points) fails the submission alone."""

    key: str = Field(pattern=KEY_PATTERN)
    label: Label
    category: Label | None = None
    mode: Literal["verdict", "points"] = "verdict"
    max_points: Decimal | None = Field(default=None, gt=0)
    weight: Decimal = Field(default=Decimal(1), gt=0)
    veto: bool = False
    allow_na: bool = True
    # Measured figures shown beside the item, frozen at filing and as of today: monitoring
    # indicators (EVIDENCE_INDICATORS) or "storage_years".
    evidence: list[str] = Field(default_factory=list)
    seed: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ChecklistItem:
        if self.mode == "points" and self.max_points is None:
            raise ValueError(f"checklist item {self.key}: a points item needs max_points")
        if self.mode == "verdict" and self.max_points is not None:
            raise ValueError(f"checklist item {self.key}: a verdict item takes no max_points")
        return self


class Checklist(_Strict):
    key: str = Field(pattern=KEY_PATTERN)
    title: Label
    applies_if: dict[str, Any] | None = None  # e.g. {variant: park}
    items: list[ChecklistItem] = Field(min_length=1)
    # How the sheet concludes: a verdict (通过 / 不通过: every applicable item meets) or a score.
    conclusion: Literal["verdict", "score"] = "verdict"
    pass_mark: Decimal | None = None  # score sheets: the least combined score that passes
    seed: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Checklist:
        keys = [item.key for item in self.items]
        if len(keys) != len(set(keys)):
            raise ValueError(f"checklist {self.key}: item keys must be unique")
        if self.applies_if is not None:
            condition_check(self.applies_if, f"checklist {self.key}.applies_if")
        return self


class ProgramDefinition(_Strict):
    code: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1)
    name_en: str = ""
    region: str = Field(pattern=r"^\d{6}$")
    document: str = Field(min_length=1)
    issuer: str | None = None
    version: int = Field(ge=1)
    description: str = Field(min_length=1)
    enterprise_kinds: list[Literal["industrial", "data_center", "park"]] = Field(
        default_factory=lambda: ["industrial", "data_center", "park"])  # type: ignore[arg-type]
    opens: str | None = None
    closes: str | None = None
    variants: list[Variant] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    attachments: list[AttachmentKind] = Field(default_factory=list)
    eligibility: list[EligibilityRule] = Field(default_factory=list)
    evidence: list[EvidenceSpec] = Field(default_factory=list)
    documents: list[Document] = Field(default_factory=list)
    summary_table: SummaryTable | None = None
    workflow: WorkflowDef | None = None
    checklists: list[Checklist] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _cross_references(self) -> ProgramDefinition:
        keys: set[str] = set()
        for section in self.sections:
            for item in section.items:
                if item.key in keys:
                    raise ValueError(f"field key {item.key!r} is used twice (keys are unique per program)")
                keys.add(item.key)
        section_keys = [section.key for section in self.sections]
        if len(section_keys) != len(set(section_keys)):
            raise ValueError("section keys must be unique")
        evidence_keys = {spec.key for spec in self.evidence}
        for field in self.fields():
            if field.evidence and field.evidence not in evidence_keys:
                raise ValueError(
                    f"field {field.key}: evidence {field.evidence!r} is not declared under 'evidence'")
        for rule in self.eligibility:
            if rule.check == "evidence_gte" and rule.evidence not in evidence_keys:
                raise ValueError(f"eligibility {rule.key}: evidence {rule.evidence!r} is not declared")
            if rule.check == "declaration" and rule.field not in keys:
                raise ValueError(f"eligibility {rule.key}: field {rule.field!r} is not in the form")
        variant_keys = {variant.key for variant in self.variants}
        for track in self.tracks:
            if track.form not in variant_keys:
                raise ValueError(f"track {track.key}: form {track.form!r} is not a declared variant")
        for spec in self.evidence:
            if spec.base_year_field and spec.base_year_field not in keys:
                raise ValueError(
                    f"evidence {spec.key}: base_year_field {spec.base_year_field!r} is not in the form")
        checklist_keys = [checklist.key for checklist in self.checklists]
        if len(checklist_keys) != len(set(checklist_keys)):
            raise ValueError("checklist keys must be unique")
        for document in self.documents:
            for key in document.sections or ():
                if key not in section_keys:
                    raise ValueError(f"document {document.key}: section {key!r} is not declared")
        return self

    def fields(self) -> list[FormField]:
        """Every top-level field in form order (table columns are inside their TableField)."""
        return [item for section in self.sections for item in section.items if isinstance(item, FormField)]

    def items(self) -> list[FormField | TableField]:
        return [item for section in self.sections for item in section.items]

    def item(self, key: str) -> FormField | TableField | None:
        return next((item for item in self.items() if item.key == key), None)

    def section(self, key: str) -> Section | None:
        return next((section for section in self.sections if section.key == key), None)

    def variant(self, key: str | None) -> Variant | None:
        return next((variant for variant in self.variants if variant.key == key), None)

    def evidence_spec(self, key: str) -> EvidenceSpec | None:
        return next((spec for spec in self.evidence if spec.key == key), None)

    def attachment_kind(self, key: str) -> AttachmentKind | None:
        return next((kind for kind in self.attachments if kind.key == key), None)


def _location(error: Any, data: Any) -> str:
    """'sections[2] (center) → items[4] (investment) → max_length' from a pydantic error location."""
    parts: list[str] = []
    node = data
    for step in error.get("loc", ()):
        if isinstance(step, int):
            inside = isinstance(node, list) and step < len(node)
            key = node[step].get("key") if inside and isinstance(node[step], dict) else None
            parts[-1:] = [f"{parts[-1] if parts else ''}[{step}]" + (f" ({key})" if key else "")]
            node = node[step] if inside else None
        else:
            # A discriminated union's tag ("textarea", "table") is not a key of the file.
            if (isinstance(node, dict) and node.get("type") == step) or str(step).startswith("function-"):
                continue
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return " → ".join(parts) or "(top level)"


class DefinitionFormatError(ValueError):
    """The definition breaks the format; `problems` lists each as 'where: what'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def definition_validate(data: Any) -> ProgramDefinition:
    """Check a parsed definition against the format; raise DefinitionFormatError naming each field."""
    try:
        return ProgramDefinition.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(error, data)}: {error['msg']}" for error in exc.errors()]
        raise DefinitionFormatError(problems) from exc


def definition_of(data: dict[str, Any]) -> ProgramDefinition:
    """The parsed form of a stored definition (one already validated when it was loaded)."""
    return _cached_definition(_freeze(data))


_CACHE: dict[str, ProgramDefinition] = {}


def _freeze(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)


def _cached_definition(frozen: str) -> ProgramDefinition:
    # Stored definitions are immutable per version, so parsing each once per process is enough;
    # the cache is bounded by the number of program versions in the database.
    found = _CACHE.get(frozen)
    if found is None:
        found = ProgramDefinition.model_validate(json.loads(frozen))
        _CACHE[frozen] = found
    return found
