"""Review exports (reviews/exports.py): each expert's sheet and the combined score sheet as Excel
and PDF, the on-site check record (核查表), the results list per track; and who may download them.

The sheets are hand-built (ScoreSheet/ScoreItem rows) and the scores hand-computed:
- 现场核查表 (verdict, 计量器具配置 a veto item): 王 meets/meets/n.a., 李 meets ×3, 赵 meets/fails/meets
  → 赵's veto fails the group: 不通过.
- 评分表 (points, pass mark 60): 建设方案 max 40, 运行效果 max 30 × 2, 加分项 max 10 (n.a. allowed)
  王 36, 24, n.a. → 84/100 = 84.00; 李 30, 15, 8 → 68/110 = 61.82; 赵 20, 10, 5 → 45/110 = 40.91;
  mean (84 + 61.82 + 40.91) / 3 = 62.24 ≥ 60 → 通过.
PDF text is read from WeasyPrint's own layout, as tests/applications/test_documents.py does.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled
from openpyxl import load_workbook

from applications.documents.pdf import html_render
from applications.models import Submission, SubmissionState
from applications.services import program_load, submission_start
from portal.models import Role, User
from reviews import exports
from reviews.models import Assignment, ScoreItem, ScoreSheet
from reviews.services import transition_perform
from tests.applications.core_definition import core_definition, core_workflow
from tests.applications.test_documents import page_texts
from tests.conftest import login

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 1)
CODE = "test_exports_2026"


def label(zh: str, en: str = "") -> dict[str, str]:
    return {"zh": zh, "en": en or zh}


def checklists() -> list[dict[str, Any]]:
    basic = label("基本要求", "Basic")
    return [
        {"key": "onsite", "title": label("上海市工业用能企业（数据中心）能源管理中心核查表", "On-site"),
         "seed": "附表 1", "conclusion": "verdict", "items": [
             {"key": "policy", "label": label("1、政策符合性：主要生产工艺及设施符合国家产业政策。"),
              "category": basic},
             {"key": "metering", "label": label("2、计量器具配置：一级表具接入比例 100%。"),
              "category": basic, "veto": True},
             {"key": "security", "label": label("3、系统安全可靠性能"), "category": basic}]},
        {"key": "score", "title": label("评分表", "Scores"), "conclusion": "score", "pass_mark": "60",
         "items": [
            {"key": "design", "label": label("建设方案合理"), "category": label("建设方案"), "mode": "points",
             "max_points": "40", "allow_na": False},
            {"key": "effect", "label": label("节能效果明显"), "category": label("运行效果"), "mode": "points",
             "max_points": "30", "weight": "2", "allow_na": False},
            {"key": "extra", "label": label("创新应用"), "category": label("加分项"), "mode": "points",
             "max_points": "10"}]},
    ]


def workflow() -> dict[str, Any]:
    flow = core_workflow()
    flow["states"].append({"key": "awarded", "label": label("获奖", "Awarded"), "final": True})
    flow["transitions"].append({"key": "award_first", "label": label("一等奖", "First prize"),
                                "sources": ["first_review_passed"], "target": "awarded",
                                "actors": ["provincial"], "outcome": "first_prize"})
    return flow


def definition() -> dict[str, Any]:
    return {**core_definition(CODE), "workflow": workflow(), "checklists": checklists(),
            "variants": [{"key": "industrial", "label": label("工业企业"),
                          "enterprise_kinds": ["industrial"]}],
            "tracks": [{"key": "center", "label": label("能源管理中心赛道"), "form": "industrial"},
                       {"key": "tech", "label": label("节能技术赛道"), "form": "industrial"}]}


SHEETS = {  # expert → {checklist: {item: verdict or points}}
    "wang": {"onsite": {"policy": "meets", "metering": "meets", "security": "na"},
             "score": {"design": "36", "effect": "24", "extra": "na"}},
    "li": {"onsite": {"policy": "meets", "metering": "meets", "security": "meets"},
           "score": {"design": "30", "effect": "15", "extra": "8"}},
    "zhao": {"onsite": {"policy": "meets", "metering": "fails", "security": "meets"},
             "score": {"design": "20", "effect": "10", "extra": "5"}},
}
NAMES = {"wang": "王专家", "li": "李专家", "zhao": "赵专家"}


def _start(world, enterprise, track: str, title: str) -> Submission:  # type: ignore[no-untyped-def]
    with scopes_disabled():
        program = load_program()
        submission = submission_start(program=program, enterprise=enterprise, user=None, variant="industrial",
                                      track=track, today=TODAY)
        Submission.objects.filter(pk=submission.pk).update(
            state=SubmissionState.FIRST_REVIEW_PASSED, submitted_at=timezone.now(), title=title)
        submission.refresh_from_db()
    return submission


def load_program():  # type: ignore[no-untyped-def]
    from applications.models import Program

    program = Program.objects.filter(code=CODE).first()
    return program or program_load(definition=definition())[0]


@pytest.fixture
def experts(world) -> dict[str, User]:  # type: ignore[no-untyped-def]
    found = {"wang": world.user("expert")}
    User.objects.filter(pk=found["wang"].pk).update(first_name="王专家")
    found["wang"].refresh_from_db()
    for key in ("li", "zhao"):
        found[key] = User.objects.create(username=f"expert_{key}", role=Role.EXPERT, first_name=NAMES[key],
                                         is_staff=True, review_organization=found["wang"].review_organization)
    return found


@pytest.fixture
def scored(world, experts) -> Submission:  # type: ignore[no-untyped-def]
    submission = _start(world, world.tenant_a, "center", "郑州甲能源管理中心项目")
    submitted = timezone.make_aware(dt.datetime(2026, 5, 20, 15, 30))
    with scopes_disabled():
        for key, expert in experts.items():
            assignment = Assignment.objects.create(submission=submission, expert=expert,
                                                   is_lead=key == "wang")
            for checklist, items in SHEETS[key].items():
                sheet = ScoreSheet.objects.create(submission=submission, assignment=assignment,
                                                  checklist=checklist, submitted_at=submitted,
                                                  conclusion_note=f"{NAMES[key]}意见")
                for item, value in items.items():
                    verdict = value if value in ("meets", "fails", "na") else ""
                    points = Decimal(value) if not verdict else None
                    ScoreItem.objects.create(sheet=sheet, item=item, verdict=verdict, points=points,
                                             note="计量点位核实" if item == "metering" else "")
    return submission


def sheet_of(submission: Submission, expert: User, checklist: str) -> ScoreSheet:
    with scopes_disabled():
        return ScoreSheet.objects.select_related("assignment__expert", "submission__program",
                                                 "submission__enterprise").get(
            submission=submission, assignment__expert=expert, checklist=checklist)


def rows(content: bytes, sheet: int = 0) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(content))
    return [list(row) for row in book.worksheets[sheet].iter_rows(values_only=True)]


def pdf_text(template: str, context: dict[str, Any]) -> str:
    return "".join(page_texts(html_render(exports.export_html(template, context))))


def test_an_experts_sheet_in_excel_and_pdf(world, experts, scored) -> None:  # type: ignore[no-untyped-def]
    sheet = sheet_of(scored, experts["zhao"], "score")
    with scopes_disabled():
        table = rows(exports.sheet_xlsx(sheet))
        text = pdf_text(exports.SHEET_TEMPLATE, exports.sheet_context(sheet))
    assert table[0][0] == "评分表"
    facts = {row[0]: row[1] for row in table[1:6]}
    assert facts["申报单位"] == "郑州甲钢铁有限公司" and facts["评审专家"] == "赵专家"
    assert facts["提交时间"] == dt.datetime(2026, 5, 20, 15, 30)  # Beijing time, as Excel shows it
    header = table.index(["类别", "评审内容", "满分", "否决项", "评审结果", "说明"])
    assert table[header + 1][:5] == ["建设方案", "建设方案合理", "40", None, "20"]
    assert table[header + 2][:5] == ["运行效果", "节能效果明显", "30×2", None, "10"]
    assert table[header + 3][:5] == ["加分项", "创新应用", "10", None, "5"]
    totals = {row[0]: row[1] for row in table[header + 5:]}
    assert totals == {"得分": "40.91", "结论": "不通过", "核查意见": "赵专家意见"}

    assert "评分表" in text and "赵专家" in text and "2026年5月20日" in text
    assert "40.91" in text and "不通过" in text and "专家签字：" in text

    wang = sheet_of(scored, experts["wang"], "onsite")
    with scopes_disabled():
        table = rows(exports.sheet_xlsx(wang))
    header = table.index(["类别", "评审内容", "满分", "否决项", "评审结果", "说明"])
    assert [row[3:6] for row in table[header + 1:header + 4]] == [
        [None, "符合", None], ["是", "符合", "计量点位核实"], [None, "不适用", None]]
    assert "王专家（组长）" in [row[1] for row in table[:6]]


def test_the_combined_score_sheet_in_excel_and_pdf(world, experts, scored) -> None:  # type: ignore[no-untyped-def]
    with scopes_disabled():
        content = exports.combined_xlsx(scored)
        text = pdf_text(exports.COMBINED_TEMPLATE, exports.combined_context(scored))
    onsite, score = rows(content, 0), rows(content, 1)
    header = ["类别", "评审内容", "满分", "否决项", "王专家（组长）", "李专家", "赵专家"]
    at = score.index(header)
    assert score[at + 1][4:] == ["36", "30", "20"] and score[at + 2][4:] == ["24", "15", "10"]
    assert score[at + 3][4:] == ["不适用", "8", "5"]
    totals = {row[1]: row[4:] for row in score[at + 5:]}
    assert totals["各专家得分"] == ["84.00", "61.82", "40.91"]
    assert totals["各专家结论"] == ["通过", "通过", "不通过"]
    assert totals["综合得分（平均值）"][0] == "62.24"
    assert totals["否决项不符合"][0] == "否" and totals["综合结论"][0] == "通过"

    at = onsite.index(header)
    assert onsite[at + 2][3:] == ["是", "符合", "符合", "不符合"]
    totals = {row[1]: row[4] for row in onsite[at + 5:]}
    assert totals["否决项不符合"] == "是" and totals["综合结论"] == "不通过"
    assert totals["综合得分（平均值）"] in ("", None)  # a verdict sheet has no score

    assert "评分表 · 评分汇总表" in text and "62.24（平均值）" in text
    assert "84.00" in text and "61.82" in text and "40.91" in text and "王专家（组长）" in text


def test_the_onsite_check_record_with_its_conclusion_and_the_experts_signatures(
    world, experts, scored  # type: ignore[no-untyped-def]
) -> None:
    with scopes_disabled():
        text = pdf_text(exports.CHECK_TEMPLATE, exports.check_context(scored))
        pdf = exports.check_pdf(scored)
    assert pdf.startswith(b"%PDF")
    assert "附表 1" in text and "上海市工业用能企业（数据中心）能源管理中心核查表" in text
    assert "类别验收标准核查结果" in text  # the seed's three columns
    assert "基本要求1、政策符合性：主要生产工艺及设施符合国家产业政策。符合" in text
    assert "2、计量器具配置：一级表具接入比例 100%。符合 2；不符合 1" in text
    assert "不适用 1；符合 2" in text
    assert "核查结论☐通过　　☑不通过" in text
    assert "核查日期2026年5月20日" in text
    assert "专家组成员签字职务日期" in text
    assert "王专家组长" in text and "李专家成员" in text and "赵专家成员" in text
    assert "赵专家：赵专家意见" in text


def test_the_results_list_per_track(world, experts, scored) -> None:  # type: ignore[no-untyped-def]
    province = world.user("henan_officer")
    other = _start(world, world.tenant_b, "tech", "洛阳乙节能改造")
    third = _start(world, world.tenant_a, "center", "郑州甲二期")
    with scopes_disabled():
        transition_perform(submission=scored, action="award_first", actor=province, today=TODAY)
        transition_perform(submission=other, action="decide_fail", actor=province, reason="材料不全",
                           today=TODAY)
        submissions = list(Submission.objects.filter(program__code=CODE).order_by("id"))
        content = exports.results_xlsx(scored.program, submissions)
        only_tech = exports.results_xlsx(scored.program, submissions, track="tech")
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["能源管理中心赛道", "节能技术赛道"]
    center = rows(content, 0)
    assert center[0][0] == "测试项目 · 能源管理中心赛道评审结果"
    at = center.index(["序号", "企业名称", "申报名称", "赛道", "状态", "评审结论", "奖项", "综合得分",
                       "专家评审结论"])
    assert center[at + 1] == [1, "郑州甲钢铁有限公司", "郑州甲能源管理中心项目", "能源管理中心赛道", "获奖",
                              "一等奖", "一等奖", 62.24, "不通过"]
    assert center[at + 2][:8] == [2, "郑州甲钢铁有限公司", "郑州甲二期", "能源管理中心赛道", "初审通过", None,
                                  None, None]
    assert third.pk
    tech = rows(only_tech, 0)
    assert load_workbook(io.BytesIO(only_tech)).sheetnames == ["节能技术赛道"]
    assert tech[tech.index(center[at]) + 1][1:7] == ["洛阳乙化工有限公司", "洛阳乙节能改造", "节能技术赛道",
                                                     "不通过",
                                                     "评审不通过", None]


def _status(client, user, url: str) -> int:  # type: ignore[no-untyped-def]
    client.logout()
    if user is not None:
        login(client, user)
    return int(client.get(url).status_code)


def test_who_may_download_what(world, experts, scored, client) -> None:  # type: ignore[no-untyped-def]
    mine = sheet_of(scored, experts["wang"], "onsite")
    theirs = sheet_of(scored, experts["li"], "score")
    kwargs = {"submission_id": scored.pk}
    urls = {
        "mine_xlsx": reverse("reviews:export_sheet_xlsx", kwargs={**kwargs, "sheet_id": mine.pk}),
        "mine_pdf": reverse("reviews:export_sheet_pdf", kwargs={**kwargs, "sheet_id": mine.pk}),
        "theirs": reverse("reviews:export_sheet_xlsx", kwargs={**kwargs, "sheet_id": theirs.pk}),
        "scores_xlsx": reverse("reviews:export_scores_xlsx", kwargs=kwargs),
        "scores_pdf": reverse("reviews:export_scores_pdf", kwargs=kwargs),
        "check": reverse("reviews:export_onsite_check_pdf", kwargs=kwargs),
        "results": reverse("reviews:export_results_xlsx", kwargs={"code": CODE}),
    }
    everything = dict.fromkeys(urls, 200)
    expected = {
        "henan_officer": everything, "platform_admin": everything,
        # The expert: their own sheet only.
        "expert": {**dict.fromkeys(urls, 404), "mine_xlsx": 200, "mine_pdf": 200},
        # In reach but not the deciding authority, or out of reach: nothing exists for them.
        "zhengzhou_reviewer": dict.fromkeys(urls, 404), "a_admin": dict.fromkeys(urls, 404),
        "luoyang_reviewer": dict.fromkeys(urls, 404), "b_admin": dict.fromkeys(urls, 404),
        "xuhui_reviewer": dict.fromkeys(urls, 404),
    }
    for key, answers in expected.items():
        got = {name: _status(client, world.user(key), url) for name, url in urls.items()}
        assert got == answers, key
    assert _status(client, None, urls["scores_xlsx"]) == 302  # to the login page

    login(client, world.user("henan_officer"))
    response = client.get(urls["scores_xlsx"])
    assert response["Cache-Control"] == "private, no-store"
    assert "filename*=utf-8''" in response["Content-Disposition"]
    assert rows(response.content, 1)[0][0] == "评分表 · 评分汇总表"
    assert client.get(urls["check"]).content.startswith(b"%PDF")
    assert client.post(urls["scores_xlsx"]).status_code == 405
    # A sheet its expert has not submitted is theirs alone.
    with scopes_disabled():
        ScoreSheet.objects.filter(pk=theirs.pk).update(submitted_at=None)
    assert client.get(urls["theirs"]).status_code == 404
    assert _status(client, experts["li"], urls["theirs"]) == 200
