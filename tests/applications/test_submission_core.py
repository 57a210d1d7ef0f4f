"""The core of applications: the definition format, form values, drafts that keep everything,
filing that freezes evidence, and definition versions that filed submissions keep."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django_scopes import scopes_disabled

from applications.definitions import DefinitionFormatError, definition_validate
from applications.models import Evidence, Program, Submission, SubmissionState
from applications.selectors import submission_definition, submission_status
from applications.services import (
    SubmissionRefused,
    program_load,
    submission_save,
    submission_start,
    submission_submit,
)
from applications.values import Context, form_check
from tests.applications.core_definition import core_definition

TODAY = dt.date(2026, 6, 1)


def test_a_broken_definition_names_the_field():
    data = core_definition()
    data["sections"][1]["items"][1]["max_length"] = -5
    data["sections"][0]["items"].append({"key": "Bad Key", "type": "text", "label": {"zh": "坏"}})
    with pytest.raises(DefinitionFormatError) as caught:
        definition_validate(data)
    problems = "\n".join(caught.value.problems)
    assert "sections[1] (center) → items[1] (summary) → max_length" in problems
    assert "sections[0] (basic) → items[4] (Bad Key) → key" in problems
    assert "label → en: Field required" in problems


def test_a_definition_refuses_unknown_keys_and_dangling_references():
    data = core_definition()
    data["sections"][1]["items"][2]["evidence"] = "nonexistent"
    with pytest.raises(DefinitionFormatError, match="evidence 'nonexistent' is not declared"):
        definition_validate(data)
    data = core_definition()
    data["sections"][0]["colour"] = "red"
    with pytest.raises(DefinitionFormatError, match="colour: Extra inputs are not permitted"):
        definition_validate(data)


def test_values_are_checked_and_computed():
    definition = definition_validate(core_definition())
    data = {
        "company_name": "甲", "founded": "2030-01-01", "summary": "一二三四五六七八九十十一",
        "investment": "-3", "energy_tce": "12,5x",
        "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "abc", "liabilities": "10"}],
    }
    check = form_check(definition, data, context=Context(today=TODAY))
    assert check.errors["founded"] == "不能晚于今天"
    assert check.errors["summary"] == "不超过 10 字，现有 12 字"
    assert check.errors["investment"] == "不能为负数"
    assert check.errors["energy_tce"].startswith("请填写数字")
    assert check.errors["economics.1.assets"].startswith("请填写数字")
    assert check.values["economics"][0]["debt_ratio"] == Decimal(25)
    assert check.values["economics"][1]["debt_ratio"] is None
    basic, center = check.sections
    assert not basic.complete and "2024年 · 总资产" in basic.missing
    assert "真实性承诺" in center.missing
    assert not check.complete


@pytest.fixture
def program(db) -> Program:
    with scopes_disabled():
        program, _ = program_load(definition=core_definition())
    return program


def _complete_data() -> dict[str, object]:
    return {"founded": "2010-05-01", "summary": "十字以内", "investment": "80", "energy_tce": "1000",
            "commitment": "yes", "claims_big": "no",
            "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}]}


def test_a_draft_keeps_what_was_typed_and_filing_waits_for_completeness(world, program):
    user = world.user("a_admin")
    with scopes_disabled():
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user, today=TODAY)
        assert submission.data["company_name"] == world.tenant_a.name
        check = submission_save(submission=submission, user=user,
                                changes={"investment": "-3", "unknown": "x"})
        assert check.errors == {"investment": "不能为负数"}
        submission.refresh_from_db()
        assert submission.data["investment"] == "-3" and "unknown" not in submission.data
        with pytest.raises(SubmissionRefused) as refused:
            submission_submit(submission=submission, user=user, today=TODAY)
        assert any("请上传营业执照" in message for message in refused.value.messages)
        assert Submission.objects.get(pk=submission.pk).state == SubmissionState.DRAFT


def test_a_conditional_attachment_is_required_only_when_its_condition_holds(world, program):
    user = world.user("a_admin")
    with scopes_disabled():
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user, today=TODAY)
        submission_save(submission=submission, user=user, changes=_complete_data())
        kinds = submission_status(submission, today=TODAY).attachments
        labels = {kind.kind.key: kind.required for kind in kinds}
        assert labels == {"licence": True, "audit_report": False}
        submission_save(submission=submission, user=user, changes={"investment": "150"})
        status = submission_status(submission, today=TODAY)
        assert "请上传专项审计报告" in status.blockers


def test_filing_freezes_evidence_and_keeps_the_definition_version(world, program):
    user = world.user("a_admin")
    with scopes_disabled():
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user, today=TODAY)
        submission_save(submission=submission, user=user, changes=_complete_data())
        submission.attachment_files.create(kind="licence", file="attachments/x", original_name="licence.pdf",
                                           content_type="application/pdf", size=10, sha256="0" * 64)
        filed = submission_submit(submission=submission, user=user, today=TODAY)
        assert filed.state == SubmissionState.SUBMITTED and filed.submitted_at is not None
        evidence = Evidence.objects.get(submission=filed)
        # No meters: nothing is measured for 2025 (not zero), so the typed 1000 is kept, unflagged.
        assert (evidence.period_start, evidence.period_end) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
        assert evidence.value is None and evidence.typed_value == "1000" and not evidence.flagged
        assert filed.filings.get().values["economics"][1]["debt_ratio"] == "20.00"
        # The program changes: the filed submission keeps the definition it was filed with.
        changed = core_definition(version=2)
        changed["sections"][1]["items"][1]["max_length"] = 5
        program_load(definition=changed)
        program.refresh_from_db()
        assert program.version == 2
        filed.refresh_from_db()
        assert filed.definition_version == 1
        assert submission_definition(filed).sections[1].items[1].max_length == 10
        with pytest.raises(SubmissionRefused):
            submission_save(submission=filed, user=user, changes={"summary": "改"})
