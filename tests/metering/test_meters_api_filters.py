"""`GET /api/v1/meters/?enterprise=&level=&energy_type=`: filters, their 400s, and reach (404)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.api_clients import api_client_with_key, key_header
from tests.conftest import login
from tests.factories import region
from tests.metering.registry_factories import meter_for

METERS = "/api/v1/meters/"
MISSING_ID = 2_147_480_000


@pytest.fixture
def meters(world):  # type: ignore[no-untyped-def]
    return {
        "a_power": meter_for(world.tenant_a, code="A-E-1", level=1, energy_type="electricity"),
        "a_gas": meter_for(world.tenant_a, code="A-G-2", level=2, energy_type="natural_gas", unit="m3"),
        "a_line": meter_for(world.tenant_a, code="A-E-3", level=3, energy_type="electricity"),
        "b_power": meter_for(world.tenant_b, code="B-E-1", level=1, energy_type="electricity"),
        "outsider_power": meter_for(world.outsider, code="C-E-1", level=1, energy_type="electricity"),
    }


def officer(world) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    login(client, world.user("henan_officer"))
    return client


def codes(client: APIClient, query: dict) -> list[str]:  # type: ignore[type-arg]
    response = client.get(METERS, query)
    assert response.status_code == 200, response.content
    return sorted(row["code"] for row in response.json()["results"])


def test_each_filter_narrows_the_list(world, meters):
    client = officer(world)
    assert codes(client, {}) == ["A-E-1", "A-E-3", "A-G-2", "B-E-1"]
    assert codes(client, {"enterprise": world.tenant_a.pk}) == ["A-E-1", "A-E-3", "A-G-2"]
    assert codes(client, {"level": 1}) == ["A-E-1", "B-E-1"]
    assert codes(client, {"energy_type": "natural_gas"}) == ["A-G-2"]
    everything = {"enterprise": world.tenant_a.pk, "level": 3, "energy_type": "electricity"}
    assert codes(client, everything) == ["A-E-3"]
    assert codes(client, {"enterprise": world.tenant_b.pk, "energy_type": "natural_gas"}) == []


@pytest.mark.parametrize(("query", "field"), [
    ({"level": "9"}, "level"),
    ({"level": "one"}, "level"),
    ({"energy_type": "plutonium"}, "energy_type"),
    ({"enterprise": "abc"}, "enterprise"),
    ({"enterprise": "1.5"}, "enterprise"),
])
def test_invalid_filter_values_answer_400_naming_the_field(world, meters, query, field):
    response = officer(world).get(METERS, query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and error["code"] == "invalid"
    assert field in error["fields"] and error["fields"][field]


def test_an_enterprise_out_of_reach_answers_like_an_unknown_one(world, meters):
    client = officer(world)
    outsider = client.get(METERS, {"enterprise": world.outsider.pk})
    unknown = client.get(METERS, {"enterprise": MISSING_ID})
    assert outsider.status_code == unknown.status_code == 404
    assert outsider.content == unknown.content
    assert outsider.json()["error"]["code"] == "not_found"
    assert "C-E-1" not in outsider.content.decode()


def test_api_client_keys_filter_within_their_reach(world, meters):
    _client, city = api_client_with_key(reach_kind="region", region=region("410300"), scopes=["meters:read"])
    client = APIClient()
    own = client.get(METERS, {"level": 1}, **key_header(city))
    assert own.status_code == 200
    assert sorted(row["code"] for row in own.json()["results"]) == ["B-E-1"]
    other_city = client.get(METERS, {"enterprise": world.tenant_a.pk}, **key_header(city))
    unknown = client.get(METERS, {"enterprise": MISSING_ID}, **key_header(city))
    assert other_city.status_code == unknown.status_code == 404
    assert other_city.content == unknown.content


def test_the_schema_lists_the_filters(db):
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    parameters = {p["name"]: p for p in schema["paths"][METERS]["get"]["parameters"]}
    assert {"enterprise", "level", "energy_type"} <= set(parameters)
    assert parameters["enterprise"]["schema"]["type"] == "integer"
    assert "electricity" in parameters["energy_type"]["schema"]["enum"]
