"""The application as a printed document (PDF, WeasyPrint), laid out like the program's own forms.

A definition's `documents` say what is printed: which sections, in which order, and the print
rules (page size, margins, cover, table of contents, page numbers, fonts; Shanghai 附件4 for one).
A definition without documents prints one document with every section. Everything a section
holds is printed in the definition's order, which is the seed form's order: fields with their
units, choice fields as ☑/☐ options like the form's check boxes, tables as grids (fixed-row
tables with their row labels), computed values, and, once filed, the frozen measured figures
beside the fields they back. Sections with `signatures` get blocks for the handwritten signature,
the seal (公章) and the date; sections the authority fills (the city's recommendation) print with
an empty opinion box and the authority's seal block. Then the attachment list and, as an
appendix, the image attachments (photos, screenshots) embedded in the file.

A draft prints too, marked 草稿 on every page, so the applicant can print, sign, seal and scan the
pages that need it; a filed submission prints what was filed (its last filing), not later edits.

Fonts (Debian fonts-noto-cjk): 黑体 is "Noto Sans CJK SC", 宋体 "Noto Serif CJK SC". No 仿宋 (nor
楷体) font is installed, so the serif CJK face stands in for them; the document's notes say so.
Nothing is fetched over the network: images are embedded as data URIs and the URL fetcher
refuses anything but data: URIs and files inside the private attachment storage.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from applications.definitions import (
    Document,
    FormField,
    Label,
    PrintRules,
    ProgramDefinition,
    Section,
    TableField,
)
from applications.documents.content import filed_content, number_text, value_text, zh_date
from applications.models import Attachment, Evidence, Submission
from applications.selectors import submission_definition
from applications.values import Context, condition_holds

# Font faces by the role the seeds give them. The seeds' 仿宋 and 楷体 have no installed face:
# the serif CJK face stands in (see FONT_SUBSTITUTES and the document's notes).
FONT_FAMILIES = {
    "heiti": '"Noto Sans CJK SC", sans-serif',
    "songti": '"Noto Serif CJK SC", serif',
    "fangsong": '"Noto Serif CJK SC", serif',
    "kaiti": '"Noto Serif CJK SC", serif',
}
FONT_SUBSTITUTES = {"fangsong": "仿宋", "kaiti": "楷体"}
SUBSTITUTE_FACE = "Noto Serif CJK SC"
# Chinese type sizes (字号) in points.
SIZE_ERHAO_PT = 22  # 二号
SIZE_YIHAO_PT = 26  # 一号
SIZE_SANHAO_PT = 16  # 三号
SIZE_XIAOSI_PT = 12  # 小四, the body text
SIZE_WUHAO_PT = 10.5  # 五号, tables and notes
IMAGE_TYPES = ("image/jpeg", "image/png")
CHECKED, UNCHECKED = "☑", "☐"
DEFAULT_TEMPLATE = "applications/pdf/application.html"


class UnknownDocument(LookupError):
    """The definition has no document of that key."""


# -- which document ----------------------------------------------------------------------------

def documents_of(definition: ProgramDefinition) -> list[Document]:
    """The definition's documents; one document with every section when it declares none."""
    if definition.documents:
        return list(definition.documents)
    return [Document(key="application",
                     title=Label(zh=f"{definition.name}申报书", en=f"{definition.name_en or definition.code} "
                                                                  f"application"))]


def document_of(definition: ProgramDefinition, key: str | None = None) -> Document:
    documents = documents_of(definition)
    if key is None:
        return documents[0]
    found = next((document for document in documents if document.key == key), None)
    if found is None:
        raise UnknownDocument(key)
    return found


# -- what is printed ---------------------------------------------------------------------------

@dataclass
class Option:
    label: str
    checked: bool
    text: str = ""  # the text a "其他：____" choice asks for

    @property
    def mark(self) -> str:
        return CHECKED if self.checked else UNCHECKED


@dataclass
class FigureView:
    """A frozen measured figure printed beside the field it backs."""

    label: str
    value: str
    period: str
    factor_sets: str
    typed: str
    flagged: bool


@dataclass
class FieldView:
    key: str
    label: str
    kind: str  # line | long | options | declaration
    value: str = ""
    unit: str = ""
    options: list[Option] = field(default_factory=list)
    limit: int | None = None
    computed: bool = False
    help: str = ""
    figure: FigureView | None = None
    is_table: bool = False


@dataclass
class TableView:
    key: str
    label: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]
    row_header: str  # heading of the row-label column: blank for fixed rows, 序号 for added rows
    help: str = ""
    is_table: bool = True


@dataclass
class SectionView:
    key: str
    title: str
    part: str
    items: list[FieldView | TableView]
    signatures: list[str]
    by_authority: bool

    @property
    def anchor(self) -> str:
        return f"section-{self.key}"

    @property
    def blocks(self) -> list[Block]:
        """The items in order, short fields grouped into one form table per run. Long texts and
        grids stand outside those tables: a table lays out with fixed column widths, but a
        table's cell holding a long CJK text costs WeasyPrint a line break trial per character
        when it sizes the columns (2 minutes for the Henan form, against under a second)."""
        blocks: list[Block] = []
        for item in self.items:
            kind = "grid" if isinstance(item, TableView) else "long" if item.kind == "long" else "rows"
            if kind == "rows" and blocks and blocks[-1].kind == "rows":
                blocks[-1].items.append(item)
            else:
                blocks.append(Block(kind=kind, items=[item]))
        return blocks


@dataclass
class Block:
    kind: str  # rows (a form table of short fields) | long (one long text) | grid (one table field)
    items: list[FieldView | TableView]

    @property
    def item(self) -> FieldView | TableView:
        return self.items[0]


@dataclass
class AttachmentLine:
    label: str
    files: list[str]
    required: str
    signed_scan: bool


@dataclass
class Photo:
    caption: str
    uri: str


@dataclass
class DocumentView:
    """Everything the template prints, laid out in order."""

    document: Document
    rules: PrintRules
    program_name: str
    program_document: str
    applicant: str
    project: str
    date: str
    is_draft: bool
    sections: list[SectionView]
    attachments: list[AttachmentLine]
    photos: list[Photo]
    figures: list[FigureView]
    factor_notes: list[str]
    notes: list[str]
    css: dict[str, str]


def _unit(item: FormField) -> str:
    if item.unit:
        return item.unit
    return "%" if item.type == "percent" else ""


def _field_view(item: FormField, values: dict[str, Any], data: dict[str, Any],
                figures: dict[str, FigureView]) -> FieldView:
    value, raw = values.get(item.key), data.get(item.key)
    view = FieldView(key=item.key, label=item.label.zh, kind="line", unit=_unit(item),
                     limit=item.max_length, computed=item.type == "computed",
                     help=item.help.zh if item.help else "", figure=figures.get(item.key))
    if item.type in ("choice", "multichoice"):
        picked = value if isinstance(value, list) else [value] if value is not None else []
        text = str(values.get(f"{item.key}__text") or "")
        view.kind = "options"
        view.options = [Option(label=choice.label.zh, checked=choice.key in picked,
                               text=text if choice.with_text and choice.key in picked else "")
                        for choice in item.choices or ()]
    elif item.type == "boolean":
        view.kind = "options"
        view.options = [Option(_("是"), value is True), Option(_("否"), value is False)]
    elif item.type == "declaration":
        view.kind = "declaration"
        view.options = [Option(item.label.zh, value is True)]
    else:
        view.kind = "long" if item.type == "textarea" else "line"
        view.value = value_text(item, value, raw)
    return view


def _cell_text(column: FormField, value: Any, raw: Any) -> str:
    if column.type in ("choice", "multichoice"):
        picked = value if isinstance(value, list) else [value] if value is not None else []
        return "　".join(f"{CHECKED if choice.key in picked else UNCHECKED}{choice.label.zh}"
                        for choice in column.choices or ())
    if column.type == "boolean":
        yes, no = (CHECKED if value is True else UNCHECKED), (CHECKED if value is False else UNCHECKED)
        return f"{yes}{_('是')}　{no}{_('否')}"
    return value_text(column, value, raw)


def _table_view(table: TableField, values: dict[str, Any], data: dict[str, Any]) -> TableView:
    cleaned = values.get(table.key) or []
    raw = data.get(table.key)
    typed: list[Any] = raw if isinstance(raw, list) else []
    columns = [column.label.zh + (f"（{_unit(column)}）" if _unit(column) else "")
               for column in table.columns]
    rows: list[tuple[str, list[str]]] = []
    for index, row in enumerate(cleaned):
        raw_row = typed[index] if index < len(typed) and isinstance(typed[index], dict) else {}
        label = table.rows[index].label.zh if table.rows and index < len(table.rows) else str(index + 1)
        rows.append((label, [_cell_text(column, row.get(column.key), raw_row.get(column.key))
                             for column in table.columns]))
    if not rows and table.rows is None:
        # An empty repeating table still prints its grid, for filling in by hand.
        blank = ["" for _column in table.columns]
        rows = [(str(index + 1), list(blank)) for index in range(max(table.min_rows, 3))]
    return TableView(key=table.key, label=table.label.zh, columns=columns, rows=rows,
                     row_header="" if table.rows is not None else _("序号"),
                     help=table.help.zh if table.help else "")


def _applies(item: Any, values: dict[str, Any], context: Context) -> bool:
    return item.applies_if is None or condition_holds(item.applies_if, values=values, context=context)


def _section_view(section: Section, values: dict[str, Any], data: dict[str, Any], context: Context,
                  figures: dict[str, FigureView]) -> SectionView:
    by_authority = section.filled_by == "authority"
    items: list[FieldView | TableView] = []
    for item in section.items:
        if not _applies(item, values, context):
            continue
        if isinstance(item, TableField):
            items.append(_table_view(item, {} if by_authority else values, {} if by_authority else data))
        else:
            items.append(_field_view(item, {} if by_authority else values, {} if by_authority else data,
                                     figures))
    return SectionView(key=section.key, title=section.title.zh, part=section.part or "", items=items,
                       signatures=[label.zh for label in section.signatures], by_authority=by_authority)


def _period(row: Evidence) -> str:
    return f"{zh_date(row.period_start)}—{zh_date(row.period_end)}"


CIRCLED_NUMBERS = "①②③④⑤⑥⑦⑧⑨⑩"


def _factor_sets_text(row: Evidence) -> str:
    return "、".join(str(item.get("name") or item.get("code") or item) if isinstance(item, dict)
                    else str(item) for item in row.factor_sets or [])


def _figure_views(rows: list[Evidence]) -> tuple[list[FigureView], list[str]]:
    """The figures, each naming its factor sets by a note mark (①…), and the notes themselves:
    the sets' full names are long and mostly the same for every figure, so they print once."""
    notes: list[str] = []
    views = []
    for row in rows:
        value = ""
        if row.value is not None:
            # Whole numbers print whole; others as measured (intensities per 万元 keep 4 places).
            value = number_text(row.value.to_integral() if row.value == row.value.to_integral()
                                else row.value.normalize())
        sets = _factor_sets_text(row)
        if sets and sets not in notes:
            notes.append(sets)
        mark = CIRCLED_NUMBERS[notes.index(sets) % len(CIRCLED_NUMBERS)] if sets else "—"
        shown = f"{value} {row.unit}".strip() if value else _("无数据")
        views.append(FigureView(label=row.label, value=shown, period=_period(row), factor_sets=mark,
                                typed=row.typed_value, flagged=row.flagged))
    marks = [CIRCLED_NUMBERS[index % len(CIRCLED_NUMBERS)] for index in range(len(notes))]
    return views, [f"{mark} {text}" for mark, text in zip(marks, notes, strict=True)]


def _attachment_lines(definition: ProgramDefinition, attachments: list[Attachment], values: dict[str, Any],
                      context: Context) -> list[AttachmentLine]:
    lines = []
    for kind in definition.attachments:
        if not _applies(kind, values, context):
            continue
        names = [item.original_name for item in attachments if item.kind == kind.key]
        required_now = kind.required or (kind.required_if is not None and condition_holds(
            kind.required_if, values=values, context=context))
        if kind.min_count > 1:
            need = _("不少于 %(count)s 份") % {"count": kind.min_count}
        else:
            need = _("必须提供") if required_now else _("如有")
        lines.append(AttachmentLine(label=kind.label.zh, files=names, required=need,
                                    signed_scan=bool(kind.signed_scan_of)))
    return lines


def _photo_uri(attachment: Attachment) -> str | None:
    """The image as a data URI, read from private storage (never a URL the renderer fetches)."""
    try:
        with attachment.file.open("rb") as handle:
            content = handle.read()
    except (FileNotFoundError, OSError):
        return None  # a missing file leaves its caption without the image, never the document
    return f"data:{attachment.content_type};base64,{base64.b64encode(content).decode('ascii')}"


PAGE_SIZE_PATTERN = re.compile(r"^(A[3-6]|B[4-6]|letter|legal)( landscape| portrait)?$", re.IGNORECASE)


def _css(rules: PrintRules) -> dict[str, str]:
    # The values go into the stylesheet verbatim (it is rendered without escaping), so only
    # known page sizes pass; the rest are numbers and this module's constants.
    page_size = rules.page_size if PAGE_SIZE_PATTERN.match(rules.page_size) else "A4"
    numbers = {"bottom-right": "bottom-right", "bottom-center": "bottom-center"}.get(rules.page_numbers, "")
    return {
        "page_size": page_size,
        "margin": (f"{rules.margin_top_cm}cm {rules.margin_right_cm}cm {rules.margin_bottom_cm}cm "
                   f"{rules.margin_left_cm}cm"),
        "page_number_box": numbers,
        "heiti": FONT_FAMILIES["heiti"],
        "fangsong": FONT_FAMILIES["fangsong"],
        "title_font": FONT_FAMILIES[rules.title_font],
        "body_font": FONT_FAMILIES[rules.body_font],
        "erhao": f"{SIZE_ERHAO_PT}pt",
        "yihao": f"{SIZE_YIHAO_PT}pt",
        "sanhao": f"{SIZE_SANHAO_PT}pt",
        "xiaosi": f"{SIZE_XIAOSI_PT}pt",
        "wuhao": f"{SIZE_WUHAO_PT}pt",
    }


def _notes(rules: PrintRules, is_draft: bool) -> list[str]:
    used = {"fangsong"} | {rules.title_font, rules.body_font}
    notes = [
        _("本文件中的“%(face)s”字体以“%(substitute)s”代替：本系统未安装%(face)s字体。")
        % {"face": FONT_SUBSTITUTES[key], "substitute": SUBSTITUTE_FACE}
        for key in ("fangsong", "kaiti") if key in used
    ]
    if is_draft:
        notes.append(_("本文件为草稿打印件，仅供签字、盖章后扫描上传；正式申报以系统提交的内容为准。"))
    return notes


def document_view(submission: Submission, *, document_key: str | None = None) -> DocumentView:
    filed = filed_content(submission)
    definition = filed.definition
    document = document_of(definition, document_key)
    rules = document.print_rules
    evidence = list(filed.evidence)
    figure_views, factor_notes = _figure_views(evidence)
    figures = {row.field: view for row, view in zip(evidence, figure_views, strict=True) if row.field}
    keys = document.sections or [section.key for section in definition.sections]
    sections = []
    for key in keys:
        section = definition.section(key)
        if section is None or not _applies(section, filed.values, filed.context):
            continue
        sections.append(_section_view(section, filed.values, filed.data, filed.context, figures))
    kinds = {kind.key: kind.label.zh for kind in definition.attachments}
    photos = []
    for attachment in filed.attachments:
        if attachment.content_type in IMAGE_TYPES:
            uri = _photo_uri(attachment)
            if uri:
                photos.append(Photo(caption=f"{kinds.get(attachment.kind, attachment.kind)}："
                                            f"{attachment.original_name}", uri=uri))
    is_draft = filed.is_draft
    return DocumentView(
        document=document, rules=rules, program_name=definition.name, program_document=definition.document,
        applicant=submission.enterprise.name, project=submission.title or definition.name,
        date=zh_date(submission.submitted_at) if not is_draft else "",
        is_draft=is_draft, sections=sections,
        attachments=_attachment_lines(definition, filed.attachments, filed.values, filed.context),
        photos=photos, figures=figure_views, factor_notes=factor_notes,
        notes=_notes(rules, is_draft), css=_css(rules))


def submission_document_html(submission: Submission, *, document_key: str | None = None) -> str:
    """The document's HTML (what WeasyPrint lays out). Always in Chinese: the printed application
    goes to the program's authority, and its fixed texts must read like the program's forms
    whatever language the person printing it browses in."""
    with translation.override("zh-hans"):
        view = document_view(submission, document_key=document_key)
        template = view.document.template or DEFAULT_TEMPLATE
        return render_to_string(template, {"view": view})


# -- rendering ---------------------------------------------------------------------------------

def _allowed_roots() -> tuple[Path, ...]:
    storages: dict[str, Any] = settings.STORAGES
    options: dict[str, Any] = storages.get("private", {}).get("OPTIONS", {})
    location = options.get("location")
    return (Path(location).resolve(),) if location else ()


def url_fetcher() -> Any:
    """A WeasyPrint URL fetcher that never goes to the network: data: URIs, and files inside the
    private attachment storage; anything else (http, https, ftp, other files) is refused."""
    from urllib.request import url2pathname

    from weasyprint import URLFetcher

    roots = _allowed_roots()

    class LocalOnlyFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                path = Path(url2pathname(url.split("?", 1)[0].removeprefix("file://"))).resolve()
                if any(path.is_relative_to(root) for root in roots):
                    return super().fetch(url, headers)
            raise ValueError(f"refused to fetch {url[:80]!r}: documents embed their resources")

    return LocalOnlyFetcher(allowed_protocols=("data", "file"))


def html_render(html: str) -> Any:
    """Lay the HTML out into pages (a weasyprint Document)."""
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=url_fetcher(), base_url=None).render()


def submission_render(submission: Submission, *, document_key: str | None = None) -> Any:
    return html_render(submission_document_html(submission, document_key=document_key))


def submission_pdf(submission: Submission, *, document_key: str | None = None) -> bytes:
    """The submission's document as PDF bytes (fonts subset and embedded)."""
    pdf = submission_render(submission, document_key=document_key).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


def pdf_file_name(submission: Submission, *, document_key: str | None = None) -> str:
    """'<program>-<enterprise>-<id>[-草稿].pdf', safe as a file name on every system."""
    definition = submission_definition(submission)
    document = document_of(definition, document_key)
    parts = [definition.name, submission.enterprise.name, str(submission.pk)]
    if len(documents_of(definition)) > 1:
        parts.insert(1, document.title.zh)
    if submission.is_editable:
        parts.append(_("草稿"))
    name = "-".join(parts)
    return "".join("_" if char in '\\/:*?"<>|\r\n\t' else char for char in name) + ".pdf"
