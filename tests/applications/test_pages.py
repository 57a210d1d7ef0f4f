"""The applicant's pages (applications/views.py) through the Django test client: the journey from
我的申报 to filing, bad input shown beside its field with the rest of the draft kept, autosave,
the read-only filed view, and reach: other tenants get 404, officials never edit."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from applications.models import Evidence, Program, Submission, SubmissionState
from applications.services import program_load
from tests.applications.core_definition import core_definition
from tests.conftest import login
from tests.metering.registry_factories import meter_for

COMPLETE_BASIC = {
    "__present": ["company_name", "founded", "claims_big", "economics"],
    "company_name": "郑州甲钢铁有限公司", "founded": "2010-05-01", "claims_big": "no",
    "economics.0.assets": "200", "economics.0.liabilities": "50",
    "economics.1.assets": "300", "economics.1.liabilities": "150",
}
COMPLETE_CENTER = {
    "__present": ["investment", "summary", "energy_tce", "commitment"],
    "investment": "80", "summary": "十字以内的描述", "energy_tce": "1000", "commitment": "yes",
}


@pytest.fixture
def program(db) -> Program:
    with scopes_disabled():
        program, _ = program_load(definition=core_definition())
    return program


@pytest.fixture
def program_without_attachments(db) -> Program:
    """The core program without attachment kinds, so a complete form can be filed in the tests."""
    data = core_definition(code="test_pages_no_attachments")
    data["attachments"] = []
    with scopes_disabled():
        program, _ = program_load(definition=data)
    return program


def _start(client: Any, program: Program) -> Submission:
    response = client.post(reverse("applications:submission_new"), {"program": program.code})
    assert response.status_code == 302, response.content.decode()[:500]
    with scopes_disabled():
        return Submission.objects.order_by("-id").first()  # type: ignore[return-value]


def _section_url(submission: Submission, section: str) -> str:
    return reverse("applications:submission_section",
                   kwargs={"submission_id": submission.pk, "section": section})


def _page(response: Any) -> str:
    return unescape(response.content.decode())


def _beside(page: str, key: str) -> str:
    """The markup of one field (or table cell) of the form: from its data-key to the next one."""
    match = re.search(rf'data-key="{re.escape(key)}"(.*?)(?=data-key="|</form>)', page, re.S)
    assert match, f"no field {key} on the page"
    return match.group(1)


@pytest.mark.django_db
def test_the_journey_from_the_empty_list_to_a_refused_submission(client, world, program):
    login(client, world.user("a_staff"))
    page = _page(client.get(reverse("applications:submission_list")))
    assert "还没有申报" in page and "新建申报" in page

    page = _page(client.get(reverse("applications:submission_new")))
    assert program.name in page and "开始填写" in page
    submission = _start(client, program)
    assert submission.enterprise == world.tenant_a and submission.state == SubmissionState.DRAFT

    # The draft opens on its first section, the enterprise's name prefilled.
    response = client.get(reverse("applications:submission_detail", kwargs={"submission_id": submission.pk}))
    assert response.status_code == 302 and response["Location"] == _section_url(submission, "basic")
    page = _page(client.get(_section_url(submission, "basic")))
    assert 'value="郑州甲钢铁有限公司"' in page
    assert "各部分完成情况" in page and "保存草稿" in page
    assert "2023年" in page and "总资产" in page  # the fixed rows of the economics table, labelled

    response = client.post(_section_url(submission, "basic"), COMPLETE_BASIC)
    assert response.status_code == 302
    page = _page(client.get(_section_url(submission, "basic")))
    assert "草稿已保存" in page
    assert 'value="2010-05-01"' in page
    assert "25.00%" in page  # the debt ratio, computed on save: 50 / 200
    assert re.search(r'data-section="basic">.*?100%', page, re.S)

    # The center section: a textarea with its character count, a number with its unit.
    page = _page(client.get(_section_url(submission, "center")))
    assert "0 / 10 字" in page and "万元" in page
    assert "尚缺：投资、总体描述、真实性承诺" in page

    page = _page(client.get(reverse("applications:submission_attachments",
                                    kwargs={"submission_id": submission.pk})))
    assert "营业执照" in page and "请上传营业执照" in page and "必须上传" in page

    # Filing is refused while the form is incomplete; each blocker is said.
    submit_url = reverse("applications:submission_submit", kwargs={"submission_id": submission.pk})
    page = _page(client.get(submit_url))
    assert "在河南省注册" in page and "符合" in page
    response = client.post(submit_url)
    assert response.status_code == 400
    page = _page(response)
    assert "暂不能提交" in page and "请上传营业执照" in page
    assert "中心情况：投资、总体描述、真实性承诺" in page
    submission.refresh_from_db()
    assert submission.state == SubmissionState.DRAFT

    page = _page(client.get(reverse("applications:submission_list")))
    assert program.name in page and "草稿" in page and "继续填写" in page


@pytest.mark.django_db
def test_bad_input_is_shown_beside_its_field_and_the_rest_of_the_draft_is_kept(client, world, program):
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    client.post(_section_url(submission, "basic"), {**COMPLETE_BASIC, "founded": "2999-01-01",
                                                    "economics.1.assets": "3o0"})
    client.post(_section_url(submission, "center"), {
        **COMPLETE_CENTER, "summary": "这段总体描述超过了十个字的限制", "investment": "-3",
        "energy_tce": "12,5x"})

    page = _page(client.get(_section_url(submission, "center")))
    assert "不超过 10 字，现有 15 字" in _beside(page, "summary")
    assert "15 / 10 字" in _beside(page, "summary") and 'class="counter over"' in _beside(page, "summary")
    assert "不能为负数" in _beside(page, "investment")
    assert "请填写数字" in _beside(page, "energy_tce")
    # Everything is kept as typed, the bad values too, and the good ones beside them.
    assert "这段总体描述超过了十个字的限制</textarea>" in page
    assert 'value="-3"' in page and 'value="12,5x"' in page
    assert re.search(r'name="commitment"[^>]*checked', page)

    page = _page(client.get(_section_url(submission, "basic")))
    assert "不能晚于今天" in _beside(page, "founded") and 'value="2999-01-01"' in page
    assert "请填写数字" in _beside(page, "economics.1.assets") and 'value="3o0"' in page
    assert 'value="郑州甲钢铁有限公司"' in page and 'value="150"' in page
    assert "2 处填写有误" in page
    submission.refresh_from_db()
    assert submission.data["investment"] == "-3" and submission.data["economics"][0]["assets"] == "200"


@pytest.mark.django_db
def test_a_date_typed_wrongly_stays_visible_as_typed(client, world, program):
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    client.post(_section_url(submission, "basic"), {**COMPLETE_BASIC, "founded": "2010/5/1"})
    field = _beside(_page(client.get(_section_url(submission, "basic"))), "founded")
    # A date picker cannot hold "2010/5/1": the field falls back to text so nothing typed disappears.
    assert 'type="text"' in field and 'value="2010/5/1"' in field and "日期格式不对" in field


@pytest.mark.django_db
def test_a_page_changes_only_the_fields_it_showed(client, world, program):
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    client.post(_section_url(submission, "center"), COMPLETE_CENTER)
    # A post that shows only the summary (say, a page from before a field was added) keeps the rest.
    client.post(_section_url(submission, "center"), {"__present": ["summary"], "summary": "新描述"})
    submission.refresh_from_db()
    assert submission.data["summary"] == "新描述"
    assert submission.data["commitment"] == "yes" and submission.data["investment"] == "80"
    # An unticked declaration the page showed is cleared.
    client.post(_section_url(submission, "center"), {"__present": ["commitment"]})
    submission.refresh_from_db()
    assert submission.data["commitment"] == ""


@pytest.mark.django_db
def test_autosave_answers_the_status_fragment_with_the_fields_messages(client, world, program):
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    response = client.post(_section_url(submission, "center"), {**COMPLETE_CENTER, "investment": "abc"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["X-Draft-Saved"]
    page = _page(response)
    assert page.lstrip().startswith('<aside class="section-status" id="section-status"')
    assert re.search(r'id="fb-f-investment" hx-swap-oob="true"><p[^>]*>请填写数字', page)
    assert "<html" not in page
    submission.refresh_from_db()
    assert submission.data["investment"] == "abc" and submission.data["summary"] == "十字以内的描述"


@pytest.mark.django_db
def test_an_expired_session_gets_the_login_page_without_the_saved_header(client, world, program):
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    client.logout()
    response = client.post(_section_url(submission, "center"), COMPLETE_CENTER, HTTP_HX_REQUEST="true")
    # The form's script keeps the edits in the browser when this header is absent.
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert "X-Draft-Saved" not in response


@pytest.mark.django_db
def test_free_table_rows_are_added_and_removed(client, world, program):
    data = core_definition(code="test_pages_free_table")
    data["sections"][1]["items"].append({
        "key": "members", "type": "table", "label": {"zh": "成员单位", "en": "Members"},
        "columns": [{"key": "name", "type": "text", "required": True, "label": {"zh": "名称", "en": "Name"}},
                    {"key": "share", "type": "percent", "label": {"zh": "占比", "en": "Share"}}]})
    with scopes_disabled():
        free, _ = program_load(definition=data)
    login(client, world.user("a_admin"))
    submission = _start(client, free)
    url = _section_url(submission, "center")
    page = _page(client.get(url))
    assert 'name="members.0.name"' in page and 'id="row-template-members"' in page and "添加一行" in page
    client.post(url, {"__present": ["members"], "members.0.name": "甲单位", "members.0.share": "60",
                      "members.1.name": "", "members.1.share": ""})
    submission.refresh_from_db()
    assert submission.data["members"] == [{"name": "甲单位", "share": "60"}]  # the spare row, left empty
    page = _page(client.get(url))
    assert 'value="甲单位"' in page and 'name="members.1.name"' in page  # a new spare row
    client.post(url, {"__present": ["members"], "members.0.name": "甲单位", "members.0.__delete": "1",
                      "members.1.name": "乙单位", "members.1.share": "140"})
    submission.refresh_from_db()
    assert submission.data["members"] == [{"name": "乙单位", "share": "140"}]
    assert "百分比不能大于 100" in _beside(_page(client.get(url)), "members.0.share")


@pytest.mark.django_db
def test_filing_then_reading_the_filed_application(client, world, program_without_attachments):
    program = program_without_attachments
    meter_for(world.tenant_a)  # metered, no readings yet: the figure is 0 tce, not "nothing measured"
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    client.post(_section_url(submission, "basic"), COMPLETE_BASIC)
    client.post(_section_url(submission, "center"), COMPLETE_CENTER)
    submit_url = reverse("applications:submission_submit", kwargs={"submission_id": submission.pk})
    assert "可以提交" in _page(client.get(submit_url))
    response = client.post(submit_url)
    assert response.status_code == 302
    submission.refresh_from_db()
    assert submission.state == SubmissionState.SUBMITTED
    with scopes_disabled():
        assert Evidence.objects.filter(submission=submission, key="annual_tce").exists()

    detail_url = reverse("applications:submission_detail", kwargs={"submission_id": submission.pk})
    page = _page(client.get(detail_url))
    assert "申报已提交" in page and "第 1 次提交" in page
    assert "2010年5月1日" in page  # dates in zh-hans
    assert "80 万元" in page and "25.00%" in page and "十字以内的描述" in page and "已确认" in page
    assert "封存的在线监测测得值" in page and "年综合能耗" in page and "今日同期测得" in page
    # No meters: 0 tce measured, 1000 typed; the typed value is kept and flagged with both figures.
    flagged = re.search(r'<tr class="flagged" data-evidence="annual_tce">(.*?)</tr>', page, re.S)
    assert flagged and "0 tce" in flagged.group(1) and "1000" in flagged.group(1)
    assert "已标记给评审" in flagged.group(1)
    # A filed submission's form no longer takes changes.
    response = client.post(_section_url(submission, "center"), {**COMPLETE_CENTER, "summary": "改"})
    assert response.status_code == 302 and response["Location"] == detail_url
    submission.refresh_from_db()
    assert submission.data["summary"] == "十字以内的描述"

    # Officials of its region read it, and never edit it.
    client.logout()
    login(client, world.user("zhengzhou_reviewer"))
    page = _page(client.get(detail_url))
    assert "十字以内的描述" in page and "郑州甲钢铁有限公司" in page
    attachments_url = reverse("applications:submission_attachments", kwargs={"submission_id": submission.pk})
    for url in (_section_url(submission, "center"), attachments_url, submit_url):
        assert client.get(url).status_code == 404, url
    for url in (_section_url(submission, "center"), submit_url):
        assert client.post(url, {**COMPLETE_CENTER, "summary": "官员改"}).status_code == 404, url
    submission.refresh_from_db()
    assert submission.data["summary"] == "十字以内的描述"
    assert client.post(reverse("applications:submission_new"), {"program": program.code}).status_code == 403
    page = _page(client.get(reverse("applications:submission_list")))
    assert "申报材料" in page and "郑州甲钢铁有限公司" in page


@pytest.mark.django_db
def test_other_tenants_get_404_alike_for_out_of_reach_and_missing(client, world, program):
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    client.post(_section_url(submission, "center"), COMPLETE_CENTER)
    client.logout()
    missing = Submission(pk=2_147_480_000)
    for who in ("b_admin", "outsider_admin", "park_admin", "zhengzhou_reviewer", "henan_officer", "expert"):
        login(client, world.user(who))
        for target in (submission, missing):
            urls = [reverse("applications:submission_detail", kwargs={"submission_id": target.pk}),
                    _section_url(target, "center"),
                    reverse("applications:submission_attachments", kwargs={"submission_id": target.pk}),
                    reverse("applications:submission_submit", kwargs={"submission_id": target.pk})]
            for url in urls:
                assert client.get(url).status_code == 404, (who, url)
            assert client.post(_section_url(target, "center"), {**COMPLETE_CENTER, "summary": "越权"}
                               ).status_code == 404, who
        body = _page(client.get(reverse("applications:submission_list")))
        assert "郑州甲钢铁有限公司" not in body, who
        client.logout()
    submission.refresh_from_db()
    assert submission.data["summary"] == "十字以内的描述"
    assert submission.state == SubmissionState.DRAFT


@pytest.mark.django_db
def test_only_the_own_enterprise_is_filed_for(client, world, program):
    login(client, world.user("a_admin"))
    url = reverse("applications:submission_new")
    for enterprise in (world.tenant_b.pk, 2_147_480_000):
        assert client.get(url, {"enterprise": enterprise}).status_code == 404
        assert client.post(f"{url}?enterprise={enterprise}", {"program": program.code}).status_code == 404
    with scopes_disabled():
        assert not Submission.objects.exists()
    # A program not open to the enterprise (another region) is refused with the reason.
    data = core_definition(code="test_pages_shanghai")
    data["region"] = "310000"
    data["name"] = "上海市测试项目"
    data["eligibility"] = []
    with scopes_disabled():
        shanghai, _ = program_load(definition=data)
    assert shanghai.name not in _page(client.get(url))
    response = client.post(url, {"program": shanghai.code})
    assert response.status_code == 400 and "该项目当前不接受本单位申报" in _page(response)
    with scopes_disabled():
        assert not Submission.objects.exists()


@pytest.mark.django_db
def test_an_enterprise_not_yet_approved_cannot_start(client, world, program):
    from portal.models import Enterprise

    with scopes_disabled():
        Enterprise.objects.filter(pk=world.tenant_a.pk).update(status=Enterprise.Status.PENDING)
    login(client, world.user("a_admin"))
    page = _page(client.get(reverse("applications:submission_new")))
    assert "只有注册已通过审核的企业人员可以新建申报" in page and "开始填写" not in page
    assert client.post(reverse("applications:submission_new"), {"program": program.code}).status_code == 403
    with scopes_disabled():
        assert not Submission.objects.exists()


@pytest.mark.django_db
def test_the_authority_section_reads_only(client, world):
    data = core_definition(code="test_pages_authority")
    data["sections"].append({"key": "city_opinion", "title": {"zh": "市级推荐意见", "en": "City opinion"},
                             "filled_by": "authority", "items": [
                                 {"key": "city_opinion_text", "type": "textarea", "max_length": 300,
                                  "label": {"zh": "推荐意见", "en": "Opinion"}}]})
    with scopes_disabled():
        program, _ = program_load(definition=data)
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    url = _section_url(submission, "city_opinion")
    page = _page(client.get(url))
    assert "本部分由推荐单位" in page and "推荐意见" in page and 'name="city_opinion_text"' not in page
    response = client.post(url, {"__present": ["city_opinion_text"], "city_opinion_text": "自荐"})
    assert response.status_code == 403
    submission.refresh_from_db()
    assert "city_opinion_text" not in submission.data


@pytest.mark.django_db
def test_the_measured_figure_is_offered_and_a_disagreeing_value_warned(client, world, program):
    meter_for(world.tenant_a)
    login(client, world.user("a_admin"))
    submission = _start(client, program)
    url = _section_url(submission, "center")
    client.post(url, {**COMPLETE_CENTER, "energy_tce": "1000"})
    field = _beside(_page(client.get(url)), "energy_tce")
    # The enterprise's meter has no readings yet: last year's measured total is 0 tce, with its period.
    last_year = timezone.localdate().year - 1
    assert "在线监测测得年综合能耗" in field and "0.00 tce" in field
    assert f"{last_year}年1月1日 至 {last_year}年12月31日" in field
    assert "采用测得值" in field and 'data-value="0.00"' in field
    assert "填报值 1,000 tce 与测得值 0.00 tce 相差超过 5%" in field and "标记给评审人员" in field
    # "采用测得值" without the script: the button posts the section and the field takes the figure.
    client.post(url, {**COMPLETE_CENTER, "energy_tce": "1000", "adopt": "energy_tce"})
    submission.refresh_from_db()
    assert submission.data["energy_tce"] == "0.00" and submission.data["summary"] == "十字以内的描述"
    assert "相差超过" not in _beside(_page(client.get(url)), "energy_tce")
