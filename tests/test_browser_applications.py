"""Real headless Chromium against a live server: an enterprise admin logs in, starts an application,
types into its form (the character counter counts along and turns red over the limit), saves a
draft, leaves and comes back to find every value, loses the session mid-edit without losing what
was typed, and is refused filing while the form is incomplete. Then, on a filled application: the
attachments page takes a real PDF and a PNG, the complete application is filed, and its PDF (and
the attachment) download as what they are."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from django.db import connection
from django_scopes import scopes_disabled

from applications.models import Attachment, Submission
from applications.services import program_load, submission_save, submission_start
from tests.applications.attachment_files import attachment_definition, image_bytes, pdf_bytes
from tests.applications.core_definition import core_definition
from tests.conftest import TEST_PASSWORD
from tests.test_browser import WAIT_TIMEOUT_S, browser  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.browser]

# Set to a folder to keep screenshots of the form page (for looking at the layout).
SCREENSHOT_DIR = os.environ.get("NENGTAN_SCREENSHOT_DIR", "")


@pytest.fixture(scope="module", autouse=True)
def _restore_migration_data(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Put back what the migrations loaded (regions, factor sets) once the transactional test has
    flushed the tables, for the tests after this module."""
    yield
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents:
        with django_db_blocker.unblock():
            connection.creation.deserialize_db_from_string(contents)


def _wait(driver, condition):  # type: ignore[no-untyped-def]
    """Until `condition` holds. An element found just before the page was replaced (a form post
    answered by a redirect) goes stale: that is "not yet", and the condition is asked again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_TIMEOUT_S,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def _log_in(driver, base_url: str, username: str, then: str = "/") -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    driver.get(f"{base_url}/accounts/login/?next={then}")
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(username)
    password = form.find_element(By.NAME, "password")
    password.send_keys(TEST_PASSWORD)
    password.submit()
    _wait(driver, expected_conditions.url_to_be(f"{base_url}{then}"))


def _saved(driver) -> bool:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return any("草稿已保存" in item.text for item in driver.find_elements(By.CSS_SELECTOR, ".messages li"))


def _shot(driver, name: str) -> None:  # type: ignore[no-untyped-def]
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SCREENSHOT_DIR) / f"{name}.png"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_applicant_fills_saves_leaves_returns_and_is_refused_while_incomplete(
        live_server, browser, world):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    with scopes_disabled():
        program, _ = program_load(definition=core_definition())
    user = world.user("a_admin")
    base_url = live_server.url
    _log_in(browser, base_url, user.username)

    # 我的申报 → 新建申报 → the program → its first section.
    browser.find_element(By.LINK_TEXT, "我的申报").click()
    assert "还没有申报" in browser.find_element(By.ID, "empty-state").text
    browser.find_element(By.ID, "new-submission").click()
    browser.find_element(By.CSS_SELECTOR, f"#program-{program.code} button[type=submit]").click()
    _wait(browser, expected_conditions.url_contains("/sections/basic/"))
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    assert browser.find_element(By.ID, "f-company_name").get_attribute("value") == world.tenant_a.name
    with scopes_disabled():
        submission = Submission.objects.get(enterprise=world.tenant_a)

    # Type into the basic section: a date, a choice, the economics table; save the draft.
    founded = browser.find_element(By.ID, "f-founded")
    browser.execute_script("arguments[0].value = '2010-05-01';"
                           "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));", founded)
    browser.find_element(By.CSS_SELECTOR, "input[name=claims_big][value=no]").click()
    browser.find_element(By.ID, "f-economics-0-assets").send_keys("200")
    browser.find_element(By.ID, "f-economics-0-liabilities").send_keys("50")
    browser.find_element(By.ID, "save-draft").click()
    _wait(browser, _saved)
    assert "25.00%" in browser.find_element(By.ID, "val-f-economics-0-debt_ratio").text

    # The center section: the counter counts as one types and turns red over the limit.
    browser.find_element(By.CSS_SELECTOR, '.section-list li[data-section="center"] a').click()
    _wait(browser, expected_conditions.url_contains("/sections/center/"))
    summary = browser.find_element(By.ID, "f-summary")
    counter = browser.find_element(By.ID, "count-f-summary")
    assert counter.text == "0 / 10 字"
    summary.send_keys("能碳管理中心")
    assert counter.text == "6 / 10 字" and "over" not in counter.get_attribute("class")
    summary.send_keys("建设情况总体描述")
    assert counter.text == "14 / 10 字" and "over" in counter.get_attribute("class")
    browser.find_element(By.ID, "f-investment").send_keys("-3")
    # Autosave posts the section and swaps the status list in, messages beside the fields.
    _wait(browser, expected_conditions.visibility_of_element_located((By.ID, "autosaved")))
    beside = expected_conditions.text_to_be_present_in_element
    _wait(browser, beside((By.ID, "fb-f-investment"), "不能为负数"))
    _wait(browser, beside((By.ID, "fb-f-summary"), "不超过 10 字"))
    _shot(browser, "form-center")
    browser.find_element(By.ID, "save-draft").click()
    _wait(browser, _saved)

    # Leave, come back through the list: everything is there as typed.
    browser.get(f"{base_url}/")
    browser.find_element(By.LINK_TEXT, "我的申报").click()
    browser.find_element(By.LINK_TEXT, "继续填写").click()
    _wait(browser, expected_conditions.url_contains("/sections/basic/"))
    assert browser.find_element(By.ID, "f-founded").get_attribute("value") == "2010-05-01"
    assert browser.find_element(By.ID, "f-economics-0-assets").get_attribute("value") == "200"
    browser.find_element(By.CSS_SELECTOR, '.section-list li[data-section="center"] a').click()
    _wait(browser, expected_conditions.url_contains("/sections/center/"))
    assert browser.find_element(By.ID, "f-summary").get_attribute("value") == "能碳管理中心建设情况总体描述"
    assert browser.find_element(By.ID, "f-investment").get_attribute("value") == "-3"
    assert "不能为负数" in browser.find_element(By.ID, "fb-f-investment").text
    assert browser.find_element(By.ID, "restore-notice").get_attribute("hidden") is not None

    # The session runs out mid-edit: the autosave meets the login page; what was typed stays in the
    # browser and comes back once the applicant has logged in again.
    section_path = f"/applications/{submission.pk}/sections/center/"
    browser.delete_cookie("sessionid")
    investment = browser.find_element(By.ID, "f-investment")
    investment.clear()
    investment.send_keys("80")
    _wait(browser, expected_conditions.visibility_of_element_located((By.ID, "autosave-failed")))
    submission.refresh_from_db()
    assert submission.data["investment"] == "-3"
    _log_in(browser, base_url, user.username, then=section_path)
    _wait(browser, expected_conditions.visibility_of_element_located((By.ID, "restore-notice")))
    assert "已恢复" in browser.find_element(By.ID, "restore-notice").text
    assert browser.find_element(By.ID, "f-investment").get_attribute("value") == "80"
    browser.find_element(By.ID, "save-draft").click()
    _wait(browser, _saved)
    submission.refresh_from_db()
    assert submission.data["investment"] == "80"
    assert browser.find_element(By.ID, "restore-notice").get_attribute("hidden") is not None

    # Filing is refused while the form is incomplete, with what is missing.
    browser.find_element(By.ID, "tab-submit").click()
    browser.find_element(By.ID, "submit-button").click()
    refused = _wait(browser, expected_conditions.visibility_of_element_located((By.ID, "refused")))
    assert "暂不能提交" in refused.text and "真实性承诺" in refused.text and "请上传营业执照" in refused.text
    submission.refresh_from_db()
    assert submission.state == "draft"


# The form as the first test types it, complete: filed with the attachments the page uploads.
FILLED = {
    "founded": "2010-05-01", "claims_big": "no", "summary": "能碳管理中心", "investment": "80",
    "commitment": "yes",
    "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}],
}


@dataclass
class Fetched:
    status: int
    headers: Message
    content: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None  # a redirect is the answer to look at, not followed


def _fetch(url: str, cookie: str = "") -> Fetched:
    """GET `url` as a plain HTTP client (standard library), redirects not followed."""
    assert url.startswith("http://"), url  # the live server, nothing else
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})  # noqa: S310
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=60) as response:
            return Fetched(response.status, response.headers, response.read())
    except urllib.error.HTTPError as answer:  # 3xx/4xx arrive as errors when not followed
        return Fetched(answer.code, answer.headers, answer.read())


def _in_browser_session(driver, base_url: str, path: str) -> Fetched:  # type: ignore[no-untyped-def]
    """GET `path` from the live server with the browser's cookies (what a click downloads)."""
    cookie = "; ".join(f"{item['name']}={item['value']}" for item in driver.get_cookies())
    return _fetch(f"{base_url}{path}", cookie)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_applicant_attaches_a_pdf_and_a_png_files_and_downloads_the_pdf(
        live_server, browser, world, settings, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    settings.STORAGES = {**settings.STORAGES, "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": tmp_path / "private"}}}
    user = world.user("a_admin")
    with scopes_disabled():
        program, _ = program_load(definition=attachment_definition())
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user)
        check = submission_save(submission=submission, user=user, changes=FILLED, title="郑州甲附件与提交")
    assert not check.errors, check.errors
    licence = tmp_path / "营业执照.pdf"
    licence.write_bytes(pdf_bytes("Business licence of tenant A"))
    photo = tmp_path / "现场照片.png"
    photo.write_bytes(image_bytes("PNG", (160, 120)))
    base_url = live_server.url
    _log_in(browser, base_url, user.username)

    # 我的申报 → 继续填写 → 附件: the licence is missing, and filing says so.
    browser.find_element(By.LINK_TEXT, "我的申报").click()
    browser.find_element(By.LINK_TEXT, "继续填写").click()
    _wait(browser, expected_conditions.url_contains("/sections/"))
    browser.find_element(By.ID, "tab-attachments").click()
    _wait(browser, expected_conditions.url_contains("/attachments/"))
    assert "缺 1 项" in browser.find_element(By.ID, "tab-attachments").text
    row = browser.find_element(By.CSS_SELECTOR, 'tr[data-kind="licence"]')
    assert "必须上传" in row.text and "todo" in row.get_attribute("class")

    # The licence as a PDF, a site photo as a PNG: each upload comes back listed, the photo with
    # its thumbnail, the kind complete.
    for kind, path in (("licence", licence), ("photos", photo)):
        browser.find_element(By.ID, f"file-{kind}").send_keys(str(path))
        browser.find_element(By.CSS_SELECTOR, f'tr[data-kind-files="{kind}"] .upload-form button').click()
        _wait(browser, lambda d, name=path.name: f"已上传“{name}”" in " ".join(
            item.text for item in d.find_elements(By.CSS_SELECTOR, ".messages li")))
        files = browser.find_element(By.CSS_SELECTOR, f'tr[data-kind-files="{kind}"] .attachment-files')
        assert path.name in files.text
    assert "done" in browser.find_element(By.CSS_SELECTOR, 'tr[data-kind="licence"]').get_attribute("class")
    assert "齐全" in browser.find_element(By.CSS_SELECTOR, 'tr[data-kind="licence"]').text
    thumb = browser.find_element(By.CSS_SELECTOR, 'tr[data-kind-files="photos"] img.thumb')
    _wait(browser, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth",
                                              thumb))
    assert thumb.get_attribute("alt") == photo.name
    assert not browser.find_elements(By.CSS_SELECTOR, "#tab-attachments .badge-todo")
    with scopes_disabled():
        stored = {item.kind: item for item in Attachment.objects.filter(submission=submission)}
    assert set(stored) == {"licence", "photos"}
    assert (stored["licence"].content_type, stored["photos"].content_type) == ("application/pdf", "image/png")
    _shot(browser, "attachments")

    # 资格与提交: nothing left to do; filing it opens the filed application.
    browser.find_element(By.ID, "tab-submit").click()
    _wait(browser, expected_conditions.url_contains("/submit/"))
    assert "可以提交" in browser.find_element(By.ID, "blockers").text
    browser.find_element(By.ID, "submit-button").click()
    detail = f"{base_url}/applications/{submission.pk}/"
    _wait(browser, lambda d: d.current_url == detail and "申报已提交" in " ".join(
        item.text for item in d.find_elements(By.CSS_SELECTOR, ".messages li")))
    assert browser.find_element(By.ID, "submission-state").text == "已提交"
    filed = browser.find_element(By.ID, "filed-attachments").text
    assert "营业执照：营业执照.pdf" in filed and "现场照片：现场照片.png" in filed
    submission.refresh_from_db()
    assert submission.state == "submitted"
    with scopes_disabled():
        filing = submission.filings.get()
    assert sorted(item["name"] for item in filing.attachments) == sorted([licence.name, photo.name])

    # The PDF link answers a PDF to this session, and nothing to a request without it.
    pdf_path = browser.find_element(By.ID, "pdf-link").get_attribute("href").removeprefix(base_url)
    response = _in_browser_session(browser, base_url, pdf_path)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and len(response.content) > 1000
    outside = _fetch(f"{base_url}{pdf_path}")
    assert outside.status == 302 and "/accounts/login/" in outside.headers["Location"]
    # The uploaded PDF downloads back byte for byte, as an attachment.
    link = browser.find_element(By.LINK_TEXT, licence.name).get_attribute("href").removeprefix(base_url)
    download = _in_browser_session(browser, base_url, link)
    assert download.status == 200 and download.content == licence.read_bytes()
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
