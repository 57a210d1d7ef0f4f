"""Form values: parse and check what an applicant typed, evaluate conditions and formulas, and
say per section what is complete and what is missing.

A draft keeps exactly what was typed (`Submission.data`, strings as entered), so a value that
fails its check stays on the page beside its message; the cleaned value is derived on read.
Table values are lists of row mappings; a table with fixed rows has one mapping per row, in the
rows' order. Error paths are `field`, or `table.<row index>.<column>` inside tables.
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from applications.definitions import FormField, ProgramDefinition, Section, TableField
from portal.credit_code import credit_code_problem

YES = "yes"
NO = "no"
PHONE_PATTERN = re.compile(r"^[0-9+()\- ]{5,30}$")
NUMBER_PATTERN = re.compile(r"^-?\d+(\.\d+)?$")
MONEY_TYPES = ("money",)
# Money and counts are never negative unless a definition says otherwise (min_value).
NON_NEGATIVE_TYPES = ("money", "integer")


@dataclass(frozen=True)
class Context:
    """What conditions may look at besides the form's values."""

    variant: str | None = None
    enterprise_kind: str | None = None
    today: dt.date | None = None


def _is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or raw == [] or raw == {}


def _decimal(raw: Any) -> Decimal | None:
    text = str(raw).strip().replace(",", "").replace("，", "")
    if not NUMBER_PATTERN.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _number(field: FormField, raw: Any) -> tuple[Any, str | None]:
    value = _decimal(raw)
    if value is None:
        example = "1200" if field.type == "integer" else "1200.50"
        return None, _("请填写数字，例如 %(example)s") % {"example": example}
    if field.type == "integer" and value != value.to_integral_value():
        return None, _("请填写整数")
    decimals = field.decimals if field.decimals is not None else (0 if field.type == "integer" else 4)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        return None, _("最多保留 %(decimals)s 位小数") % {"decimals": decimals}
    minimum = field.min_value
    if minimum is None and field.type in NON_NEGATIVE_TYPES:
        minimum = Decimal(0)
    if minimum is not None and value < minimum:
        if minimum == 0:
            return None, _("不能为负数")
        return None, _("不能小于 %(min)s") % {"min": minimum}
    if field.max_value is not None and value > field.max_value:
        return None, _("不能大于 %(max)s") % {"max": field.max_value}
    if field.type == "percent" and field.max_value is None and value > 100:
        return None, _("百分比不能大于 100")
    return value, None


def _date(field: FormField, raw: Any, today: dt.date | None) -> tuple[Any, str | None]:
    text = str(raw).strip()
    try:
        if field.type == "date":
            value = dt.date.fromisoformat(text)
            latest = today
        elif field.type == "month":
            if not re.fullmatch(r"\d{4}-\d{2}", text):
                raise ValueError(text)
            value = dt.date.fromisoformat(f"{text}-01")
            latest = today.replace(day=1) if today else None
        else:
            if not re.fullmatch(r"\d{4}", text):
                raise ValueError(text)
            value = dt.date(int(text), 1, 1)
            latest = today.replace(month=1, day=1) if today else None
    except ValueError:
        example = {"date": "2024-06-30", "month": "2024-06", "year": "2024"}[field.type]
        return None, _("日期格式不对，例如 %(example)s") % {"example": example}
    if value.year < 1900:
        return None, _("年份不对")
    if field.past_only and latest is not None and value > latest:
        return None, _("不能晚于今天")
    return value, None


def value_clean(field: FormField, raw: Any, *, today: dt.date | None = None) -> tuple[Any, str | None]:
    """The cleaned value of one non-blank input, or None and the message shown beside the field."""
    kind = field.type
    if kind in ("text", "textarea"):
        text = str(raw).strip()
        if field.max_length is not None and len(text) > field.max_length:
            return None, _("不超过 %(limit)s 字，现有 %(count)s 字") % {
                "limit": field.max_length, "count": len(text)}
        return text, None
    if kind in ("integer", "decimal", "money", "percent"):
        return _number(field, raw)
    if kind in ("date", "month", "year"):
        return _date(field, raw, today)
    choice_keys = [choice.key for choice in field.choices or ()]
    if kind == "choice":
        return (str(raw), None) if str(raw) in choice_keys else (None, _("请从选项中选择"))
    if kind == "multichoice":
        picked = raw if isinstance(raw, list) else [raw]
        if any(str(key) not in choice_keys for key in picked):
            return None, _("请从选项中选择")
        return [str(key) for key in picked], None
    if kind in ("boolean", "declaration"):
        if raw in (True, YES, "true", "on"):
            return True, None
        if raw in (False, NO, "false") and kind == "boolean":
            return False, None
        return (None, _("请勾选确认")) if kind == "declaration" else (None, _("请选择是或否"))
    if kind == "email":
        try:
            validate_email(str(raw).strip())
        except ValidationError:
            return None, _("电子邮箱格式不对，例如 name@example.com")
        return str(raw).strip(), None
    if kind == "phone":
        text = str(raw).strip()
        if PHONE_PATTERN.match(text):
            return text, None
        return None, _("电话号码格式不对，例如 0371-65509953")
    if kind == "credit_code":
        problem = credit_code_problem(str(raw))
        return (None, str(problem)) if problem else (str(raw).strip().upper(), None)
    return raw, None  # computed fields take no input


# -- conditions --------------------------------------------------------------------------------

def _comparable(value: Any) -> Any:
    if isinstance(value, bool | int | float | Decimal):
        return Decimal(str(value)) if not isinstance(value, bool) else value
    number = _decimal(value) if isinstance(value, str) else None
    return number if number is not None else value


def condition_holds(condition: Mapping[str, Any], *, values: Mapping[str, Any], context: Context) -> bool:
    """Evaluate a definition's condition (format in applications/definitions.py) on cleaned values."""
    if "all" in condition:
        return all(condition_holds(item, values=values, context=context) for item in condition["all"])
    if "any" in condition:
        return any(condition_holds(item, values=values, context=context) for item in condition["any"])
    if "not" in condition:
        return not condition_holds(condition["not"], values=values, context=context)
    if "variant" in condition:
        wanted = condition["variant"]
        return context.variant in (wanted if isinstance(wanted, list) else [wanted])
    if "enterprise_kind" in condition:
        wanted = condition["enterprise_kind"]
        return context.enterprise_kind in (wanted if isinstance(wanted, list) else [wanted])
    value = values.get(condition["field"])
    op, expected = next((key, item) for key, item in condition.items() if key != "field")
    if op == "filled":
        return (not _is_blank(value)) is bool(expected)
    if value is None:
        return op == "not_equals"
    if op == "equals":
        return _comparable(value) == _comparable(expected)
    if op == "not_equals":
        return _comparable(value) != _comparable(expected)
    if op == "in":
        return value in expected or (isinstance(value, list) and bool(set(value) & set(expected)))
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "gte": operator.ge, "gt": operator.gt, "lte": operator.le, "lt": operator.lt}
    left, right = _comparable(value), _comparable(expected)
    if isinstance(left, dt.date) and isinstance(right, str):
        right = dt.date.fromisoformat(right)
    try:
        return compare[op](left, right)
    except TypeError:
        return False


# -- formulas ----------------------------------------------------------------------------------

ALLOWED_FORMULA_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call,
                         ast.Attribute, ast.Load, ast.USub, ast.UAdd, ast.operator)
_BINARY: dict[type, Callable[[Decimal, Decimal], Decimal]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


class FormulaError(ValueError):
    pass


def formula_names(formula: str) -> set[str]:
    """The field keys a formula reads (dotted `table.column` for sums over a table's column)."""
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"formula {formula!r} is not arithmetic: {exc.msg}") from exc
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "sum" and len(node.args) == 1
                    and isinstance(node.args[0], ast.Attribute) and isinstance(node.args[0].value, ast.Name)):
                raise FormulaError(f"formula {formula!r}: only sum(table.column) may be called")
            names.add(f"{node.args[0].value.id}.{node.args[0].attr}")
        elif isinstance(node, ast.Name) and node.id != "sum":
            names.add(node.id)
        elif not isinstance(node, ALLOWED_FORMULA_NODES):
            raise FormulaError(f"formula {formula!r}: {type(node).__name__} is not allowed")
    return names


def formula_evaluate(formula: str, values: Mapping[str, Any]) -> Decimal | None:
    """Evaluate arithmetic over cleaned values; None when an input is missing or a division by zero."""
    tree = ast.parse(formula, mode="eval")

    def number(node: ast.AST) -> Decimal | None:
        if isinstance(node, ast.Expression):
            return number(node.body)
        if (isinstance(node, ast.Constant) and isinstance(node.value, int | float)
                and not isinstance(node.value, bool)):
            return Decimal(str(node.value))
        if isinstance(node, ast.Name):
            value = values.get(node.id)
            return value if isinstance(value, Decimal) else None
        if isinstance(node, ast.Call) and isinstance(node.args[0], ast.Attribute):
            column = node.args[0]
            assert isinstance(column.value, ast.Name)
            rows = values.get(column.value.id) or []
            cells = [row.get(column.attr) for row in rows if isinstance(row, Mapping)]
            numbers = [cell for cell in cells if isinstance(cell, Decimal)]
            return sum(numbers, Decimal(0)) if numbers else None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = number(node.operand)
            return None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = number(node.left), number(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Div) and right == 0:
                return None
            return _BINARY[type(node.op)](left, right)
        raise FormulaError(f"formula {formula!r}: {type(node).__name__} is not allowed")

    return number(tree)


def computed_value(field: FormField, values: Mapping[str, Any]) -> Decimal | None:
    """A computed field's value, rounded to its decimals (two unless the definition says)."""
    assert field.formula is not None
    value = formula_evaluate(field.formula, values)
    if value is None:
        return None
    places = field.decimals if field.decimals is not None else 2
    return value.quantize(Decimal(1).scaleb(-places))


# -- the whole form ----------------------------------------------------------------------------

@dataclass
class SectionStatus:
    key: str
    title: str
    required: int = 0
    filled: int = 0
    missing: list[str] = field(default_factory=list)  # labels of required items still empty
    errors: int = 0

    @property
    def complete(self) -> bool:
        return not self.missing and not self.errors

    @property
    def percent(self) -> int:
        return 100 if not self.required else round(100 * self.filled / self.required)


@dataclass
class FormCheck:
    values: dict[str, Any]  # cleaned values, computed fields included
    errors: dict[str, str]  # path → message
    sections: list[SectionStatus]
    applicable_sections: list[str]

    @property
    def complete(self) -> bool:
        return all(section.complete for section in self.sections)


def label_of(label: Any, language: str | None = None) -> str:
    """The label in the active language: English when the page is English, Chinese otherwise."""
    from django.utils.translation import get_language

    language = language or get_language() or "zh-hans"
    return str(label.en if language.startswith("en") else label.zh)


def _clean_item(item: FormField, raw: Any, today: dt.date | None) -> tuple[Any, str | None]:
    if _is_blank(raw):
        return None, None
    return value_clean(item, raw, today=today)


def _clean_table(table: TableField, raw: Any, today: dt.date | None,
                 errors: dict[str, str]) -> list[dict[str, Any]]:
    rows = raw if isinstance(raw, list) else []
    if table.rows is not None:
        rows = [*rows[: len(table.rows)], *([{}] * (len(table.rows) - len(rows)))]
    cleaned: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        row = row if isinstance(row, Mapping) else {}
        out: dict[str, Any] = {}
        for column in table.columns:
            if column.type == "computed":
                continue
            value, error = _clean_item(column, row.get(column.key), today)
            out[column.key] = value
            if error:
                errors[f"{table.key}.{index}.{column.key}"] = error
        for column in table.columns:
            if column.type == "computed" and column.formula:
                out[column.key] = computed_value(column, out)
        cleaned.append(out)
    return cleaned


def _applies(item: Any, values: Mapping[str, Any], context: Context) -> bool:
    return item.applies_if is None or condition_holds(item.applies_if, values=values, context=context)


def _item_required(item: FormField | TableField, values: Mapping[str, Any], context: Context) -> bool:
    if item.required:
        return True
    required_if = getattr(item, "required_if", None)
    return required_if is not None and condition_holds(required_if, values=values, context=context)


def _table_filled(table: TableField, rows: list[dict[str, Any]]) -> list[str]:
    """Missing cells of a table's required columns, as 'row label · column label'."""
    missing: list[str] = []
    required_columns = [column for column in table.columns if column.required and column.type != "computed"]
    if table.rows is None and len(rows) < max(table.min_rows, 1 if table.required else 0):
        missing.append(label_of(table.label))
        return missing
    for index, row in enumerate(rows):
        row_label = label_of(table.rows[index].label) if table.rows else str(index + 1)
        missing += [f"{row_label} · {label_of(column.label)}" for column in required_columns
                    if _is_blank(row.get(column.key))]
    return missing


def form_check(definition: ProgramDefinition, data: Mapping[str, Any], *, context: Context) -> FormCheck:
    """Clean every value, compute computed fields, and say per section what is missing."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for item in definition.items():
        if isinstance(item, TableField):
            values[item.key] = _clean_table(item, data.get(item.key), context.today, errors)
        elif item.type != "computed":
            value, error = _clean_item(item, data.get(item.key), context.today)
            values[item.key] = value
            if error:
                errors[item.key] = error
            if item.choices and any(choice.with_text for choice in item.choices):
                values[f"{item.key}__text"] = str(data.get(f"{item.key}__text") or "").strip()
    for item in definition.fields():
        if item.type == "computed" and item.formula:
            values[item.key] = computed_value(item, values)
    statuses: list[SectionStatus] = []
    applicable: list[str] = []
    for section in definition.sections:
        # Sections the authority fills (its recommendation) are not the applicant's to complete.
        if section.filled_by != "applicant" or not _applies(section, values, context):
            continue
        applicable.append(section.key)
        statuses.append(_section_status(section, values, errors, context))
    return FormCheck(values=values, errors=errors, sections=statuses, applicable_sections=applicable)


def _section_status(section: Section, values: Mapping[str, Any], errors: Mapping[str, str],
                    context: Context) -> SectionStatus:
    status = SectionStatus(key=section.key, title=label_of(section.title))
    for item in section.items:
        if not _applies(item, values, context) or (isinstance(item, FormField) and item.type == "computed"):
            continue
        item_errors = [path for path in errors if path == item.key or path.startswith(f"{item.key}.")]
        status.errors += len(item_errors)
        if isinstance(item, TableField):
            missing = _table_filled(item, values.get(item.key) or [])
            status.required += 1
            status.filled += 0 if missing else 1
            status.missing += missing
            continue
        if not _item_required(item, values, context):
            continue
        status.required += 1
        if _is_blank(values.get(item.key)):
            status.missing.append(label_of(item.label))
        else:
            status.filled += 1
    return status
