"""The shipped checklists hold every criterion of their seed, in the seed's order, and nothing else;
the measured evidence beside items names figures the reviewer can be shown."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from applications.definitions import EVIDENCE_INDICATORS, Checklist, ProgramDefinition, definition_validate
from applications.services import PROGRAMS_DIR, program_definition_read
from tests.reviews import seed_checklists

SHIPPED = ("henan_dcmc_2023", "shanghai_emc_2024", "henan_contest_2025")


def _definition(code: str) -> ProgramDefinition:
    return definition_validate(program_definition_read(PROGRAMS_DIR / f"{code}.yaml"))


def _checklist(code: str, key: str) -> Checklist:
    found = next((checklist for checklist in _definition(code).checklists if checklist.key == key), None)
    assert found is not None, f"{code}: no checklist {key}"
    return found


def _normal(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


def test_henan_seven_element_conditions_in_order_each_with_its_text():
    checklist = _checklist("henan_dcmc_2023", "element_conditions")
    assert [_normal(item.label.zh) for item in checklist.items] == [
        _normal(heading) for heading, _text in seed_checklists.HENAN_ELEMENT_CONDITIONS]
    numbers = "一二三四五六七"
    for number, item, (heading, text) in zip(numbers, checklist.items,
                                              seed_checklists.HENAN_ELEMENT_CONDITIONS, strict=True):
        assert _normal(item.seed).startswith(_normal(f"二、要素条件（{number}）：{heading}。")), item.key
        assert _normal(text) in _normal(item.seed), item.key
        assert item.mode == "verdict" and not item.allow_na, item.key
    assert checklist.conclusion == "verdict"


@pytest.mark.parametrize(("key", "variant", "expected"), [
    ("enterprise_check", "enterprise", seed_checklists.SHANGHAI_ENTERPRISE_CHECK),
    ("park_check", "park", seed_checklists.SHANGHAI_PARK_CHECK),
])
def test_shanghai_on_site_checks_hold_every_category_and_criterion_in_order(key, variant, expected):
    checklist = _checklist("shanghai_emc_2024", key)
    assert checklist.applies_if == {"variant": variant}
    found = [(_normal(item.category.zh if item.category else ""), _normal(item.label.zh))
             for item in checklist.items]
    assert found == [(_normal(category), _normal(criterion)) for category, criterion in expected]
    assert all(item.mode == "verdict" for item in checklist.items)
    assert checklist.conclusion == "verdict"
    # Only alternatives (the effects, the data-center-only criterion) may be left out.
    optional = {item.key for item in checklist.items if item.allow_na}
    assert optional and all(key.startswith("effect_") or "datacenter" in key for key in optional), optional


def test_shanghai_evidence_sits_beside_the_criteria_it_measures():
    for key in ("enterprise_check", "park_check"):
        evidence = {item.key: item.evidence for item in _checklist("shanghai_emc_2024", key).items}
        assert evidence["security_storage"] == ["storage_years"]
        assert evidence["effect_saving"] == ["saving_rate"]
        assert "stable_months" in evidence["operation_stable"]
        access = next(items for name, items in evidence.items() if "access_rate_1" in items)
        assert access == ["access_rate_1", "access_rate_2", "access_rate_3"]
    enterprise_check = _checklist("shanghai_emc_2024", "enterprise_check")
    enterprise = {item.key: item.evidence for item in enterprise_check.items}
    assert "pue" in enterprise["effect_consumption"]  # data centers: 综合PUE (附件1 四（二）(4))


def test_contest_rubrics_hold_each_tracks_elements_in_order():
    technology = _checklist("henan_contest_2025", "technology_rubric")
    expected = [(_normal(part), _normal(element))
                for part, element, _standard in seed_checklists.CONTEST_TECHNOLOGY]
    assert [(_normal(item.category.zh if item.category else ""), _normal(item.label.zh))
            for item in technology.items] == expected
    for item, (_part, _element, standard) in zip(technology.items, seed_checklists.CONTEST_TECHNOLOGY,
                                                  strict=True):
        assert _normal(standard) in _normal(item.seed), item.key
    basic = technology.items[:2]
    assert all(item.mode == "verdict" and item.veto and not item.allow_na for item in basic)
    for key, elements in (("product_rubric", seed_checklists.CONTEST_PRODUCT),
                          ("service_rubric", seed_checklists.CONTEST_SERVICE)):
        checklist = _checklist("henan_contest_2025", key)
        assert [_normal(item.label.zh) for item in checklist.items] == [
            _normal(element) for element, _ in elements]
        for item, (_element, standard) in zip(checklist.items, elements, strict=True):
            assert _normal(standard) in _normal(item.seed), item.key
    # Each form's rubric applies to the tracks that use the form, and scores out of 100.
    rubrics = _definition("henan_contest_2025").checklists
    assert {checklist.key: checklist.applies_if for checklist in rubrics} == {
        "technology_rubric": {"variant": "technology"}, "product_rubric": {"variant": "product"},
        "service_rubric": {"variant": "service_case"}}
    for checklist in rubrics:
        points = [item for item in checklist.items if item.mode == "points"]
        assert checklist.conclusion == "score"
        assert sum((item.max_points or 0) * item.weight for item in points) == Decimal(100), checklist.key


@pytest.mark.parametrize("code", SHIPPED)
def test_every_item_says_where_it_sits_and_names_known_evidence(code):
    known = {*EVIDENCE_INDICATORS, "storage_years"}
    definition = _definition(code)
    assert definition.workflow is not None and definition.checklists
    for checklist in definition.checklists:
        for item in checklist.items:
            assert item.seed, f"{checklist.key}.{item.key}"
            assert set(item.evidence) <= known, f"{checklist.key}.{item.key}: {item.evidence}"
