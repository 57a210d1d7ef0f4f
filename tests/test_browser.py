"""Real headless Chromium against a live server: every demo account logs in through the
Chinese login page and sees its own reach, and nothing beyond it."""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from portal.demo import DEMO_ENTERPRISES
from tests.conftest import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_LOAD_TIMEOUT_S = 60
WAIT_TIMEOUT_S = 30

NAMES = {entry.key: entry.name for entry in DEMO_ENTERPRISES}
ALL_NAMES = set(NAMES.values())
ZHENGZHOU = {NAMES["zhengzhou"], NAMES["zhengzhou_pending"]}
MINHANG = {NAMES["shanghai"], NAMES["park"], NAMES["park_member_materials"], NAMES["park_member_datacenter"]}

# username -> (names the landing page shows, names in the account's reach: the enterprise list page)
EXPECTED_PAGES: dict[str, tuple[set[str], set[str]]] = {
    "demo_enterprise": ({NAMES["zhengzhou"]}, {NAMES["zhengzhou"]}),
    "demo_enterprise_b": ({NAMES["luoyang"]}, {NAMES["luoyang"]}),
    "demo_shanghai": ({NAMES["shanghai"]}, {NAMES["shanghai"]}),
    "demo_park": ({NAMES["park"]},
                  {NAMES["park"], NAMES["park_member_materials"], NAMES["park_member_datacenter"]}),
    "demo_city": (ZHENGZHOU, ZHENGZHOU),
    "demo_district": (MINHANG, MINHANG),
    "demo_province": (ZHENGZHOU | {NAMES["luoyang"]}, ZHENGZHOU | {NAMES["luoyang"]}),
    # The demo reviews assign demo_expert to the Shanghai enterprise's on-site check: an expert
    # reads the enterprises of their assignments (portal.access), nothing else.
    "demo_expert": (set(), {NAMES["shanghai"]}),
    # The platform admin's landing page lists the registrations waiting for a decision.
    "demo_admin": ({NAMES["zhengzhou_pending"]}, ALL_NAMES),
}

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module", autouse=True)
def _restore_migration_data(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Put back what the migrations loaded (regions) once the transactional test has flushed
    the tables, so the tests after this module, and the next `--reuse-db` run, still find it."""
    yield
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents:
        with django_db_blocker.unblock():
            connection.creation.deserialize_db_from_string(contents)


@pytest.fixture
def browser() -> Iterator[object]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        unavailable(f"headless browser not installed: {', '.join(missing)} "
                    "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="nengtan-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={profile}", "--lang=zh-CN",
                     "--window-size=1280,900"):
        options.add_argument(argument)
    # A Chinese user's browser: the portal picks its language from Accept-Language.
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _body(driver) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def _assert_shows_exactly(driver, shown: set[str], where: str, username: str) -> None:  # type: ignore[no-untyped-def]
    body = _body(driver)
    for name in sorted(ALL_NAMES):
        problem = "missing" if name in shown else "leaked"
        assert (name in body) == (name in shown), f"{username} on {where}: {name} {problem}"


def _log_in(driver, base_url: str, username: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/accounts/login/")
    html = driver.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("lang") == "zh-hans"
    assert "登录" in _body(driver)
    form = driver.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(username)
    form.find_element(By.NAME, "password").send_keys(settings.DEMO_PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, WAIT_TIMEOUT_S).until(expected_conditions.url_to_be(f"{base_url}/"))


def _log_out(driver, base_url: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.XPATH, "//form[contains(@action, '/accounts/logout/')]//button").click()
    WebDriverWait(driver, WAIT_TIMEOUT_S).until(expected_conditions.url_contains("/accounts/login/"))
    driver.get(f"{base_url}/")
    assert "/accounts/login/" in driver.current_url  # the session is gone


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_each_demo_account_sees_its_reach_in_a_real_browser(live_server, browser):
    call_command("seed_demo", stdout=io.StringIO())  # the printed table is tested in test_seed_demo
    base_url = live_server.url
    for username, (landing, reach) in EXPECTED_PAGES.items():
        _log_in(browser, base_url, username)
        _assert_shows_exactly(browser, landing, "the landing page", username)
        browser.get(f"{base_url}/enterprises/")
        _assert_shows_exactly(browser, reach, "the enterprise list", username)
        _log_out(browser, base_url)
