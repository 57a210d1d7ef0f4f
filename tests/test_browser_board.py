"""Real headless Chromium against a live server: an enterprise admin logs in through the Chinese
login page, opens the 看板, and finds its three charts drawn by ECharts with data."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from metering.monitoring.tasks import recompute_rollups
from tests.conftest import TEST_PASSWORD
from tests.metering.test_board import ingest
from tests.metering.test_ingest import make_meter
from tests.test_browser import WAIT_TIMEOUT_S, browser  # noqa: F401  (the Chromium fixture)

pytestmark = [pytest.mark.browser]

CHARTS = ("chart-structure", "chart-trend", "chart-compare")
# The first series' data of an ECharts instance drawn in `el`, or null when none is drawn there.
SERIES_DATA_JS = """
const el = document.getElementById(arguments[0]);
const chart = el && window.echarts && echarts.getInstanceByDom(el);
if (!chart) { return null; }
const series = chart.getOption().series || [];
return series.length ? series[0].data : [];
"""


@pytest.fixture(scope="module", autouse=True)
def _restore_migration_data(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Put back what the migrations loaded (regions, the shipped factor sets) once the
    transactional test has flushed the tables, for the tests after this module."""
    yield
    contents = getattr(connection, "_test_serialized_contents", None)
    if contents:
        with django_db_blocker.unblock():
            connection.creation.deserialize_db_from_string(contents)


def _readings_of_the_last_hours(world) -> None:  # type: ignore[no-untyped-def]
    """An electricity and a gas meter read every 15 minutes for the last three hours (within
    today, so the quarter-hour trend, this month's structure and the comparison all have data)."""
    now = timezone.now()
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(now - dt.timedelta(hours=3), midnight + dt.timedelta(minutes=1))
    instants = []
    at = start
    while at <= now:
        instants.append(at)
        at += dt.timedelta(minutes=15)
    make_meter(world.tenant_a, "BROWSER-E-1")
    make_meter(world.tenant_a, "BROWSER-G-1", energy_type="natural_gas", unit="m³")
    ingest(world.tenant_a.pk, "BROWSER-E-1", [(ts, 1000.0 + 25.0 * i) for i, ts in enumerate(instants)])
    ingest(world.tenant_a.pk, "BROWSER-G-1", [(ts, 50.0 + 2.0 * i) for i, ts in enumerate(instants)])
    recompute_rollups()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_board_draws_its_charts_with_data(live_server, browser, world):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    _readings_of_the_last_hours(world)
    user = world.user("a_admin")
    base_url = live_server.url
    browser.get(f"{base_url}/accounts/login/")
    form = browser.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(user.username)
    password = form.find_element(By.NAME, "password")
    password.send_keys(TEST_PASSWORD)
    password.submit()
    WebDriverWait(browser, WAIT_TIMEOUT_S).until(expected_conditions.url_to_be(f"{base_url}/"))

    browser.get(f"{base_url}/metering/board/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-hans"
    assert "能源看板" in browser.find_element(By.TAG_NAME, "h1").text
    for chart_id in CHARTS:
        WebDriverWait(browser, WAIT_TIMEOUT_S).until(
            lambda driver, chart_id=chart_id: driver.execute_script(SERIES_DATA_JS, chart_id))
        data = browser.execute_script(SERIES_DATA_JS, chart_id)
        assert data, f"{chart_id}: no data drawn"
        element = browser.find_element(By.ID, chart_id)
        assert element.find_elements(By.CSS_SELECTOR, "canvas, svg"), f"{chart_id}: nothing drawn"
        assert element.size["height"] > 100 and element.size["width"] > 100

    # The donut's slices are the energy types, in tce; the trend's first series has numbers.
    slices = browser.execute_script(SERIES_DATA_JS, "chart-structure")
    assert {item["name"] for item in slices} == {"电力", "天然气"}
    assert all(item["value"] > 0 for item in slices)
    trend = browser.execute_script(SERIES_DATA_JS, "chart-trend")
    assert any(isinstance(value, (int, float)) and value > 0 for value in trend)

    # Switching the trend to one energy type in its own unit redraws it in kWh.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "trend-measure")).select_by_value("electricity")
    unit = browser.execute_script(
        "return echarts.getInstanceByDom(document.getElementById('chart-trend')).getOption().yAxis[0].name;")
    assert unit == "kWh"
    severe = [entry for entry in browser.get_log("browser")
              if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]
    assert not severe, severe  # no script error, no CSP refusal
