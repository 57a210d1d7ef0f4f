"""Score aggregation, computed by hand: not-applicable items, a veto item, mean versus median."""

from __future__ import annotations

from decimal import Decimal

from applications.definitions import Checklist
from reviews.scoring import FAILS, MEETS, NOT_APPLICABLE, Judgement, combine, sheet_result


def _label(text: str) -> dict[str, str]:
    return {"zh": text, "en": text}


RUBRIC = Checklist.model_validate({
    "key": "rubric", "title": _label("评比细则"), "conclusion": "score", "pass_mark": 70,
    "items": [
        {"key": "a", "label": _label("技术成熟度"), "mode": "points", "max_points": 10},
        {"key": "b", "label": _label("技术创新点"), "mode": "points", "max_points": 20, "weight": 2},
        {"key": "c", "label": _label("推广潜力"), "mode": "points", "max_points": 10},
        {"key": "d", "label": _label("知识产权清晰"), "mode": "verdict", "veto": True, "allow_na": False},
    ],
})
CHECKLIST = Checklist.model_validate({
    "key": "onsite", "title": _label("核查表"),
    "items": [
        {"key": "x", "label": _label("计量器具配置")},
        {"key": "y", "label": _label("政策符合性"), "veto": True},
        {"key": "z", "label": _label("数据中心接入监测平台")},
    ],
})


def _points(a, b, c, d=MEETS):  # type: ignore[no-untyped-def]
    def judge(value):  # type: ignore[no-untyped-def]
        return Judgement(verdict=NOT_APPLICABLE) if value == "na" else Judgement(points=Decimal(value))

    return {"a": judge(a), "b": judge(b), "c": judge(c), "d": Judgement(verdict=d)}


def test_not_applicable_items_leave_the_total():
    # Expert 1: 8 + 15×2 = 38 of 10 + 20×2 = 50 possible (c not applicable) → 76.00.
    first = sheet_result(RUBRIC, _points(8, 15, "na"))
    assert (first.earned, first.possible, first.score, first.passed) == (38, 50, Decimal("76.00"), True)
    # Expert 2: 6 + 40 + 5 = 51 of 60 → 85.00.
    assert sheet_result(RUBRIC, _points(6, 20, 5)).score == Decimal("85.00")


def test_mean_and_median_of_three_experts():
    sheets = [sheet_result(RUBRIC, _points(8, 15, "na")),  # 76.00
              sheet_result(RUBRIC, _points(6, 20, 5)),  # 85.00
              sheet_result(RUBRIC, _points(10, 10, 10))]  # 40 / 60 = 66.67
    assert [sheet.score for sheet in sheets] == [Decimal("76.00"), Decimal("85.00"), Decimal("66.67")]
    mean = combine(RUBRIC, sheets, aggregation="mean")
    median = combine(RUBRIC, sheets, aggregation="median")
    assert mean.score == Decimal("75.89")  # 227.67 / 3
    assert median.score == Decimal("76.00")
    assert mean.passed and median.passed  # both reach the pass mark of 70


def test_a_veto_fails_on_its_own():
    vetoed = sheet_result(RUBRIC, _points(10, 20, 10, d=FAILS))
    assert vetoed.score == Decimal("100.00") and vetoed.vetoed == ["d"] and vetoed.passed is False
    combined = combine(RUBRIC, [sheet_result(RUBRIC, _points(9, 19, 9)), vetoed], aggregation="mean")
    assert combined.vetoed and combined.passed is False


def test_a_verdict_checklist():
    passed = sheet_result(CHECKLIST, {"x": Judgement(MEETS), "y": Judgement(MEETS),
                                      "z": Judgement(NOT_APPLICABLE)})
    assert (passed.applicable, passed.passed, passed.score) == (2, True, None)
    failed = sheet_result(CHECKLIST, {"x": Judgement(FAILS), "y": Judgement(MEETS), "z": Judgement(MEETS)})
    assert failed.passed is False and failed.failed == ["x"] and not failed.vetoed
    unjudged = sheet_result(CHECKLIST, {"x": Judgement(MEETS)})
    assert unjudged.unjudged == ["y", "z"] and unjudged.passed is None
    assert combine(CHECKLIST, [passed, unjudged], aggregation="mean").passed is None
    assert combine(CHECKLIST, [passed, passed, failed], aggregation="mean").passed is True  # 2 of 3
    assert combine(CHECKLIST, [passed, failed], aggregation="mean").passed is False  # a tie does not pass
