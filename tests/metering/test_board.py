"""The 看板 (metering/board/selectors.py) and the home pages' live figures, against hand-made
readings with hand-computed figures, on PostgreSQL with the shipped factor sets.

Factors used below (the shipped GB/T 2589 set): electricity 0.1229 kgce/kWh, natural gas
1.2143 kgce/m³.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from metering.board import selectors as board
from metering.ingest.services import readings_ingest
from metering.monitoring.tasks import recompute_rollups
from portal.access import enterprise_scope, reach_for, reach_scope
from portal.models import Enterprise
from tests.conftest import login
from tests.factories import EnterpriseFactory, region
from tests.metering.test_ingest import make_meter
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

CST = dt.timezone(dt.timedelta(hours=8))
DAY = dt.datetime(2025, 3, 10, tzinfo=CST)  # 00:00 in Shanghai
NOON = DAY + dt.timedelta(hours=12)
SLOT = dt.timedelta(minutes=15)
TCE_PER_KWH = 0.1229 / 1000
TCE_PER_M3_GAS = 1.2143 / 1000


def ingest(enterprise_id: int, code: str, points: list[tuple[dt.datetime, float]]) -> None:
    with enterprise_scope(enterprise_id):
        result = readings_ingest(enterprise_id=enterprise_id, source="http", items=[
            {"meter": code, "ts": ts.isoformat(), "value": value} for ts, value in points])
    assert result.accepted == len(points), result.as_dict()


def register(start: dt.datetime, per_slot: float, slots: int,
             base: float = 1000.0) -> list[tuple[dt.datetime, float]]:
    """A cumulative register read every 15 minutes: `per_slot` in each of `slots` quarters from
    `start` (the interval ending at a reading counts in that reading's quarter)."""
    points = [(start - SLOT, base)]
    points += [(start + SLOT * i, base + per_slot * (i + 1)) for i in range(slots)]
    return points


def plant(enterprise: Enterprise) -> dict[str, int]:
    """Two boundary meters (electricity, gas) and a sub-meter under the electricity one."""
    meters = {
        "E-1": make_meter(enterprise, "BOARD-E-1"),
        "G-1": make_meter(enterprise, "BOARD-G-1", energy_type="natural_gas", unit="m³"),
    }
    meters["E-2"] = make_meter(enterprise, "BOARD-E-2", level=2, parent=meters["E-1"])
    return {key: meter.pk for key, meter in meters.items()}


def morning(enterprise: Enterprise) -> dict[str, int]:
    """The plant read every quarter from 00:00 to 11:45 on DAY: 10 kWh, 4 kWh (sub-meter) and
    1 m³ in each of the 48 quarters, then its rollups."""
    ids = plant(enterprise)
    ingest(enterprise.pk, "BOARD-E-1", register(DAY, 10.0, 48))
    ingest(enterprise.pk, "BOARD-E-2", register(DAY, 4.0, 48))
    ingest(enterprise.pk, "BOARD-G-1", register(DAY, 1.0, 48))
    recompute_rollups()
    return ids


def data_of(enterprise: Enterprise, **kwargs):  # type: ignore[no-untyped-def]
    with enterprise_scope(enterprise.pk):
        return board.board_data(enterprise, now=kwargs.pop("now", NOON), **kwargs)


def series(data, energy_type: str):  # type: ignore[no-untyped-def]
    [found] = [s for s in data["trend"]["series"] if s["energy_type"] == energy_type]
    return found


# --- board_data -----------------------------------------------------------------------------------


def test_a_day_in_quarter_hours_sums_the_boundary_meters_only(world) -> None:  # type: ignore[no-untyped-def]
    morning(world.tenant_a)
    data = data_of(world.tenant_a, trend="15min")
    trend = data["trend"]
    assert len(trend["labels"]) == 96 and trend["labels"][:2] == ["00:00", "00:15"]
    assert trend["buckets"][0] == "2025-03-10T00:00:00+08:00"
    electricity = series(data, "electricity")
    # The sub-meter's 4 kWh are inside the boundary meter's 10: counted once.
    assert electricity["quantity"][:48] == [10.0] * 48
    assert electricity["quantity"][48] == 0.0  # 12:00 has begun, nothing yet
    assert electricity["quantity"][49:] == [None] * 47  # the afternoon is still to come
    assert electricity["unit"] == "kWh" and electricity["label"] == "电力"
    assert electricity["tce"][0] == pytest.approx(10 * TCE_PER_KWH)
    gas = series(data, "natural_gas")
    assert gas["quantity"][:48] == [1.0] * 48
    assert gas["tce"][47] == pytest.approx(TCE_PER_M3_GAS)
    assert {s["energy_type"] for s in trend["series"]} == {"electricity", "natural_gas"}


def test_a_month_in_days_and_a_year_in_months(world) -> None:  # type: ignore[no-untyped-def]
    morning(world.tenant_a)
    days = data_of(world.tenant_a, trend="day")["trend"]
    assert len(days["labels"]) == 31 and days["labels"][9] == "3月10日"
    electricity = series({"trend": days}, "electricity")
    assert electricity["quantity"][9] == pytest.approx(480.0)
    assert electricity["quantity"][:9] == [0.0] * 9  # before the readings: zero, drawn
    assert electricity["quantity"][10:] == [None] * 21  # after `now`: not drawn
    months = data_of(world.tenant_a, trend="month")["trend"]
    assert months["labels"] == [f"{m}月" for m in range(1, 13)]
    gas = series({"trend": months}, "natural_gas")
    assert gas["quantity"][2] == pytest.approx(48.0)
    assert gas["tce"][2] == pytest.approx(48 * TCE_PER_M3_GAS)
    assert gas["quantity"][3:] == [None] * 9


def test_structure_and_month_figures_in_tce(world) -> None:  # type: ignore[no-untyped-def]
    morning(world.tenant_a)
    data = data_of(world.tenant_a)
    month = data["month"]
    assert month["error"] is None
    assert month["period"]["label"] == "2025年3月1日至2025年3月10日"
    electricity_tce, gas_tce = 480 * TCE_PER_KWH, 48 * TCE_PER_M3_GAS  # 0.058992 + 0.0582864
    assert month["total_tce"] == pytest.approx(electricity_tce + gas_tce)
    structure = {line["energy_type"]: line for line in data["structure"]}
    assert structure["electricity"]["quantity"] == pytest.approx(480.0)
    assert structure["electricity"]["unit"] == "kWh"
    assert structure["natural_gas"]["tce"] == pytest.approx(gas_tce)
    assert structure["electricity"]["share"] == pytest.approx(electricity_tce / (electricity_tce + gas_tce))
    assert sum(line["share"] for line in data["structure"]) == pytest.approx(1.0)
    # Largest first, as the donut and its table list them.
    assert [line["energy_type"] for line in data["structure"]] == ["electricity", "natural_gas"]
    assert month["factor_sets"]


def test_year_on_year_and_chosen_ranges_compare_like_with_like(world) -> None:  # type: ignore[no-untyped-def]
    morning(world.tenant_a)
    a_year_before = DAY.replace(year=2024)
    # A meter of its own (say, replaced since): the register's jump from 2024 to 2025 would
    # otherwise count, rightly, in the quarter of its first 2025 reading.
    make_meter(world.tenant_a, "BOARD-E-OLD")
    ingest(world.tenant_a.pk, "BOARD-E-OLD", register(a_year_before, 5.0, 48, base=100.0))
    recompute_rollups()
    comparison = data_of(world.tenant_a)["comparison"]
    assert comparison["compare"] == "yoy"
    assert comparison["a"]["period"]["label"] == "2025年3月1日至2025年3月10日"
    assert comparison["b"]["period"]["label"] == "2024年3月1日至2024年3月10日"
    a_tce, b_tce = 480 * TCE_PER_KWH + 48 * TCE_PER_M3_GAS, 240 * TCE_PER_KWH
    assert comparison["a"]["total_tce"] == pytest.approx(a_tce)
    assert comparison["b"]["total_tce"] == pytest.approx(b_tce)
    assert comparison["change"] == pytest.approx((a_tce - b_tce) / b_tce)
    lines = {line["energy_type"]: line for line in comparison["by_energy_type"]}
    assert lines["electricity"]["b_tce"] == pytest.approx(240 * TCE_PER_KWH)
    assert lines["natural_gas"]["b_tce"] == 0.0  # no gas a year before

    custom = data_of(world.tenant_a, compare="custom", custom=(
        (DAY.date(), DAY.date()), (a_year_before.date(), a_year_before.date())))["comparison"]
    assert custom["a"]["period"]["label"] == "2025年3月10日"
    assert custom["b"]["total_tce"] == pytest.approx(b_tce)

    month_on_month = data_of(world.tenant_a, compare="mom")["comparison"]
    assert month_on_month["b"]["period"]["label"] == "2025年2月1日至2025年2月10日"
    assert month_on_month["b"]["total_tce"] == 0 and month_on_month["change"] is None


def test_meter_tree_with_status_per_level(world) -> None:  # type: ignore[no-untyped-def]
    morning(world.tenant_a)
    make_meter(world.tenant_a, "BOARD-W-1", energy_type="water", unit="t")
    make_meter(world.tenant_a, "BOARD-E-3", level=3, parent_id=None)
    ingest(world.tenant_a.pk, "BOARD-W-1", [(DAY + dt.timedelta(hours=9), 5.0)])
    meters = data_of(world.tenant_a)["meters"]
    rows = {row["code"]: row for row in meters["tree"]}
    # The newest reading 15 minutes before `now`: online; three hours: offline; none: never.
    assert rows["BOARD-E-1"]["status"] == "online" and rows["BOARD-E-1"]["status_label"] == "在线"
    assert rows["BOARD-W-1"]["status"] == "offline"
    assert rows["BOARD-E-3"]["status"] == "never"
    assert rows["BOARD-E-1"]["last_reading_at"] == "2025-03-10T11:45:00+08:00"
    # Tree order: a sub-meter right under its parent, one level deeper.
    codes = [row["code"] for row in meters["tree"]]
    assert codes.index("BOARD-E-2") == codes.index("BOARD-E-1") + 1
    assert (rows["BOARD-E-1"]["depth"], rows["BOARD-E-2"]["depth"]) == (0, 1)
    # Today's consumption and slots, from the day rollup.
    assert rows["BOARD-E-2"]["today_quantity"] == pytest.approx(4.0 * 48)
    assert (rows["BOARD-E-1"]["today_received"], rows["BOARD-E-1"]["today_expected"]) == (48, 48)
    assert meters["by_level"]["1"] == {"total": 3, "online": 2, "offline": 1, "never": 0}
    assert meters["by_level"]["2"] == {"total": 1, "online": 1, "offline": 0, "never": 0}
    assert meters["by_level"]["3"] == {"total": 1, "online": 0, "offline": 0, "never": 1}
    assert meters["online_rate"]["1"] == pytest.approx(2 / 3)


def test_the_board_costs_the_same_queries_for_any_trend_and_any_number_of_meters(world) -> None:  # type: ignore[no-untyped-def]
    """What keeps it fast: a fixed number of queries, none per bucket and none per meter."""
    morning(world.tenant_a)

    def queries(**kwargs) -> int:  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as captured:
            data_of(world.tenant_a, **kwargs)
        return len(captured)

    counts = {trend: queries(trend=trend) for trend in board.TRENDS}
    assert len(set(counts.values())) == 1, counts
    for serial in range(10):
        code = f"BOARD-X-{serial}"
        make_meter(world.tenant_a, code)
        ingest(world.tenant_a.pk, code, register(DAY, 1.0, 8))
    recompute_rollups()
    assert queries(trend="15min") == counts["15min"]
    assert series(data_of(world.tenant_a), "electricity")["quantity"][0] == pytest.approx(10.0 + 10 * 1.0)


def test_a_park_board_covers_its_members_and_lists_them_worst_first(world) -> None:  # type: ignore[no-untyped-def]
    morning(world.outsider)  # a member of world.park
    empty = EnterpriseFactory(name="上海丁园区空置成员有限公司", region=region("310104"), park=world.park)
    with reach_scope(world.user("park_admin")):
        data = board.board_data(world.park, trend="day", now=NOON)
    assert data["enterprise"]["is_park"] is True
    assert series(data, "electricity")["quantity"][9] == pytest.approx(480.0)
    members = data["members"]
    assert [row["id"] for row in members] == [empty.pk, world.outsider.pk]  # no meters: worst
    assert members[1]["total_tce"] == pytest.approx(480 * TCE_PER_KWH + 48 * TCE_PER_M3_GAS)
    assert members[0]["completeness"] is None
    # The tree: the park's public areas (none here), then each member's meters, named by member.
    assert {row["code"] for row in data["meters"]["tree"]} == {"BOARD-E-1", "BOARD-E-2", "BOARD-G-1"}
    assert {row["enterprise_name"] for row in data["meters"]["tree"]} == {world.outsider.name}


def test_worst_first_orders_by_completeness_then_alarms() -> None:
    rows = [("b", 0.5, 0), ("a", 0.5, 3), ("none", None, 0), ("full", 1.0, 9), ("low", 0.1, 0)]
    ordered = sorted(rows, key=lambda row: board.worst_first_key(row[1], row[2], row[0]))
    assert [row[0] for row in ordered] == ["none", "low", "a", "b", "full"]


# --- pages ----------------------------------------------------------------------------------------


def recent(enterprise: Enterprise, code: str, kwh: float) -> None:
    """`kwh` between two readings of the last few minutes (kept inside the current month)."""
    now = timezone.now()
    month_start = now.astimezone(CST).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    latest = max(now - dt.timedelta(minutes=2), month_start + dt.timedelta(seconds=30))
    ingest(enterprise.pk, code, [(latest - dt.timedelta(minutes=1), 1000.0), (latest, 1000.0 + kwh)])
    recompute_rollups()


def test_the_enterprise_home_page_shows_this_months_live_figures(client, world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "HOME-E-1")
    recent(world.tenant_a, "HOME-E-1", 1000.0)
    login(client, world.user("a_staff"))
    response = client.get("/")
    page = response.content.decode()
    figures = response.context["figures"]
    assert figures["total_tce"] == pytest.approx(1000 * TCE_PER_KWH)
    assert 'id="home-tce">0.123<' in page  # 0.1229 tce, three decimals
    assert 'id="home-access-1">100.0%<' in page
    assert 'id="home-alarms">0<' in page
    assert "/metering/board/" in page


def test_an_enterprise_without_meters_is_told_what_to_do(client, world) -> None:  # type: ignore[no-untyped-def]
    login(client, world.user("a_admin"))
    page = client.get("/").content.decode()
    assert 'id="no-meters"' in page and "/metering/meters/new/" in page


def test_an_officials_home_lists_the_reach_worst_first_with_figures(client, world) -> None:  # type: ignore[no-untyped-def]
    # tenant_a reports, tenant_b has a meter that does not, a third has no meters at all.
    make_meter(world.tenant_a, "HOME-A-1")
    recent(world.tenant_a, "HOME-A-1", 500.0)
    make_meter(world.tenant_b, "HOME-B-1")
    silent = EnterpriseFactory(name="郑州无表计机械有限公司", region=region("410105"))
    login(client, world.user("henan_officer"))
    response = client.get("/")
    rows = response.context["enterprise_figures"]
    order = [enterprise.pk for enterprise, _figures in rows]
    assert order == [silent.pk, world.tenant_b.pk, world.tenant_a.pk]
    by_id = {enterprise.pk: figures for enterprise, figures in rows}
    assert by_id[world.tenant_a.pk]["total_tce"] == pytest.approx(500 * TCE_PER_KWH)
    page = response.content.decode()
    assert f"/metering/board/?enterprise={world.tenant_a.pk}" in page
    assert world.outsider.name not in page and world.park.name not in page

    # A city reviewer sees its own city only.
    login(client, world.user("luoyang_reviewer"))
    rows = client.get("/").context["enterprise_figures"]
    assert [enterprise.pk for enterprise, _figures in rows] == [world.tenant_b.pk]


def test_an_officials_home_paginates(client, world) -> None:  # type: ignore[no-untyped-def]
    from portal.views.pages import HOME_FIGURE_ROWS

    for serial in range(HOME_FIGURE_ROWS):
        EnterpriseFactory(name=f"郑州分页测试第{serial:02d}号有限公司", region=region("410105"))
    login(client, world.user("zhengzhou_reviewer"))
    first = client.get("/")
    assert len(first.context["enterprise_figures"]) == HOME_FIGURE_ROWS
    second = client.get("/?page=2")
    assert len(second.context["enterprise_figures"]) == 1  # 21 in reach: tenant_a and the 20
    assert "第 2 / 2 页" in second.content.decode()


def test_the_board_page_and_its_json_follow_reach(client, world) -> None:  # type: ignore[no-untyped-def]
    morning(world.tenant_a)
    login(client, world.user("a_admin"))
    page = client.get("/metering/board/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="board-data"' in html and "BOARD-E-1" in html and "echarts.min.js" in html
    assert json.loads(client.get("/metering/board/data/?trend=month").content)["trend"]["interval"] == "month"
    assert client.post("/metering/board/").status_code == 405

    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(f"/metering/board/?enterprise={world.tenant_a.pk}").status_code == 200
    assert client.get("/metering/board/").status_code == 200  # the choice of enterprise
    login(client, world.user("luoyang_reviewer"))
    for url in ("/metering/board/", "/metering/board/data/"):
        assert client.get(f"{url}?enterprise={world.tenant_a.pk}").status_code == 404
        assert client.get(f"{url}?enterprise=2147480000").status_code == 404
    assert reach_for(world.user("luoyang_reviewer")).can_see(world.tenant_a.pk) is False


def test_a_bad_custom_comparison_is_refused_with_its_reason(client, world) -> None:  # type: ignore[no-untyped-def]
    login(client, world.user("a_admin"))
    response = client.get("/metering/board/data/?compare=custom&a_first=2025-03-10&a_last=2025-03-01")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "a_last" in errors and "b_first" in errors
    page = client.get("/metering/board/?compare=custom&a_first=2025-03-10&a_last=2025-03-01")
    assert page.status_code == 200 and "截止日期不能早于起始日期" in page.content.decode()


def test_park_admin_reads_members_on_the_park_board(client, world) -> None:  # type: ignore[no-untyped-def]
    morning(world.outsider)
    login(client, world.user("park_admin"))
    html = client.get("/metering/board/").content.decode()
    assert 'id="board-members"' in html and world.outsider.name in html
    assert f"/metering/board/?enterprise={world.outsider.pk}" in html
    with unscoped():
        assert Enterprise.objects.get(pk=world.outsider.pk).park_id == world.park.pk


def test_the_boards_figures_are_the_indicators_figures(world) -> None:  # type: ignore[no-untyped-def]
    """`figures_by_enterprise` (one query for many enterprises) answers what the indicators service
    answers for each, to the last digit (one computation): an enterprise, a park with its members,
    and an enterprise with a retired meter, an unreported meter, water (a medium without CO₂ of its
    own) and electricity in two units (one line, in the unit most of its meters use)."""
    from metering.monitoring.indicators import indicators_for

    morning(world.tenant_a)
    morning(world.outsider)  # the park's member
    water = make_meter(world.tenant_a, "BOARD-W-2", energy_type="water", unit="t", level=2)
    ingest(world.tenant_a.pk, "BOARD-W-2", register(DAY, 0.5, 20))
    make_meter(world.tenant_a, "BOARD-E-9", level=3)  # never reports
    make_meter(world.tenant_a, "BOARD-MWH", unit="MWh")
    ingest(world.tenant_a.pk, "BOARD-MWH", register(DAY, 0.002, 10, base=5.0))
    make_meter(world.park, "PARK-E-1")
    ingest(world.park.pk, "PARK-E-1", register(DAY, 2.0, 30))
    recompute_rollups()
    with unscoped():
        water.is_active = False
        water.save(update_fields=["is_active"])
    period = board.Period.of_days(DAY.date().replace(day=1), DAY.date())
    with reach_scope(world.user("platform_admin")):
        enterprises = [world.tenant_a, world.park, world.tenant_b]
        # The indicators expect every quarter-hour up to the real now: the whole (past) period.
        bulk = board.figures_by_enterprise(enterprises, period=period, now=timezone.now())
        for enterprise in enterprises:
            indicators = indicators_for(enterprise, start=period.start, end=period.end)
            figures = bulk[enterprise.pk]
            assert figures["total_tce"] == float(indicators.total_tce)
            assert figures["co2_t"] == float(indicators.co2_t)
            assert figures["co2_by_scope"] == {k: float(v) for k, v in indicators.co2_by_scope.items()}
            assert figures["access_rate"] == indicators.access_rate
            assert figures["meters_by_level"] == indicators.meters_by_level
            assert figures["reporting_by_level"] == indicators.reporting_by_level
            assert figures["completeness"] == indicators.completeness
            assert (figures["expected_slots"], figures["received_slots"]) == (
                indicators.expected_slots, indicators.received_slots)
            assert figures["factor_sets"] == indicators.factor_sets
            lines = figures["by_energy_type"]
            assert [(line["energy_type"], line["unit"], line["quantity"], line["tce"]) for line in lines] == [
                (line.energy_type, line.unit, float(line.quantity), float(line.tce))
                for line in indicators.by_energy_type]
    # 480 kWh and 20 kWh (0.02 MWh) on one line, in kWh (two meters of three use it).
    electricity = next(line for line in bulk[world.tenant_a.pk]["by_energy_type"]
                       if line["energy_type"] == "electricity")
    assert (electricity["unit"], electricity["quantity"]) == ("kWh", pytest.approx(500.0))
    assert bulk[world.park.pk]["total_tce"] == pytest.approx(
        (480 + 60) * TCE_PER_KWH + 48 * TCE_PER_M3_GAS)  # the member's and the park's own
    assert bulk[world.tenant_a.pk]["access_rate"]["3"] == 0.0  # the unreported level-3 meter


def test_figures_that_cannot_be_converted_say_why_and_the_board_still_shows_its_meters(world) -> None:  # type: ignore[no-untyped-def]
    """Default factor sets that do not apply to the period: the board and the home page's list say
    so (as the single enterprise's home page does) instead of showing figures."""
    from metering.monitoring.models import FactorSet

    morning(world.tenant_a)
    with unscoped():  # test setup: the sets end before the period
        FactorSet.objects.filter(is_default=True).update(valid_to=dt.date(2024, 12, 31))
    data = data_of(world.tenant_a)
    assert "does not apply" in data["month"]["error"] and "total_tce" not in data["month"]
    assert len(data["meters"]["tree"]) == 3 and data["structure"] == []
    with reach_scope(world.user("platform_admin")):
        many = board.home_figures_many([world.tenant_a, world.tenant_b], now=NOON)
    assert many[world.tenant_a.pk]["error"] == data["month"]["error"]
    assert many[world.tenant_a.pk]["open_alarms"] == 0


def test_the_demo_enterprise_board_shows_data_right_after_seeding(world) -> None:  # type: ignore[no-untyped-def]
    """`seed_demo`'s history comes with its rollups (no Celery worker needed): today's quarters,
    this month, and the same month a year before all have data on the demo enterprise's board."""
    from metering.demo.data import seed_metering_demo
    from portal.models import Role
    from tests.factories import UserFactory

    UserFactory(username="demo_enterprise", role=Role.ENTERPRISE_ADMIN, enterprise=world.tenant_a)
    seed_metering_demo()
    with enterprise_scope(world.tenant_a.pk):
        data = board.board_data(world.tenant_a)
    assert {line["energy_type"] for line in data["structure"]} == {"electricity", "natural_gas", "water"}
    assert data["month"]["total_tce"] > 0 and data["month"]["completeness"] > 0.9
    electricity = series(data, "electricity")
    begun = [value for value in electricity["quantity"] if value is not None]
    assert begun and max(begun) > 0  # today's quarters
    assert data["comparison"]["b"]["total_tce"] > 0  # a year before, from the daily history
    assert all(row["status"] == "online" for row in data["meters"]["tree"])


def open_alarm(meter_id: int, kind: str = "offline", detail: str = "表计离线超过 30 分钟"):  # type: ignore[no-untyped-def]
    from metering.alarms.models import Alarm

    now = timezone.now()
    with unscoped():  # test setup: an alarm as the alarm evaluation would open it
        return Alarm.objects.create(meter_id=meter_id, kind=kind, first_seen_at=now, last_seen_at=now,
                                    detail=detail)


def test_open_alarms_show_on_the_board_and_break_ties_worst_first(client, world) -> None:  # type: ignore[no-untyped-def]
    ids = morning(world.tenant_a)
    open_alarm(ids["E-1"])
    open_alarm(ids["G-1"], kind="jump", detail="用量突变：较前一时段增加 500%")
    alarms = data_of(world.tenant_a)["alarms"]
    assert alarms["count"] == 2
    assert {alarm["kind_label"] for alarm in alarms["open"]} == {"离线", "用量突变"}
    assert alarms["open"][0]["meter"].startswith("BOARD-")
    login(client, world.user("a_admin"))
    html = client.get("/metering/board/").content.decode()
    assert 'id="kpi-alarms">2<' in html and "用量突变：较前一时段增加 500%" in html
    assert 'id="home-alarms">2<' in client.get("/").content.decode()

    # Two enterprises equally without data this month: the one with open alarms comes first.
    make_meter(world.tenant_b, "HOME-B-2")
    with reach_scope(world.user("henan_officer")):
        ranked = board.enterprises_worst_first([world.tenant_b, world.tenant_a])
    assert [(enterprise.pk, alarms) for enterprise, _completeness, alarms in ranked] == [
        (world.tenant_a.pk, 2), (world.tenant_b.pk, 0)]
    # The alarms of an enterprise out of reach are not counted for anyone else.
    login(client, world.user("luoyang_reviewer"))
    assert "用量突变" not in client.get(f"/metering/board/?enterprise={world.tenant_b.pk}").content.decode()
