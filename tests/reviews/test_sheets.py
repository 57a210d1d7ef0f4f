"""The sheet services: who may write a sheet and when, and how each judgement is checked."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_scopes import scopes_disabled

from applications.models import Submission, SubmissionState
from reviews.models import Assignment, ScoreItem
from reviews.sheets import SheetRefused, sheet_for, sheet_save, sheet_submit
from tests.reviews.test_admin import filed, program, under_review  # noqa: F401  (fixtures)


@pytest.fixture
def sheet(world, under_review):  # type: ignore[no-untyped-def]  # noqa: F811
    with scopes_disabled():
        assignment = Assignment.objects.get(submission=under_review, expert=world.user("expert"))
        return sheet_for(assignment, "onsite")


def test_judgements_are_checked_item_by_item(world, sheet):
    expert = world.user("expert")
    with scopes_disabled():
        saved = sheet_save(
            sheet,
            {
                "metering": {"verdict": "meets", "note": "表计齐全"},
                "records": {"verdict": "maybe"},
                "management": {"points": "7.5"},
                "no_accident": {"verdict": "meets", "points": "3"},
                "unknown": {"verdict": "meets"},
            },
            actor=expert,
        )
        assert sorted(saved.saved) == ["management", "metering"]
        assert set(saved.errors) == {"records", "no_accident", "unknown"}
        again = sheet_save(
            sheet,
            {"management": {"points": "1.234"}, "metering": {"verdict": "meets", "note": "表计齐全"}},
            actor=expert,
        )
        assert again.saved == [] and "两位小数" in again.errors["management"]
        assert ScoreItem.objects.get(sheet=sheet, item="management").points == Decimal("7.5")
        assert sheet_save(sheet, {"management": {"verdict": "na"}}, actor=expert).saved == ["management"]


def test_only_the_sheets_own_expert_writes_it_while_under_review(world, sheet, under_review):  # noqa: F811
    with scopes_disabled():
        for outsider in ("henan_officer", "zhengzhou_reviewer", "a_admin"):
            with pytest.raises(SheetRefused, match="专家本人"):
                sheet_save(sheet, {"metering": {"verdict": "meets"}}, actor=world.user(outsider))
        Submission.objects.filter(pk=under_review.pk).update(state=SubmissionState.PASSED)
        with pytest.raises(SheetRefused, match="状态"):
            sheet_save(sheet, {"metering": {"verdict": "meets"}}, actor=world.user("expert"))
        assert not ScoreItem.objects.filter(sheet=sheet).exists()


def test_a_sheet_is_submitted_once_complete_and_then_kept(world, sheet):
    expert = world.user("expert")
    with scopes_disabled():
        sheet_save(sheet, {"metering": {"verdict": "meets"}}, actor=expert)
        with pytest.raises(SheetRefused, match="还有 3 项未评判"):
            sheet_submit(sheet, actor=expert)
        sheet_save(
            sheet,
            {
                "records": {"verdict": "na"},
                "management": {"points": "10"},
                "no_accident": {"verdict": "fails"},
            },
            actor=expert,
        )
        with pytest.raises(SheetRefused, match="专家本人"):
            sheet_submit(sheet, actor=world.user("henan_officer"))
        sheet_submit(sheet, actor=expert)
        assert sheet.submitted_at is not None
        with pytest.raises(SheetRefused, match="不能再修改"):
            sheet_save(sheet, {"no_accident": {"verdict": "meets"}}, actor=expert)
        assert ScoreItem.objects.get(sheet=sheet, item="no_accident").verdict == "fails"


def test_no_sheet_is_started_before_the_expert_step(world, filed):  # noqa: F811
    a, _b = filed
    with scopes_disabled():
        assignment = Assignment.objects.create(submission=a, expert=world.user("expert"), is_lead=True)
        with pytest.raises(SheetRefused, match="状态"):
            sheet_for(assignment, "onsite")
        assert not a.score_sheets.exists()
