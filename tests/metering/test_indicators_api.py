"""GET /api/v1/enterprises/{id}/indicators/: the issue's field names, the figures as JSON numbers,
+08:00 times, the API error shape, and reach (404 alike for missing and out of reach)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from rest_framework.test import APIClient

from metering.models import EnergyType
from metering.monitoring.tasks import recompute_rollups
from tests.conftest import login
from tests.metering.test_indicators import APRIL, MARCH, QUARTER, ingest
from tests.metering.test_ingest import make_meter

pytestmark = pytest.mark.django_db

MARCH_2025 = {"start": "2025-03-01", "end": "2025-04-01"}
# The fields the issue names, exactly.
ISSUE_FIELDS = {"total_tce", "co2_t", "co2_by_scope", "by_energy_type", "access_rate", "completeness",
                "longest_gap_minutes", "stable_months", "factor_sets", "pue"}


def url(enterprise_id: int) -> str:
    return f"/api/v1/enterprises/{enterprise_id}/indicators/"


def client_for(world, key: str) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    login(client, world.user(key))
    return client


@pytest.fixture
def march(world):  # type: ignore[no-untyped-def]
    """tenant_a: 1,000,000 kWh and 10,000 m³ of gas in March 2025; the data center: 1500 kWh, 1000 of
    them IT load; the park's public area: 200 kWh."""
    make_meter(world.tenant_a, "E-1")
    make_meter(world.tenant_a, "G-1", energy_type=EnergyType.NATURAL_GAS, unit="m³")
    ingest(world.tenant_a.pk, "E-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1_000_000.0)])
    ingest(world.tenant_a.pk, "G-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 10_000.0)])
    total = make_meter(world.outsider, "DC-TOTAL")
    make_meter(world.outsider, "DC-IT", level=2, parent=total, is_it_load=True)
    make_meter(world.park, "PARK-PUBLIC")
    ingest(world.outsider.pk, "DC-TOTAL", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1500.0)])
    ingest(world.outsider.pk, "DC-IT", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1000.0)])
    ingest(world.park.pk, "PARK-PUBLIC", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 200.0)])
    recompute_rollups()
    return world


def test_the_issue_fields_as_json_numbers_with_times_in_shanghai(march) -> None:  # type: ignore[no-untyped-def]
    response = client_for(march, "a_staff").get(url(march.tenant_a.pk), MARCH_2025)
    assert response.status_code == 200, response.content
    body = response.json()
    assert ISSUE_FIELDS <= set(body)
    assert body["total_tce"] == 135.043 and isinstance(body["total_tce"], float)
    assert body["co2_by_scope"]["2"] == 605.8 and set(body["co2_by_scope"]) == {"1", "2"}
    assert body["co2_by_scope"]["1"] == pytest.approx(21.621888090)
    assert body["co2_t"] == pytest.approx(605.8 + 21.621888090)
    lines = {line["energy_type"]: line for line in body["by_energy_type"]}
    assert {key: lines["electricity"][key] for key in ("energy_type", "quantity", "unit", "tce")} == {
        "energy_type": "electricity", "quantity": 1_000_000.0, "unit": "kWh", "tce": 122.9}
    assert (lines["natural_gas"]["quantity"], lines["natural_gas"]["unit"], lines["natural_gas"]["tce"]) == (
        10_000.0, "m³", 12.143)
    assert set(body["access_rate"]) == {"1", "2", "3"}
    assert body["access_rate"] == {"1": 1.0, "2": None, "3": None}
    assert 0 <= body["completeness"] <= 1 and body["longest_gap_minutes"] > 0
    assert body["stable_months"] == 0 and body["pue"] is None
    assert body["factor_sets"][0].startswith("GB/T 2589")
    assert (body["start"], body["end"], body["timezone"]) == (
        "2025-03-01T00:00:00+08:00", "2025-04-01T00:00:00+08:00", "Asia/Shanghai")
    assert body["enterprise"] == march.tenant_a.pk


def test_iso_datetimes_in_another_offset_answer_in_shanghai_time(march) -> None:  # type: ignore[no-untyped-def]
    response = client_for(march, "a_staff").get(
        url(march.tenant_a.pk), {"start": "2025-02-28T16:00:00Z", "end": "2025-03-31T16:00:00+00:00"})
    assert response.status_code == 200, response.content
    assert response.json()["start"] == "2025-03-01T00:00:00+08:00"
    assert response.json()["total_tce"] == 135.043


def test_a_data_center_gets_its_pue_and_a_park_its_roll_up(march) -> None:  # type: ignore[no-untyped-def]
    center = client_for(march, "outsider_admin").get(url(march.outsider.pk), MARCH_2025).json()
    assert center["pue"] == 1.5 and center["it_load_kwh"] == 1000.0
    park_client = client_for(march, "park_admin")
    park = park_client.get(url(march.park.pk), MARCH_2025).json()
    assert park["subject_kind"] == "park" and park["members"] == 1 and park["members_access_rate_1"] == 1.0
    assert park["by_energy_type"][0]["quantity"] == 1700.0  # public area 200 + member 1500
    # The park sees its member's figures too (read reach).
    assert park_client.get(url(march.outsider.pk), MARCH_2025).status_code == 200


def test_out_of_reach_and_missing_enterprises_answer_the_same_404(march) -> None:  # type: ignore[no-untyped-def]
    other = client_for(march, "b_admin")
    out_of_reach = other.get(url(march.tenant_a.pk), MARCH_2025)
    missing = other.get(url(999_999), MARCH_2025)
    assert out_of_reach.status_code == missing.status_code == 404
    assert out_of_reach.json() == missing.json()
    assert out_of_reach.json()["error"]["code"] == "not_found"
    # A member does not see its park, nor a Shanghai reviewer an enterprise in Henan.
    assert client_for(march, "outsider_admin").get(url(march.park.pk), MARCH_2025).status_code == 404
    assert client_for(march, "xuhui_reviewer").get(url(march.tenant_a.pk), MARCH_2025).status_code == 404
    # Invalid parameters on an enterprise out of reach still say 404, not what was wrong.
    assert other.get(url(march.tenant_a.pk), {"start": "garbage"}).status_code == 404
    assert APIClient().get(url(march.tenant_a.pk), MARCH_2025).status_code in (401, 403)


def test_an_official_in_reach_reads_the_figures(march) -> None:  # type: ignore[no-untyped-def]
    response = client_for(march, "henan_officer").get(url(march.tenant_a.pk), MARCH_2025)
    assert response.status_code == 200 and response.json()["total_tce"] == 135.043


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "2025-13-01", "end": "2025-04-01"}, "start"),
    ({"start": "2025-03-01T00:00:00", "end": "2025-04-01"}, "start"),  # no offset
    ({"start": "2025-04-01", "end": "2025-03-01"}, "end"),
    ({"start": "2010-01-01", "end": "2025-01-01"}, "end"),  # more than ten years
    ({"start": "0001-01-01", "end": "2025-01-01"}, "start"),  # outside the calendar's range
    ({"start": "2025-01-01", "end": "9999-12-31T23:59:59-12:00"}, "end"),
])
def test_bad_parameters_answer_the_api_error_shape(march, params, field) -> None:  # type: ignore[no-untyped-def]
    response = client_for(march, "a_staff").get(url(march.tenant_a.pk), params)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


def test_without_parameters_the_period_is_this_month(march) -> None:  # type: ignore[no-untyped-def]
    body = client_for(march, "a_staff").get(url(march.tenant_a.pk)).json()
    start = dt.datetime.fromisoformat(body["start"])
    assert start.day == 1 and start.utcoffset() == dt.timedelta(hours=8)
    assert body["total_tce"] == 0.0


def test_schema_documents_the_endpoint_and_its_fields(db) -> None:  # type: ignore[no-untyped-def]
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/enterprises/{enterprise_id}/indicators/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"start", "end", "enterprise_id"}
    fields = schema["components"]["schemas"]["Indicators"]["properties"]
    assert ISSUE_FIELDS <= set(fields)
    assert fields["total_tce"]["type"] == "number"
    assert set(schema["components"]["schemas"]["EnergyLine"]["properties"]) >= {
        "energy_type", "quantity", "unit", "tce"}
