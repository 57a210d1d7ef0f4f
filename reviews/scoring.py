"""Scoring: one expert's sheet against its checklist, and several experts' sheets combined.

- A verdict item takes meets / does not meet / not applicable. A points item takes points from 0
  to its maximum, weighted by its weight.
- Not-applicable items are left out: out of the verdict sheet's judgement and out of both the
  points earned and the points possible of a score sheet.
- A veto item judged "does not meet" (or a veto points item given no points) fails the sheet
  alone, whatever the rest says.
- A sheet's score is the weighted points earned ÷ the weighted points possible × 100 (a score out
  of 100, so sheets with different applicable items compare); its verdict is 通过 when every
  applicable verdict item meets, no veto failed, and (score sheets) the score reaches the pass mark.
- Several experts' sheets combine by the workflow's aggregation: the mean or the median of their
  scores; a veto failed on any expert's sheet fails the combination. Each sheet stays as filled.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from applications.definitions import Checklist

MEETS = "meets"
FAILS = "fails"
NOT_APPLICABLE = "na"
SCORE_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Judgement:
    """What an expert entered for one item: a verdict, or points (None when not yet judged)."""

    verdict: str = ""
    points: Decimal | None = None


@dataclass
class SheetResult:
    judged: int = 0
    applicable: int = 0
    unjudged: list[str] = field(default_factory=list)  # keys of items still without a judgement
    failed: list[str] = field(default_factory=list)  # verdict items judged "does not meet"
    vetoed: list[str] = field(default_factory=list)  # veto items that failed
    earned: Decimal = Decimal(0)  # weighted points
    possible: Decimal = Decimal(0)
    score: Decimal | None = None  # out of 100, None for a sheet without points items
    passed: bool | None = None  # None while unjudged items remain

    @property
    def complete(self) -> bool:
        return not self.unjudged


def _quantize(value: Decimal) -> Decimal:
    return value.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


def sheet_result(checklist: Checklist, judgements: Mapping[str, Judgement]) -> SheetResult:
    """Score one sheet (items keyed by ChecklistItem.key)."""
    result = SheetResult()
    for item in checklist.items:
        judgement = judgements.get(item.key, Judgement())
        if judgement.verdict == NOT_APPLICABLE and item.allow_na:
            continue
        result.applicable += 1
        if item.mode == "points":
            if judgement.points is None:
                result.unjudged.append(item.key)
                continue
            assert item.max_points is not None
            points = min(max(judgement.points, Decimal(0)), item.max_points)
            result.earned += points * item.weight
            result.possible += item.max_points * item.weight
            if item.veto and points == 0:
                result.vetoed.append(item.key)
        else:
            if judgement.verdict not in (MEETS, FAILS):
                result.unjudged.append(item.key)
                continue
            if judgement.verdict == FAILS:
                result.failed.append(item.key)
                if item.veto:
                    result.vetoed.append(item.key)
        result.judged += 1
    if result.possible > 0:
        result.score = _quantize(result.earned / result.possible * 100)
    if result.complete:
        passed = not result.vetoed and not result.failed
        if checklist.conclusion == "score" and checklist.pass_mark is not None:
            passed = passed and result.score is not None and result.score >= checklist.pass_mark
        result.passed = passed
    return result


@dataclass(frozen=True)
class CombinedResult:
    sheets: int
    scores: list[Decimal]
    score: Decimal | None  # mean or median of the sheets' scores
    vetoed: bool  # a veto failed on at least one sheet
    passed: bool | None  # None while a sheet is incomplete or none was submitted
    aggregation: str


def combine(checklist: Checklist, results: Sequence[SheetResult], *, aggregation: str) -> CombinedResult:
    """Several experts' sheets of one checklist combined by `aggregation` ("mean" or "median")."""
    scores = [result.score for result in results if result.score is not None]
    if not scores:
        score = None
    elif aggregation == "median":
        score = _quantize(Decimal(statistics.median(scores)))
    else:
        score = _quantize(sum(scores, Decimal(0)) / len(scores))
    vetoed = any(result.vetoed for result in results)
    if not results or any(not result.complete for result in results):
        passed = None
    elif vetoed:
        passed = False
    elif checklist.conclusion == "score":
        passed = score is not None and (checklist.pass_mark is None or score >= checklist.pass_mark)
    else:
        # A verdict checklist passes when the experts' majority passed it (the group concludes);
        # a tie does not pass.
        passing = sum(1 for result in results if result.passed)
        passed = passing * 2 > len(results)
    return CombinedResult(sheets=len(results), scores=scores, score=score, vetoed=vetoed, passed=passed,
                          aggregation=aggregation)
