"""Bulk import of an enterprise's meter registry from CSV or Excel (.xlsx).

All or nothing: every row is read and validated (the file's own rules, then the same services
the pages use, inside one transaction); when any row fails, the transaction is rolled back and
the report lists every failing row with its row number as shown in the sheet (the header is
row 1), the column and the message. Existing codes are updated, new codes created. A row's
parent may be any meter of the enterprise or any row of the same file, in any order.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from metering.models import EnergyType, Meter
from metering.registry import services
from portal import audit
from portal.models import Enterprise

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000  # far beyond any plant's registry; bounds the work one upload can cause
XLSX_MAGIC = b"PK\x03\x04"

# field → (Chinese header, English header). The Chinese header is what the template uses.
COLUMNS: dict[str, tuple[str, str]] = {
    "code": ("编号", "code"),
    "name": ("名称", "name"),
    "level": ("级别", "level"),
    "energy_type": ("能源种类", "energy_type"),
    "unit": ("单位", "unit"),
    "cumulative": ("累计", "cumulative"),
    "parent": ("上级表计", "parent"),
    "site_path": ("安装位置", "site_path"),
    "accuracy_class": ("准确度等级", "accuracy_class"),
    "calibrated_on": ("检定日期", "calibrated_on"),
    "calibration_due_on": ("下次检定日期", "calibration_due_on"),
    "data_item_code": ("数据项编码", "data_item_code"),
    "is_it_load": ("IT负载", "is_it_load"),
}
REQUIRED = ("code", "name", "level", "energy_type", "unit")
HEADER_ALIASES: dict[str, str] = {}
for _field, (_zh, _en) in COLUMNS.items():
    HEADER_ALIASES[_zh] = _field
    HEADER_ALIASES[_en] = _field
HEADER_ALIASES.update(
    {
        "表计编号": "code",
        "计量级别": "level",
        "计量单位": "unit",
        "累计值": "cumulative",
        "site_node": "site_path",
        "最近检定日期": "calibrated_on",
    }
)

TRUE_WORDS = frozenset({"是", "true", "yes", "y", "1", "累计", "t"})
FALSE_WORDS = frozenset({"否", "false", "no", "n", "0", "区间", "f"})
LEVEL_WORDS = {"一级": 1, "二级": 2, "三级": 3}
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
SITE_PATH_SEPARATORS = ("／", "\\", ">")

TEMPLATE_EXAMPLE_ROWS = (
    (
        "M-001",
        "总进线电能表",
        1,
        "电力",
        "kWh",
        "是",
        "",
        "一厂区",
        "0.5S",
        "2024-03-01",
        "2025-03-01",
        "DL-0001",
    ),
    (
        "M-101",
        "一车间电能表",
        2,
        "电力",
        "kWh",
        "是",
        "M-001",
        "一厂区/一车间",
        "0.5S",
        "2024-03-01",
        "2025-03-01",
        "DL-0101",
    ),
)


@dataclass(frozen=True)
class RowError:
    row: int | None
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "errors": [e.as_dict() for e in self.errors],
        }


class ImportFileError(Exception):
    """The file as a whole cannot be read (type, size, encoding, header)."""


@dataclass
class ParsedRow:
    number: int
    values: dict[str, Any] = field(default_factory=dict)
    parent_code: str | None = None
    site_path: list[str] | None = None


# --- reading the file -----------------------------------------------------------------------------


def _file_name(file: Any) -> str:
    return str(getattr(file, "name", "") or "")


def _read_bytes(file: Any) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > MAX_IMPORT_BYTES:
        raise ImportFileError(_("文件超过 5 MB，请拆分后再导入。"))
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read(MAX_IMPORT_BYTES + 1)
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError(_("文件超过 5 MB，请拆分后再导入。"))
    return data if isinstance(data, bytes) else data.encode("utf-8")


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Chinese Windows saves CSV as GBK; GB 18030 is its superset.
        try:
            text = data.decode("gb18030")
        except UnicodeDecodeError:
            raise ImportFileError(_("CSV 文件不是 UTF-8 或 GBK 编码，无法读取。")) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise ImportFileError(_("CSV 格式有误：%(error)s") % {"error": exc}) from None


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    if not data.startswith(XLSX_MAGIC):
        raise ImportFileError(_("不是有效的 Excel（.xlsx）文件。"))
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(_("无法读取 Excel 文件：%(error)s") % {"error": exc}) from None
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(row)
    finally:
        workbook.close()


def _rows_of(file: Any) -> list[tuple[int, list[Any]]]:
    name = _file_name(file).lower()
    if name.endswith(".csv"):
        reader = _csv_rows
    elif name.endswith(".xlsx"):
        reader = _xlsx_rows
    else:
        raise ImportFileError(_("只支持 .csv 和 .xlsx 文件（Excel 97-2003 的 .xls 请另存为 .xlsx）。"))
    rows = []
    for number, row in reader(_read_bytes(file)):
        if all(_text(cell) == "" for cell in row):
            continue
        rows.append((number, row))
        if len(rows) > MAX_IMPORT_ROWS + 1:
            raise ImportFileError(_("一次最多导入 %(n)d 行。") % {"n": MAX_IMPORT_ROWS})
    return rows


# --- cell values ----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores 1001 as 1001.0
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return str(value).strip()


def _level(value: Any) -> int:
    text = _text(value)
    if text in LEVEL_WORDS:
        return LEVEL_WORDS[text]
    if text in ("1", "2", "3"):
        return int(text)
    raise ValueError(_("级别必须是 1、2、3（或 一级、二级、三级），不是“%(v)s”。") % {"v": text})


def _energy_type(value: Any) -> str:
    text = _text(value)
    for choice in EnergyType:
        if text.lower() == choice.value or text == str(choice.label):
            return choice.value
    raise ValueError(_("无法识别的能源种类“%(v)s”。") % {"v": text})


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(_("请填“是”或“否”，不是“%(v)s”。") % {"v": _text(value)})


def _date(value: Any) -> dt.date | None:
    if value is None or _text(value) == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(_("日期“%(v)s”无法识别，请写成 2024-03-01。") % {"v": text})


def _site_path(value: Any) -> list[str]:
    text = _text(value)
    for separator in SITE_PATH_SEPARATORS:
        text = text.replace(separator, "/")
    return [part.strip() for part in text.split("/") if part.strip()]


# --- the import -------------------------------------------------------------------------------------


def _header(row: list[Any], number: int, errors: list[RowError]) -> dict[int, tuple[str, str]]:
    """Column index → (field, header text as written)."""
    columns: dict[int, tuple[str, str]] = {}
    seen: dict[str, str] = {}
    for index, cell in enumerate(row):
        text = _text(cell)
        if not text:
            continue
        field_name = HEADER_ALIASES.get(text) or HEADER_ALIASES.get(text.lower())
        if field_name is None:
            errors.append(RowError(number, text, _("无法识别的列名。")))
            continue
        if field_name in seen:
            errors.append(RowError(number, text, _("与列“%(other)s”重复。") % {"other": seen[field_name]}))
            continue
        seen[field_name] = text
        columns[index] = (field_name, text)
    for required in REQUIRED:
        if required not in seen:
            errors.append(RowError(number, COLUMNS[required][0], _("缺少必填列。")))
    return columns


PARSERS = {
    "level": _level,
    "energy_type": _energy_type,
    "cumulative": _boolean,
    "is_it_load": _boolean,
    "calibrated_on": _date,
    "calibration_due_on": _date,
}


def _parse_row(
    number: int, row: list[Any], columns: dict[int, tuple[str, str]], errors: list[RowError]
) -> ParsedRow:
    parsed = ParsedRow(number=number)
    for index, (field_name, header) in columns.items():
        cell = row[index] if index < len(row) else None
        if field_name in REQUIRED and _text(cell) == "":
            errors.append(RowError(number, header, _("必填。")))
            continue
        try:
            if field_name == "parent":
                parsed.parent_code = _text(cell) or None
            elif field_name == "site_path":
                parsed.site_path = _site_path(cell)
            elif field_name == "cumulative" and _text(cell) == "":
                parsed.values["cumulative"] = True
            elif field_name == "is_it_load" and _text(cell) == "":
                parsed.values["is_it_load"] = False  # data centers mark their IT-load meters
            elif field_name in PARSERS:
                parsed.values[field_name] = PARSERS[field_name](cell)
            else:
                parsed.values[field_name] = _text(cell)
        except ValueError as exc:
            errors.append(RowError(number, header, str(exc)))
    return parsed


def _in_dependency_order(
    rows: list[ParsedRow], errors: list[RowError], parent_header: str
) -> list[ParsedRow]:
    """Rows with parents in the same file come after those parents; cycles are reported."""
    by_code = {row.values["code"]: row for row in rows if row.values.get("code")}
    ordered: list[ParsedRow] = []
    state: dict[int, str] = {}  # row number → "visiting" | "done"

    def visit(row: ParsedRow, chain: list[ParsedRow]) -> None:
        if state.get(row.number) == "done":
            return
        if state.get(row.number) == "visiting":
            cycle = "→".join(r.values["code"] for r in [*chain[chain.index(row) :], row])
            errors.append(
                RowError(row.number, parent_header, _("上级表计形成循环：%(cycle)s。") % {"cycle": cycle})
            )
            return
        state[row.number] = "visiting"
        parent_row = by_code.get(row.parent_code or "")
        if parent_row is not None and parent_row is not row:
            visit(parent_row, [*chain, row])
        state[row.number] = "done"
        ordered.append(row)

    for row in rows:
        visit(row, [])
    return ordered


class _RollBack(Exception):
    pass


def meters_import(*, actor: Any, enterprise: Enterprise, file: IO[bytes] | Any) -> ImportReport:
    """Create or update the enterprise's meters from `file`; nothing is written unless every row is valid."""
    report = ImportReport()
    try:
        raw_rows = _rows_of(file)
    except ImportFileError as exc:
        report.errors.append(RowError(None, "", str(exc)))
        return report
    if not raw_rows:
        report.errors.append(RowError(None, "", _("文件是空的。")))
        return report
    header_number, header_row = raw_rows[0]
    columns = _header(header_row, header_number, report.errors)
    if report.errors:
        return report
    headers = {field_name: header for field_name, header in columns.values()}
    if len(raw_rows) == 1:
        report.errors.append(RowError(None, "", _("文件只有表头，没有数据行。")))
        return report

    rows = [_parse_row(number, row, columns, report.errors) for number, row in raw_rows[1:]]
    first_row_of_code: dict[str, int] = {}
    for row in rows:
        code = row.values.get("code")
        if not code:
            continue
        if code in first_row_of_code:
            report.errors.append(
                RowError(
                    row.number,
                    headers["code"],
                    _("编号“%(code)s”与第 %(row)d 行重复。") % {"code": code, "row": first_row_of_code[code]},
                )
            )
        else:
            first_row_of_code[code] = row.number
    if "parent" in headers:
        known = set(first_row_of_code) | set(
            Meter.objects.filter(enterprise=enterprise).values_list("code", flat=True)
        )
        for row in rows:
            if row.parent_code and row.parent_code not in known:
                report.errors.append(
                    RowError(
                        row.number,
                        headers["parent"],
                        _("上级表计“%(code)s”不存在（本企业和本文件中都没有）。") % {"code": row.parent_code},
                    )
                )
    ordered = _in_dependency_order(rows, report.errors, headers.get("parent", COLUMNS["parent"][0]))
    if report.errors:
        report.errors.sort(key=lambda e: e.row or 0)
        return report

    try:
        with transaction.atomic():
            _write(enterprise=enterprise, rows=ordered, headers=headers, report=report)
            if report.errors:
                raise _RollBack
            audit.record(
                "import",
                actor=actor,
                object_type="metering.Meter",
                object_repr=_("表计导入：%(file)s") % {"file": _file_name(file)[:200]},
                changes={
                    "file": _file_name(file)[:200],
                    "created": report.created,
                    "updated": report.updated,
                },
                enterprise_id=enterprise.pk,
            )
    except _RollBack:
        report.created = report.updated = 0
        report.errors.sort(key=lambda e: e.row or 0)
    return report


def _write(
    *, enterprise: Enterprise, rows: list[ParsedRow], headers: dict[str, str], report: ImportReport
) -> None:
    existing = {meter.code: meter for meter in Meter.objects.filter(enterprise=enterprise)}
    failed_codes: set[str] = set()
    for row in rows:
        values = dict(row.values)
        code = values["code"]
        row_failed = False
        if "parent" in headers:
            values["parent"] = None
            if row.parent_code:
                if row.parent_code in failed_codes:
                    report.errors.append(
                        RowError(
                            row.number,
                            headers["parent"],
                            _("上级表计“%(code)s”所在行有误。") % {"code": row.parent_code},
                        )
                    )
                    row_failed = True
                elif row.parent_code not in existing:
                    report.errors.append(
                        RowError(
                            row.number,
                            headers["parent"],
                            _("上级表计“%(code)s”不存在（本企业和本文件中都没有）。")
                            % {"code": row.parent_code},
                        )
                    )
                    row_failed = True
                else:
                    values["parent"] = existing[row.parent_code]
        if "site_path" in headers:
            values["site_node"] = None
            if row.site_path:
                try:
                    values["site_node"] = services.site_node_ensure_path(
                        enterprise=enterprise, names=row.site_path
                    )
                except ValidationError as exc:
                    for message in exc.messages:
                        report.errors.append(RowError(row.number, headers["site_path"], message))
                    row_failed = True
        if row_failed:
            failed_codes.add(code)
            continue
        try:
            # A savepoint per row, so one failed save does not poison the rest of the validation.
            with transaction.atomic():
                if code in existing:
                    existing[code] = services.meter_update(meter=existing[code], **values)
                    report.updated += 1
                else:
                    existing[code] = services.meter_create(enterprise=enterprise, **values)
                    report.created += 1
        except ValidationError as exc:
            failed_codes.add(code)
            for field_name, messages in _errors_by_field(exc).items():
                column = headers.get("site_path" if field_name == "site_node" else field_name, "")
                for message in messages:
                    report.errors.append(RowError(row.number, column, message))


def _errors_by_field(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {key: list(value) for key, value in exc.message_dict.items()}
    return {"": list(exc.messages)}


# --- templates ------------------------------------------------------------------------------------


def template_headers() -> list[str]:
    return [zh for zh, _en in COLUMNS.values()]


def template_csv() -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(template_headers())
    writer.writerows(TEMPLATE_EXAMPLE_ROWS)
    # BOM so Excel opens the UTF-8 file with the right encoding.
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    from openpyxl import Workbook
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("表计")
    sheet.append(template_headers())
    for example in TEMPLATE_EXAMPLE_ROWS:
        sheet.append(list(example))
    levels = DataValidation(type="list", formula1='"1,2,3"', allow_blank=False)
    sheet.add_data_validation(levels)
    levels.add("C2:C2000")
    cumulative = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
    sheet.add_data_validation(cumulative)
    cumulative.add("F2:F2000")
    notes = workbook.create_sheet(_("说明"))
    notes.append([_("列"), _("说明")])
    notes.append([_("级别"), _("1 一级（进出用能单位），2 二级（次级用能单位），3 三级（主要用能设备）")])
    notes.append([_("能源种类"), "、".join(f"{c.label}（{c.value}）" for c in EnergyType)])
    notes.append([_("上级表计"), _("上级表计的编号，可以是本文件中的其他行")])
    notes.append([_("安装位置"), _("厂区/车间/产线/设备，用“/”分隔，不存在时自动创建")])
    notes.append([_("日期"), _("格式 2024-03-01")])
    notes.append([_("IT负载"), _("数据中心：计量 IT 设备用电的表计填“是”，用于计算 PUE；其他留空")])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
