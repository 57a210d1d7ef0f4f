"""The shipped program definitions hold every field of their seed forms, in the seed's order."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from applications.attachments import attachments_check
from applications.definitions import FormField, ProgramDefinition, TableField, definition_validate
from applications.services import PROGRAMS_DIR, program_definition_read, programs_load
from applications.values import Context, condition_holds, form_check
from tests.applications import seed_fields

TODAY = dt.date(2025, 6, 1)
SHIPPED = ("henan_dcmc_2023", "shanghai_emc_2024", "henan_contest_2025")


def _definition(code: str) -> ProgramDefinition:
    return definition_validate(program_definition_read(PROGRAMS_DIR / f"{code}.yaml"))


def _normal(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _applies(item: object, context: Context) -> bool:
    condition = getattr(item, "applies_if", None)
    return condition is None or condition_holds(condition, values={}, context=context)


def _form_labels(definition: ProgramDefinition, variant: str | None) -> list[str]:
    """The labels the variant's form shows, in the definition's order (tables: label, rows, columns)."""
    context = Context(variant=variant, today=TODAY)
    labels: list[str] = []
    for section in definition.sections:
        if not _applies(section, context):
            continue
        for item in section.items:
            if not _applies(item, context):
                continue
            labels.append(_normal(item.label.zh))
            if isinstance(item, TableField):
                labels += [_normal(row.label.zh) for row in item.rows or ()]
                labels += [_normal(column.label.zh) for column in item.columns]
    return labels


def _in_order(expected: list[str], found: list[str], *, contains: bool = False) -> list[str]:
    """Problems with `expected` as an ordered subsequence of `found` ('missing' or 'out of order')."""
    problems = []
    position = 0
    for label in map(_normal, expected):
        def matches(candidate: str, label: str = label) -> bool:
            return label in candidate if contains else candidate == label
        later = next((index for index in range(position, len(found)) if matches(found[index])), None)
        if later is not None:
            position = later + 1
        elif any(matches(candidate) for candidate in found):
            problems.append(f"{label}: present but out of the seed's order")
        else:
            problems.append(f"{label}: missing")
    return problems


def _checklist_cases(checklists: dict[str, dict[str | None, list[str]]]) -> list[tuple[str, str | None]]:
    return [(code, variant) for code, variants in checklists.items() for variant in variants]


def test_every_shipped_file_loads(db):
    result = programs_load()
    assert result.ok, [str(error) for error in result.errors]
    assert sorted(result.created + result.updated + result.unchanged) == sorted(SHIPPED)
    assert sorted(path.stem for path in PROGRAMS_DIR.glob("*.yaml")) == sorted(SHIPPED)


@pytest.mark.parametrize(("code", "variant"), _checklist_cases(seed_fields.SEED_FIELDS))
def test_every_seed_field_is_in_the_definition_in_the_seeds_order(code, variant):
    definition = _definition(code)
    if variant is not None:
        assert definition.variant(variant) is not None, f"{code} has no variant {variant}"
    labels = _form_labels(definition, variant)
    assert _in_order(seed_fields.SEED_FIELDS[code][variant], labels) == []


def test_the_checker_notices_a_missing_field_and_a_swapped_pair():
    assert _in_order(["甲", "乙", "丙"], ["甲", "丙", "乙"]) == ["丙: present but out of the seed's order"]
    assert _in_order(["甲", "丁"], ["甲", "乙"]) == ["丁: missing"]


@pytest.mark.parametrize(("code", "variant"), _checklist_cases(seed_fields.SEED_ATTACHMENTS))
def test_every_seed_attachment_is_a_kind_in_the_seeds_order(code, variant):
    definition = _definition(code)
    context = Context(variant=variant, today=TODAY)
    labels = [_normal(kind.label.zh) for kind in definition.attachments if _applies(kind, context)]
    assert _in_order(seed_fields.SEED_ATTACHMENTS[code][variant], labels, contains=True) == []


def test_every_field_says_where_it_sits_in_the_seed():
    for code in SHIPPED:
        definition = _definition(code)
        unplaced = [item.key for item in definition.items() if not item.seed]
        unplaced += [f"{item.key}.{column.key}" for item in definition.items() if isinstance(item, TableField)
                     for column in item.columns if not column.seed]
        unplaced += [kind.key for kind in definition.attachments if not kind.seed]
        unplaced += [rule.key for rule in definition.eligibility if not rule.seed]
        assert unplaced == [], code


# -- Henan 2023 ---------------------------------------------------------------------------------

def test_henan_summary_table_is_the_six_columns_of_annex_2():
    definition = _definition("henan_dcmc_2023")
    assert definition.summary_table is not None
    columns = definition.summary_table.columns
    assert [column.label.zh for column in columns] == seed_fields.HENAN_DCMC_2023_SUMMARY
    assert [column.source for column in columns] == [
        "seq", "field:center_name", "enterprise.name", "enterprise.county", "enterprise.industry",
        "field:summary_remarks"]
    for column in columns:
        if column.source.startswith("field:"):
            assert definition.item(column.source.removeprefix("field:")) is not None


def test_henan_economics_row_computes_the_debt_ratio_and_takes_a_loss():
    definition = _definition("henan_dcmc_2023")
    row = {"total_assets": "12000", "total_liabilities": "5460", "revenue": "8000", "profit": "-120.5",
           "taxes": "300"}
    check = form_check(definition, {"economics": [row, {**row, "total_assets": "-5"}]},
                       context=Context(today=TODAY))
    economics = check.values["economics"]
    assert len(economics) == 3  # the three fixed years, the missing one empty
    assert economics[0]["debt_ratio"] == Decimal("45.50")
    assert economics[0]["profit"] == Decimal("-120.5")
    assert "economics.0.profit" not in check.errors
    assert check.errors["economics.1.total_assets"] == "不能为负数"
    assert economics[2]["debt_ratio"] is None


def test_henan_before_after_figures_are_measured_around_the_completion_month():
    definition = _definition("henan_dcmc_2023")
    specs = {spec.key: spec for spec in definition.evidence}
    indicators = {(spec.indicator, spec.period) for spec in specs.values()}
    assert indicators == {(indicator, period) for indicator in
                          ("total_tce", "co2_t", "energy_intensity", "carbon_intensity")
                          for period in ("base_year", "after_completion")}
    assert {spec.base_year_field for spec in specs.values()} == {"center_completed"}
    completed = definition.item("center_completed")
    assert isinstance(completed, FormField) and completed.type == "month" and completed.past_only
    backed = {field.key: field.evidence for field in definition.fields() if field.evidence}
    assert backed == {key: key for key in specs}


def test_henan_limits_signatures_and_the_citys_section():
    definition = _definition("henan_dcmc_2023")
    limits = {field.key: field.max_length for field in definition.fields() if field.type == "textarea"}
    assert limits["center_overview"] == 500
    assert [limits[key] for key in ("data_network", "information_security", "optimised_control",
                                    "data_management", "carbon_system", "integration",
                                    "dispatch_infrastructure", "management_system")] == [300] * 8
    commitment = definition.section("commitment")
    assert commitment is not None
    assert [label.zh for label in commitment.signatures] == ["法定代表人签字", "公章", "日期"]
    recommendation = definition.section("recommendation")
    assert recommendation is not None and recommendation.filled_by == "authority"
    assert recommendation.signatures[0].zh == "推荐单位（公章）"
    photos = definition.attachment_kind("photos")
    assert photos is not None and photos.min_count == 10 and photos.types == ["jpg", "png"]
    signed = definition.attachment_kind("signed_application")
    assert signed is not None and signed.signed_scan_of == "application"
    assert signed.signed_scan_of in {document.key for document in definition.documents}


# -- Shanghai 2024 ------------------------------------------------------------------------------

def test_shanghai_print_rules_are_those_of_annex_4():
    definition = _definition("shanghai_emc_2024")
    application = next(document for document in definition.documents if document.key == "application")
    rules = application.print_rules
    assert rules.page_size == "A4"
    assert (rules.margin_top_cm, rules.margin_bottom_cm, rules.margin_left_cm, rules.margin_right_cm) == (
        Decimal("2.54"), Decimal("2.54"), Decimal("3.17"), Decimal("3.17"))
    assert rules.cover and rules.toc and rules.page_numbers == "bottom-right"
    assert rules.title_font == "heiti"
    assert rules.cover_title == "上海市工业通信业节能减排和合同能源管理专项资金（能源管理中心）项目申报材料"
    cover = definition.section("cover")
    assert cover is not None and application.sections and application.sections[0] == "cover"
    assert [_normal(item.label.zh) for item in cover.items] == seed_fields.SHANGHAI_COVER
    # Every printed document of the program keeps the page layout.
    for document in definition.documents:
        assert (document.print_rules.margin_left_cm, document.print_rules.page_numbers) == (
            Decimal("3.17"), "bottom-right")


def _shanghai_audit_status(investment: dict[str, str]) -> tuple[Decimal | None, bool, list[str]]:
    definition = _definition("shanghai_emc_2024")
    context = Context(variant="enterprise", enterprise_kind="industrial", today=TODAY)
    check = form_check(definition, investment, context=context)
    statuses = attachments_check(definition, counts={}, values=check.values, context=context)
    audit = next(status for status in statuses if status.kind.key == "special_audit_report")
    return check.values["investment_total"], audit.required, audit.problems


def test_shanghai_special_audit_report_is_required_from_one_million_yuan():
    total, required, problems = _shanghai_audit_status({
        "invest_construction": "40", "invest_equipment": "70", "invest_software": "30", "invest_other": "10"})
    assert total == Decimal("150.00")
    assert required and problems == ["请上传专项审计报告"]
    total, required, problems = _shanghai_audit_status({
        "invest_construction": "20", "invest_equipment": "40", "invest_software": "15", "invest_other": "5"})
    assert total == Decimal("80.00")
    assert not required and problems == []


def test_shanghai_variants_eligibility_and_the_park_rows():
    definition = _definition("shanghai_emc_2024")
    assert {variant.key: variant.enterprise_kinds for variant in definition.variants} == {
        "enterprise": ["industrial", "data_center"], "park": ["park"]}
    rules = {rule.key: rule for rule in definition.eligibility}
    assert rules["registered_in_shanghai"].region == "310000"
    assert (rules["energy_2000_tce"].value, rules["energy_2000_tce"].applies_if) == (
        Decimal(2000), {"variant": "enterprise"})
    assert rules["stable_six_months"].value == Decimal(6)
    stable = definition.evidence_spec(rules["stable_six_months"].evidence or "")
    assert stable is not None and stable.indicator == "stable_months"
    context = Context(variant="park", enterprise_kind="park", today=TODAY)
    check = form_check(definition, {"acceptance_date": "2021-01-01", "last_year_tce": "8000",
                                    "park_large_enterprises": "8", "park_connected_enterprises": "6",
                                    "park_connected_tce": "5000"}, context=context)
    assert check.values["park_connected_share"] == Decimal("75.00")
    assert check.values["park_connected_tce_share"] == Decimal("62.50")
    accepted = rules["accepted_after_2021"].when
    assert accepted is not None and not condition_holds(accepted, values=check.values, context=context)
    assert condition_holds(accepted, values={"acceptance_date": dt.date(2021, 1, 2)}, context=context)
    authorization = definition.item("auth_id_number")
    assert isinstance(authorization, FormField)
    assert (authorization.type, authorization.max_length) == ("text", 18)


# -- Henan 2025 contest -------------------------------------------------------------------------

def test_contest_tracks_name_their_forms_and_city_minimums():
    definition = _definition("henan_contest_2025")
    assert [(track.label.zh, track.form, track.min_recommended_per_city) for track in definition.tracks] == [
        ("清洁生产技术创新成果", "technology", 3), ("节能降碳技术创新成果", "technology", 3),
        ("资源高效利用技术创新成果", "technology", 3), ("工业绿色设计产品创新成果", "product", 3),
        ("绿色制造供应商服务工业绿色低碳发展典型案例", "service_case", 0)]
    for variant in definition.variants:
        assert variant.enterprise_kinds == ["industrial", "data_center", "park"]


def test_contest_check_boxes_are_the_seeds():
    definition = _definition("henan_contest_2025")
    by_label = {_normal(field.label.zh): field for field in definition.fields() if field.choices}
    for label, options in seed_fields.HENAN_CONTEST_2025_CHOICES.items():
        field = by_label[_normal(label)]
        assert [choice.label.zh for choice in field.choices or ()] == options
        assert {choice.label.zh for choice in field.choices or () if choice.with_text} == (
            seed_fields.HENAN_CONTEST_2025_WITH_TEXT & set(options))


def test_contest_ip_authorization_is_required_when_the_ip_is_shared():
    definition = _definition("henan_contest_2025")
    context = Context(variant="technology", enterprise_kind="industrial", today=TODAY)

    def authorization_required(data: dict[str, str]) -> bool:
        check = form_check(definition, data, context=context)
        statuses = attachments_check(definition, counts={}, values=check.values, context=context)
        return next(status for status in statuses if status.kind.key == "tech_ip_authorization").required

    assert authorization_required({"ip_status": "shared", "ip_status__text": "某某大学"})
    assert not authorization_required({"ip_status": "own"})
    check = form_check(definition, {"ip_status": "shared", "ip_status__text": " 某某大学 "}, context=context)
    assert check.values["ip_status__text"] == "某某大学"
    # A product entry does not see the technology form's sections or its materials.
    product = Context(variant="product", today=TODAY)
    sections = form_check(definition, {}, context=product).applicable_sections
    assert sections == ["conditions", "cover", "unit", "product", "commitment"]
    statuses = attachments_check(definition, counts={}, values={}, context=product)
    kinds = [status.kind.key for status in statuses]
    assert "tech_ip_proof" not in kinds and "product_carbon_footprint" in kinds
