"""The gateway-token API: /api/v1/gateway-tokens/ (list, create) and /api/v1/gateway-tokens/{id}/ (revoke)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from metering.ingest.senders import token_sha256
from metering.models import GatewayToken
from portal.models import AuditEntry
from tests.conftest import login
from tests.metering.registry_factories import gateway_token_for
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/gateway-tokens/"
READINGS = "/api/v1/readings/"
MISSING_ID = 2_147_480_000
AUDIT_TYPE = "metering.GatewayToken"


def client_for(world: Any, key: str) -> APIClient:
    client = APIClient()
    login(client, world.user(key))
    return client


def token_url(pk: int) -> str:
    return f"{TOKENS}{pk}/"


def ingest_status(plain: str) -> int:
    """What HTTP ingest answers this gateway token (an empty batch: only authentication decides)."""
    response = APIClient().post(READINGS, data=json.dumps({"readings": []}), content_type="application/json",
                                HTTP_AUTHORIZATION=f"Bearer {plain}")
    return response.status_code


def test_an_enterprise_admin_creates_a_token_shown_once_with_its_mqtt_username(world):
    response = client_for(world, "a_admin").post(TOKENS, {"name": "一号车间网关"}, format="json")
    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    with unscoped():  # what the request stored
        token = GatewayToken.objects.get(pk=body["id"])
        entry = AuditEntry.objects.get(action="create", object_id=str(token.pk), object_type=AUDIT_TYPE)
    assert token.enterprise_id == world.tenant_a.pk and token.name == "一号车间网关"
    assert body["name"] == "一号车间网关"
    assert body["enterprise"] == world.tenant_a.pk
    assert body["mqtt_username"] == f"{world.tenant_a.credit_code}.{token.pk}"
    assert body["token"].startswith("ngw_") and token_sha256(body["token"]) == token.token_sha256
    assert body["token_prefix"] == body["token"][:10] and body["revoked_at"] is None
    assert ingest_status(body["token"]) == 200
    # Audited through the service, the secret and its hashes blanked.
    assert entry.actor_id == world.user("a_admin").pk
    assert body["token"] not in json.dumps(entry.changes)
    assert token.token_sha256 not in json.dumps(entry.changes)


def test_the_list_never_shows_a_secret_and_only_tokens_in_reach(world):
    created = client_for(world, "a_admin").post(TOKENS, {"name": "gw"}, format="json").json()
    revoked = gateway_token_for(world.tenant_a, name="旧网关")
    with unscoped():  # setup: an already revoked token
        GatewayToken.objects.filter(pk=revoked.pk).update(revoked_at="2025-01-01T00:00:00Z")
    outsiders = gateway_token_for(world.outsider, name="外省网关")

    response = client_for(world, "a_admin").get(TOKENS)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {row["id"] for row in rows} == {created["id"], revoked.pk}
    assert created["token"] not in response.content.decode()
    assert all("token" not in row for row in rows)
    row = next(row for row in rows if row["id"] == created["id"])
    assert row["mqtt_username"] == created["mqtt_username"]
    assert set(row) == {"id", "enterprise", "name", "mqtt_username", "token_prefix", "created_at",
                        "last_used_at", "revoked_at"}
    active = client_for(world, "a_admin").get(TOKENS, {"active": "true"}).json()["results"]
    assert [row["id"] for row in active] == [created["id"]]

    # Reading follows reach, as on the token page: staff and the city's reviewer read, others do not.
    for key, expected in (("a_staff", {created["id"], revoked.pk}),
                          ("zhengzhou_reviewer", {created["id"], revoked.pk}),
                          ("b_admin", set()), ("expert", set()),
                          ("platform_admin", {created["id"], revoked.pk, outsiders.pk})):
        listed = client_for(world, key).get(TOKENS).json()["results"]
        assert {row["id"] for row in listed} == expected, key


@pytest.mark.parametrize("key", ["a_staff", "zhengzhou_reviewer", "henan_officer", "expert"])
def test_roles_that_may_not_manage_tokens_get_403_and_nothing_is_made(world, key):
    client = client_for(world, key)
    for body in ({"name": "gw"}, {"name": "gw", "enterprise": world.tenant_a.pk}, {}):
        response = client.post(TOKENS, body, format="json")
        assert response.status_code == 403, (key, body)
        assert response.json()["error"]["status"] == 403
    with unscoped():
        assert not GatewayToken.objects.exists()


def test_a_token_for_another_enterprise_answers_like_a_missing_one(world):
    client = client_for(world, "a_admin")
    foreign = client.post(TOKENS, {"name": "gw", "enterprise": world.outsider.pk}, format="json")
    missing = client.post(TOKENS, {"name": "gw", "enterprise": MISSING_ID}, format="json")
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json() == missing.json()
    assert foreign.json()["error"]["fields"] == {"enterprise": ["不存在。"]}
    with unscoped():
        assert not GatewayToken.objects.exists()


def test_platform_admins_name_the_enterprise(world):
    client = client_for(world, "platform_admin")
    unnamed = client.post(TOKENS, {"name": "gw"}, format="json")
    assert unnamed.status_code == 400
    assert unnamed.json()["error"]["fields"] == {"enterprise": ["请指定企业。"]}
    made = client.post(TOKENS, {"name": "gw", "enterprise": world.outsider.pk}, format="json")
    assert made.status_code == 201
    assert made.json()["mqtt_username"].startswith(f"{world.outsider.credit_code}.")


def test_a_blank_or_long_name_is_a_field_error(world):
    client = client_for(world, "a_admin")
    blank = client.post(TOKENS, {"name": "   "}, format="json")
    assert blank.status_code == 400 and "name" in blank.json()["error"]["fields"]
    long = client.post(TOKENS, {"name": "网" * 101}, format="json")
    assert long.status_code == 400 and "name" in long.json()["error"]["fields"]
    with unscoped():
        assert not GatewayToken.objects.exists()


def test_revoking_one_token_leaves_the_others_working(world):
    client = client_for(world, "a_admin")
    first = client.post(TOKENS, {"name": "一号"}, format="json").json()
    second = client.post(TOKENS, {"name": "二号"}, format="json").json()
    response = client.delete(token_url(first["id"]))
    assert response.status_code == 204
    with unscoped():
        assert GatewayToken.objects.get(pk=first["id"]).revoked_at is not None
        assert GatewayToken.objects.get(pk=second["id"]).revoked_at is None
    assert ingest_status(first["token"]) == 401
    assert ingest_status(second["token"]) == 200
    listed = {row["id"]: row for row in client.get(TOKENS).json()["results"]}
    assert listed[first["id"]]["revoked_at"] is not None and listed[second["id"]]["revoked_at"] is None
    assert client.delete(token_url(first["id"])).status_code == 204  # revoking again changes nothing
    with unscoped():
        revokes = AuditEntry.objects.filter(action="update", object_id=str(first["id"]),
                                            object_type=AUDIT_TYPE)
        assert revokes.count() == 1


def test_revoking_out_of_reach_answers_like_missing_and_a_read_only_role_gets_403(world):
    foreign = gateway_token_for(world.outsider)
    own = gateway_token_for(world.tenant_a)
    admin = client_for(world, "a_admin")
    out_of_reach, missing = admin.delete(token_url(foreign.pk)), admin.delete(token_url(MISSING_ID))
    assert out_of_reach.status_code == missing.status_code == 404
    assert out_of_reach.json() == missing.json()
    assert admin.get(token_url(foreign.pk)).status_code == 404
    staff = client_for(world, "a_staff").delete(token_url(own.pk))
    assert staff.status_code == 403 and staff.json()["error"]["status"] == 403
    # A reviewer reads the enterprise's tokens but never revokes one (403, or 404 once officials'
    # write reach is empty).
    assert client_for(world, "zhengzhou_reviewer").delete(token_url(own.pk)).status_code in (403, 404)
    for token in (foreign, own):
        token.refresh_from_db()
        assert token.revoked_at is None


def test_a_gateway_token_cannot_manage_tokens(world):
    created = client_for(world, "a_admin").post(TOKENS, {"name": "gw"}, format="json").json()
    gateway = APIClient()
    gateway.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    assert gateway.get(TOKENS).status_code == 401
    assert gateway.post(TOKENS, {"name": "more"}, format="json").status_code == 401
    assert gateway.delete(token_url(created["id"])).status_code == 401
    with unscoped():
        assert GatewayToken.objects.get(pk=created["id"]).revoked_at is None


def test_the_schema_describes_the_token_routes(db, api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(response.content)
    collection = schema["paths"]["/api/v1/gateway-tokens/"]
    item = schema["paths"]["/api/v1/gateway-tokens/{id}/"]
    assert {"get", "post"} <= set(collection) and {"get", "delete"} <= set(item)
    created = collection["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][created.rsplit("/", 1)[1]]["properties"]
    assert {"id", "name", "mqtt_username", "token"} <= set(properties)
    listed = collection["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][listed.rsplit("/", 1)[1]]
    row = page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]
    assert "token" not in schema["components"]["schemas"][row]["properties"]
