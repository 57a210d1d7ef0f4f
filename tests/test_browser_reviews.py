"""Real headless Chromium against a live server: the reviewer's journey through the shipped Henan 2023
workflow (applications/programs/henan_dcmc_2023.yaml), each step by the role that owns it, in the
pages that role uses.

1. Zhengzhou's municipal reviewer opens the filed application in the review admin and returns it
   for additions, with reasons and a deadline (the transition page).
2. The applicant finds the return notice, with the reasons, above the form; changes the investment
   and resubmits on the submit page.
3. The reviewer sees what changed since the returned version on the admin change page, and passes
   the first review with the city's recommendation.
4. The provincial officer accepts it and assigns a panel of three on the assign page (the test
   world's expert leads); the lead expert fills the element-conditions checklist (a verdict per
   item, a note, a photo) and submits the sheet. The panel's two other members submit theirs
   through the same sheet service (the program needs three sheets before a decision).
5. The provincial officer decides (遴选通过), and the final state shows.

Officials log in with their password: the test settings leave REQUIRE_2FA_FOR_OFFICIALS off
(tests/portal/test_second_factor.py covers the second factor). Set NENGTAN_SCREENSHOT_DIR to keep
screenshots of the change page and the checklist page.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from django_scopes import scopes_disabled

from applications.definitions import Checklist
from applications.demo import DEMO_APPLICATIONS, _filled
from applications.models import Program, Submission, SubmissionState
from applications.selectors import submission_definition
from applications.services import programs_load, submission_save, submission_start
from portal.models import Role, User
from reviews.models import Activity, Assignment, ScoreItem, ScoreItemPhoto, ScoreSheet
from reviews.services import applicant_file
from reviews.sheets import sheet_for, sheet_save, sheet_submit
from tests.applications.attachment_files import image_bytes
from tests.conftest import TEST_PASSWORD
from tests.factories import UserFactory, placeholder_attachments
from tests.test_browser import WAIT_TIMEOUT_S, browser  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.browser]

SCREENSHOT_DIR = os.environ.get("NENGTAN_SCREENSHOT_DIR", "")
PROGRAM = "henan_dcmc_2023"
CHECKLIST = "element_conditions"
ADMIN_LIST = "/admin/applications/submission/"
RETURN_REASON = "请补充绿色工厂称号证明文件；能碳管理中心建设软硬件投资与审计报告不一致，请核实"
RECOMMENDATION = "经初审，材料真实完整，同意推荐"
DECISION = "七项要素条件均符合，遴选通过"
EXPERT_NOTE = "现场查看了能源数据采集网络和信息安全隔离装置"
CONCLUSION = "现场核查七项要素条件均符合"


@pytest.fixture(scope="module", autouse=True)
def _restore_migration_data(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Put back what the migrations loaded (regions, factor sets) once the transactional test has
    flushed the tables, for the tests after this module."""
    yield
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents:
        with django_db_blocker.unblock():
            connection.creation.deserialize_db_from_string(contents)


@pytest.fixture
def private_storage(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Attachments and checklist photos in a folder of this test (the live server shares settings)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": tmp_path / "private"}},
    }
    return tmp_path


# --- setup ------------------------------------------------------------------------------------------

def _filed(world) -> Submission:  # type: ignore[no-untyped-def]
    """tenant_a's Henan 2023 application, filled as the demo fills it (demo_enterprise's values),
    with placeholder attachments, filed through the workflow's own `submit` step."""
    user = world.user("a_admin")
    spec = next(item for item in DEMO_APPLICATIONS if item.program == PROGRAM)
    today = timezone.localdate()
    with scopes_disabled():
        result = programs_load()
        assert result.ok, result.errors
        program = Program.objects.get(code=PROGRAM)
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user)
        changes = _filled(submission_definition(submission), submission, spec, today)
        submission_save(submission=submission, user=user, changes=changes, title=spec.title)
        placeholder_attachments(submission)
        applicant_file(submission=submission, user=user)
        submission.refresh_from_db()
    assert submission.state == SubmissionState.SUBMITTED
    return submission


def _panel(world) -> list[User]:  # type: ignore[no-untyped-def]
    """The expert panel: the test world's expert (named here, so pages show a name) and two more."""
    lead = world.user("expert")
    lead.first_name = "王建国"
    lead.save(update_fields=["first_name"])
    organization = lead.review_organization
    others = [UserFactory(username=f"panel_expert_{n}", role=Role.EXPERT, is_staff=True, first_name=name,
                          review_organization=organization)
              for n, name in enumerate(("李明", "赵华"), 2)]
    return [lead, *others]


def _checklist(submission: Submission) -> Checklist:
    return next(item for item in submission_definition(submission).checklists if item.key == CHECKLIST)


def _zh_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _other_sheet(expert: User, submission: Submission) -> ScoreSheet:
    """A panel member's sheet, every condition met, through the sheet service the admin uses."""
    with scopes_disabled():
        assignment = Assignment.objects.get(submission=submission, expert=expert, withdrawn_at__isnull=True)
        sheet = sheet_for(assignment, CHECKLIST)
        checklist = _checklist(submission)
        saved = sheet_save(sheet, {item.key: {"verdict": "meets"} for item in checklist.items}, actor=expert,
                           conclusion_note="符合")
        assert not saved.errors, saved.errors
        return sheet_submit(sheet, actor=expert)


# --- browser helpers ------------------------------------------------------------------------------

def _wait(driver, condition):  # type: ignore[no-untyped-def]
    """Until `condition` holds. An element found just before the page was replaced (a form post
    answered by a redirect) goes stale: that is "not yet", and the condition is asked again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_TIMEOUT_S,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def _body(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _log_in_as(driver, base_url: str, user: User, then: str) -> None:  # type: ignore[no-untyped-def]
    """A fresh session (the previous user's cookies dropped), through the Chinese login page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    driver.delete_all_cookies()
    driver.get(f"{base_url}/accounts/login/?next={then}")
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(user.username)
    password = form.find_element(By.NAME, "password")
    password.send_keys(TEST_PASSWORD)
    password.submit()
    _wait(driver, expected_conditions.url_to_be(f"{base_url}{then}"))


def _click_and_wait(driver, element, url_part: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.support import expected_conditions

    element.click()
    _wait(driver, expected_conditions.url_contains(url_part))


def _messages(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return " ".join(item.text for item in driver.find_elements(By.CSS_SELECTOR, ".messagelist li"))


def _set_value(driver, element, value: str) -> None:  # type: ignore[no-untyped-def]
    """A date input's value, as a date picker sets it (typing depends on the browser's locale)."""
    driver.execute_script("arguments[0].value = arguments[1];"
                          "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));", element, value)


def _state(driver) -> str:  # type: ignore[no-untyped-def]
    """The state row of the admin change page's first fieldset."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, ".field-state .readonly").text


def _open_in_admin(driver, base_url: str, submission: Submission) -> None:  # type: ignore[no-untyped-def]
    """From the admin list (which holds it), to its change page."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}{ADMIN_LIST}")
    assert "/accounts/login/" not in driver.current_url
    _click_and_wait(driver, driver.find_element(By.LINK_TEXT, submission.title),
                    f"{ADMIN_LIST}{submission.pk}/change/")
    assert submission.title in driver.find_element(By.ID, "content").text


def _transition(driver, label: str, *, reason: str = "", deadline: dt.date | None = None) -> None:  # type: ignore[no-untyped-def]
    """On the change page: the transition's button, its page (reason, deadline), 确认执行; back on the
    change page with the message."""
    from selenium.webdriver.common.by import By

    change_url = driver.current_url
    button = _tool(driver, label)
    assert "review-blocked" not in (button.get_attribute("class") or ""), button.get_attribute("title")
    _click_and_wait(driver, button, "/transition/")
    assert f"将对该申报执行“{label}”" in _body(driver)
    if reason:
        driver.find_element(By.ID, "id_reason").send_keys(reason)
    if deadline is not None:
        _set_value(driver, driver.find_element(By.ID, "id_deadline"), deadline.isoformat())
    driver.find_element(By.CSS_SELECTOR, "input[type=submit][value='确认执行']").click()
    _wait(driver, lambda d: d.current_url == change_url and f"已执行“{label}”" in _messages(d))


def _tool(driver, label: str, *, exact: bool = True):  # type: ignore[no-untyped-def]
    """A button of the change page's object tools, by its text (or the start of it)."""
    from selenium.webdriver.common.by import By

    test = f"normalize-space()='{label}'" if exact else f"starts-with(normalize-space(), '{label}')"
    return driver.find_element(By.XPATH, f"//ul[contains(@class,'object-tools')]//a[{test}]")


def _row(driver, table_id: str, first_cell: str):  # type: ignore[no-untyped-def]
    """The row of the table whose first cell reads `first_cell`."""
    from selenium.webdriver.common.by import By

    cell = f"td[1][normalize-space()='{first_cell}']"
    return driver.find_element(By.XPATH, f"//table[@id='{table_id}']//tr[{cell}]")


def _panel_text(driver, field: str) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f".field-{field}").text


def _shot(driver, name: str) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        # The whole page, not only the window: the panels sit far below the fold.
        height, chrome = driver.execute_script(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
        driver.set_window_size(1280, min(max(height + chrome, 900), 9000))
        driver.save_screenshot(str(Path(SCREENSHOT_DIR) / f"{name}.png"))
        driver.set_window_size(1280, 900)


def _activity_rows(driver) -> list[str]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#activity-group tbody tr")
            if row.text.strip()]


# --- the journey --------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_return_resubmit_diff_pass_checklist_and_decision_in_a_real_browser(
        live_server, browser, world, private_storage):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select

    submission = _filed(world)
    panel = _panel(world)
    base_url = live_server.url
    city, applicant, province = (world.user(key)
                                 for key in ("zhengzhou_reviewer", "a_admin", "henan_officer"))
    due = timezone.localdate() + dt.timedelta(days=10)
    with scopes_disabled():
        old_investment = submission.data["center_investment"]
    new_investment = "920"
    assert old_investment != new_investment

    # 1. The city's reviewer returns it for additions, with reasons and a deadline.
    _log_in_as(browser, base_url, city, ADMIN_LIST)
    assert submission.title in _body(browser)
    _open_in_admin(browser, base_url, submission)
    assert _state(browser) == "已提交"
    assert "该申报没有退回后重新提交的记录" in _panel_text(browser, "resubmission_panel")
    # The city's step: not the province's (no accept button, no assigning).
    tools = browser.find_element(By.CSS_SELECTOR, "ul.object-tools").text
    assert "退回补正" in tools and "初审通过并推荐" in tools
    assert "省厅受理" not in tools and "分配专家" not in tools
    # Without a reason and a deadline the return is refused, nothing changed.
    _tool(browser, "退回补正").click()
    _wait(browser, expected_conditions.url_contains("/transition/return_for_additions/"))
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value='确认执行']").click()
    # The browser's own check stops an empty required field first; the server's answer is tested in
    # tests/reviews/test_admin.py. Still on the transition page, nothing changed:
    assert "/transition/return_for_additions/" in browser.current_url
    with scopes_disabled():
        assert Submission.objects.get(pk=submission.pk).state == SubmissionState.SUBMITTED
    browser.back()
    _wait(browser, expected_conditions.url_contains("/change/"))
    _transition(browser, "退回补正", reason=RETURN_REASON, deadline=due)
    assert _state(browser) == "退回补正"
    assert _zh_date(due) in _panel_text(browser, "additions_due")
    assert any("return_for_additions" in row or "退回补正" in row for row in _activity_rows(browser))
    assert RETURN_REASON in browser.find_element(By.ID, "activity-group").text

    # 2. The applicant sees the return with its reasons above the form, changes the investment, and
    #    resubmits.
    detail = f"/applications/{submission.pk}/"
    _log_in_as(browser, base_url, applicant, "/applications/")
    assert submission.title in _body(browser)
    browser.get(f"{base_url}{detail}")
    _wait(browser, expected_conditions.url_contains("/sections/"))
    notice = browser.find_element(By.ID, "returned-notice")
    assert "退回补正" in notice.text and RETURN_REASON in notice.text
    assert _zh_date(due) in notice.text
    browser.get(f"{base_url}{detail}sections/center/")
    investment = browser.find_element(By.ID, "f-center_investment")
    assert investment.get_attribute("value") == old_investment
    investment.clear()
    investment.send_keys(new_investment)
    browser.find_element(By.ID, "save-draft").click()
    _wait(browser, lambda d: "草稿已保存" in " ".join(
        item.text for item in d.find_elements(By.CSS_SELECTOR, ".messages li")))
    browser.find_element(By.ID, "tab-submit").click()
    _wait(browser, expected_conditions.url_contains("/submit/"))
    assert "可以提交" in browser.find_element(By.ID, "blockers").text
    browser.find_element(By.ID, "submit-button").click()
    _wait(browser, lambda d: d.current_url == f"{base_url}{detail}" and "申报已提交" in _body(d))
    assert browser.find_element(By.ID, "submission-state").text == "已提交"
    assert not browser.find_elements(By.ID, "returned-notice")  # answered: the notice is gone
    assert "第 2 次提交" in _body(browser)

    # 3. The reviewer sees what changed since the returned version, and recommends it.
    _log_in_as(browser, base_url, city, ADMIN_LIST)
    _open_in_admin(browser, base_url, submission)
    diff = _panel_text(browser, "resubmission_panel")
    assert "第 2 次提交相对退回版本的修改" in diff and RETURN_REASON in diff
    row = browser.find_element(By.XPATH, "//div[contains(@class,'field-resubmission_panel')]"
                                         "//tr[td[normalize-space()='能碳管理中心建设软硬件投资']]")
    cells = [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
    assert cells == ["能碳管理中心基本信息", "能碳管理中心建设软硬件投资", old_investment, new_investment]
    assert len(browser.find_elements(By.CSS_SELECTOR, ".field-resubmission_panel tbody tr")) == 1  # only that
    _shot(browser, "admin-change-diff")
    _transition(browser, "初审通过并推荐", reason=RECOMMENDATION)
    assert _state(browser) == "初审通过"

    # 4. The province accepts it, assigns the panel (the world's expert leads), and starts the review.
    _log_in_as(browser, base_url, province, ADMIN_LIST)
    _open_in_admin(browser, base_url, submission)
    assert RECOMMENDATION in browser.find_element(By.ID, "activity-group").text
    _transition(browser, "省厅受理")
    assert _state(browser) == "已受理"
    assert "条件未满足" in _tool(browser, "提交专家评审", exact=False).text  # no lead expert yet
    _click_and_wait(browser, browser.find_element(By.LINK_TEXT, "分配专家"), "/assign/")
    assert "尚未分配专家" in _body(browser)
    for index, expert in enumerate(panel):
        name = expert.get_full_name()
        offered = _row(browser, "offered", name)
        if index == 0:
            offered.find_element(By.NAME, "lead").click()
        offered.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        _wait(browser, lambda d, name=name: f"已分配 {name}" in _messages(d))
    assigned = browser.find_element(By.ID, "assigned").text
    assert all(expert.get_full_name() in assigned for expert in panel)
    assert "✓" in _row(browser, "assigned", panel[0].get_full_name()).text
    browser.find_element(By.LINK_TEXT, "返回申报").click()
    _wait(browser, expected_conditions.url_contains("/change/"))
    assert "已分配 3 位专家" in _panel_text(browser, "assignment_note")
    _transition(browser, "提交专家评审")
    assert _state(browser) == "专家评审中"
    assert "条件未满足" in _tool(browser, "遴选通过", exact=False).text  # no sheets yet

    # The lead expert fills the checklist: a verdict per condition, a note, a photo; saves; submits.
    expert = panel[0]
    _log_in_as(browser, base_url, expert, ADMIN_LIST)
    listed = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    assert len(listed) == 1 and submission.title in listed[0].text  # the expert's assignments only
    _open_in_admin(browser, base_url, submission)
    _click_and_wait(browser, _tool(browser, "核查表：", exact=False), f"/checklist/{CHECKLIST}/")
    page = _body(browser)
    assert "数字化能碳管理中心要素条件" in page and "能源数据采集网络健全" in page
    assert "监测佐证（提交时 / 今日）" in page
    with scopes_disabled():
        checklist = _checklist(submission)
        assert not ScoreSheet.objects.filter(assignment__expert=expert).exists()  # looking writes nothing
    keys = [item.key for item in checklist.items]
    assert len(keys) == 7
    for key in keys:
        Select(browser.find_element(By.NAME, f"verdict_{key}")).select_by_value("meets")
        assert "不适用" not in browser.find_element(By.NAME, f"verdict_{key}").text  # none may be left out
    browser.find_element(By.NAME, "note_data_network").send_keys(EXPERT_NOTE)
    photo = private_storage / "现场照片.png"
    photo.write_bytes(image_bytes("PNG", (64, 48)))
    browser.find_element(By.NAME, "photo_data_network").send_keys(str(photo))
    browser.find_element(By.ID, "id_conclusion_note").send_keys(CONCLUSION)
    _shot(browser, "admin-checklist-filled")
    browser.find_element(By.CSS_SELECTOR, "input[name=_save]").click()
    _wait(browser, lambda d: "已保存" in _messages(d))
    assert "已评判 7 / 7 项适用项" in _body(browser)
    assert browser.find_element(By.NAME, "note_data_network").get_attribute("value") == EXPERT_NOTE
    assert browser.find_element(By.LINK_TEXT, "现场照片.png")
    assert Select(browser.find_element(By.NAME, "verdict_integration")).first_selected_option.text == "符合"
    browser.find_element(By.CSS_SELECTOR, "input[name=_submit]").click()
    _wait(browser, lambda d: "评审表已提交" in _messages(d))
    assert "不能再修改" in _body(browser)
    assert not browser.find_element(By.NAME, "verdict_data_network").is_enabled()
    assert not browser.find_elements(By.CSS_SELECTOR, "input[name=_submit]")
    _shot(browser, "admin-checklist-submitted")
    for other in panel[1:]:
        _other_sheet(other, submission)

    # 5. The province sees the three sheets combined, and decides.
    _log_in_as(browser, base_url, province, ADMIN_LIST)
    _open_in_admin(browser, base_url, submission)
    scores = _panel_text(browser, "scores_panel")
    assert "已提交 3 份专家评审表" in scores and "结论：通过" in scores
    assert f"{expert.get_full_name()}（组长）" in scores
    _transition(browser, "遴选通过", reason=DECISION)
    assert _state(browser) == "通过"
    tools = browser.find_element(By.CSS_SELECTOR, "ul.object-tools").text
    assert "公布遴选结果" in tools and "遴选通过" not in tools  # decided: only publishing is left
    activity = browser.find_element(By.ID, "activity-group").text
    for text in (RETURN_REASON, RECOMMENDATION, DECISION):
        assert text in activity
    _shot(browser, "admin-change-decided")
    # The officer reads the lead's sheet as submitted, note and photo included.
    _click_and_wait(browser, _tool(browser, "核查表：", exact=False), f"/checklist/{CHECKLIST}/")
    sheets = _body(browser)
    assert "已提交 3 份专家评审表" in sheets and CONCLUSION in sheets and EXPERT_NOTE in sheets
    assert browser.find_element(By.LINK_TEXT, "现场照片.png")
    _shot(browser, "admin-checklist-read-only")
    # The applicant's page shows the outcome.
    _log_in_as(browser, base_url, applicant, "/applications/")
    browser.get(f"{base_url}{detail}")
    assert browser.find_element(By.ID, "submission-state").text == "通过"

    # The database: each step once, in order, by its owner, with its reason.
    with scopes_disabled():
        fresh = Submission.objects.get(pk=submission.pk)
        assert fresh.state == SubmissionState.PASSED and fresh.additions_due is None
        assert fresh.data["center_investment"] == new_investment
        assert fresh.filings.count() == 2
        steps: list[tuple[Any, ...]] = list(
            Activity.objects.filter(submission=submission).order_by("created_at", "id")
            .values_list("action", "from_state", "to_state", "actor__username", "reason", "deadline"))
        assert steps == [
            ("submit", "draft", "submitted", applicant.username, "", None),
            ("return_for_additions", "submitted", "returned", city.username, RETURN_REASON, due),
            ("resubmit", "returned", "submitted", applicant.username, "", None),
            ("recommend", "submitted", "first_review_passed", city.username, RECOMMENDATION, None),
            ("accept", "first_review_passed", "accepted", province.username, "", None),
            ("start_expert_review", "accepted", "under_expert_review", province.username, "", None),
            ("decide_pass", "under_expert_review", "passed", province.username, DECISION, None),
        ]
        assignments = Assignment.objects.filter(submission=submission, withdrawn_at__isnull=True)
        assert {(item.expert_id, item.is_lead, item.assigned_by_id) for item in assignments} == {
            (panel[0].pk, True, province.pk), (panel[1].pk, False, province.pk),
            (panel[2].pk, False, province.pk)}
        sheet = ScoreSheet.objects.get(assignment__expert=expert, checklist=CHECKLIST)
        assert sheet.submitted_at is not None and sheet.conclusion_note == CONCLUSION
        items = {row.item: (row.verdict, row.note) for row in ScoreItem.objects.filter(sheet=sheet)}
        assert items == {key: ("meets", EXPERT_NOTE if key == "data_network" else "") for key in keys}
        stored = ScoreItemPhoto.objects.get(item__sheet=sheet)
        assert (stored.item.item, stored.content_type, stored.original_name) == (
            "data_network", "image/png", "现场照片.png")
        assert ScoreSheet.objects.filter(submission=submission, submitted_at__isnull=False).count() == 3
