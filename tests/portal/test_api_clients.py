"""API clients: machine keys with scopes and a reach (one enterprise, a region, a program).

Reach is asserted against the test world by hand (tests/conftest.py): Zhengzhou holds tenant_a,
Luoyang tenant_b, Xuhui (Shanghai) the park and its member, the outsider.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.http import Http404
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny

from applications.models import Program
from metering.models import GatewayToken
from portal.access import get_enterprise_for_user, reach_for, reach_scope
from portal.api.clients import ApiClientAuthentication, ApiClientScope
from portal.models import ApiClient, ApiClientActor, AuditEntry
from tests.api_clients import api_client_with_key, key_header
from tests.conftest import login
from tests.factories import region
from tests.metering.registry_factories import gateway_token_for, meter_for
from tests.scoping import unscoped

ENTERPRISES = "/api/v1/enterprises/"
METERS = "/api/v1/meters/"
MISSING_ID = 2_147_480_000


def get(key: str, url: str, **extra: str):  # type: ignore[no-untyped-def]
    return Client().get(url, **key_header(key), **extra)


def listed_ids(key: str, url: str) -> set[int]:
    response = get(key, url)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def enterprise_ids(world, *keys: str) -> set[int]:  # type: ignore[no-untyped-def]
    return {getattr(world, key).pk for key in keys}


# --- the key itself -------------------------------------------------------------------------------


def test_the_key_is_stored_only_as_a_hash(world):
    client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    with unscoped():
        stored = ApiClient.objects.get(pk=client.pk)
    assert stored.hashed_key.startswith("sha512$$")
    prefix, _dot, secret = key.partition(".")
    assert stored.prefix == prefix and len(secret) >= 32
    row = {field.attname: str(getattr(stored, field.attname)) for field in ApiClient._meta.concrete_fields}
    assert not any(secret in value for value in row.values()), "the secret is stored in clear"
    assert isinstance(stored.pk, int)  # not the library's "<prefix>.<hash>" primary key


@pytest.mark.parametrize("header", ["Api-Key nope.nope", "Api-Key ", "Api-Key x"])
def test_a_wrong_key_is_refused_with_401(world, header):
    response = Client().get(ENTERPRISES, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("authentication_failed", "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_revoked_and_expired_keys_stop_working_and_say_nothing_more(world):
    _client, live = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    revoked_client, revoked = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    _expired_client, expired = api_client_with_key(
        reach_kind="enterprise", enterprise=world.tenant_a,
        expiry_date=timezone.now() - dt.timedelta(seconds=1))
    assert get(live, ENTERPRISES).status_code == 200
    from portal.services import api_client_revoke

    api_client_revoke(actor=world.user("platform_admin"), client=revoked_client)
    answers = [get(key, ENTERPRISES) for key in (revoked, expired, "nope.nope")]
    assert {answer.status_code for answer in answers} == {401}
    assert len({answer.content for answer in answers}) == 1  # unknown, revoked, expired: one answer
    with unscoped():
        revoked_client.refresh_from_db()
    assert revoked_client.revoked and revoked_client.revoked_at is not None
    assert reach_for(ApiClientActor(revoked_client)).visible_ids == ()


def test_a_revoked_client_cannot_be_restored(world):
    client, _key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a, revoked=True)
    with unscoped():
        client = ApiClient.objects.get(pk=client.pk)
    client.revoked = False
    with pytest.raises(Exception, match="cannot be undone"):
        client.save()


def test_the_allow_list_checks_the_source_address(world):
    _far, far_key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a,
                                        allowed_networks="203.0.113.0/24\n2001:db8::/32")
    _near, near_key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a,
                                          allowed_networks="10.0.0.0/8\n127.0.0.1")
    # The test client's REMOTE_ADDR is 127.0.0.1 (no trusted proxy, so no header is believed).
    assert get(far_key, ENTERPRISES).status_code == 401
    assert get(far_key, ENTERPRISES, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 401
    assert get(near_key, ENTERPRISES).status_code == 200


def test_use_is_recorded_at_most_once_a_minute(world):
    client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    assert client.last_used_at is None
    assert get(key, ENTERPRISES).status_code == 200
    with unscoped():
        client.refresh_from_db()
    first = client.last_used_at
    assert first is not None and client.last_used_ip == "127.0.0.1"
    assert get(key, ENTERPRISES).status_code == 200
    with unscoped():
        client.refresh_from_db()
    assert client.last_used_at == first
    # Telemetry is not audited; the creation is.
    entries = AuditEntry.objects.filter(object_type="portal.ApiClient", object_id=str(client.pk))
    assert list(entries.values_list("action", flat=True)) == ["create"]


def test_invalid_clients_are_refused_with_what_is_wrong(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as missing:
        api_client_with_key(reach_kind="enterprise")
    assert "enterprise" in missing.value.message_dict
    with pytest.raises(ValidationError) as mixed:
        api_client_with_key(reach_kind="region", region=region("410100"), enterprise=world.tenant_a)
    assert "enterprise" in mixed.value.message_dict
    with pytest.raises(ValidationError) as scopes:
        api_client_with_key(reach_kind="region", region=region("410100"), scopes=["meters:write"])
    assert "scopes" in scopes.value.message_dict
    with pytest.raises(ValidationError) as networks:
        api_client_with_key(reach_kind="region", region=region("410100"), allowed_networks="10.0.0.300")
    assert "allowed_networks" in networks.value.message_dict


# --- reach ----------------------------------------------------------------------------------------


def test_an_enterprise_key_sees_only_its_enterprise(world):
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    assert listed_ids(key, ENTERPRISES) == enterprise_ids(world, "tenant_a")
    outsider = get(key, f"{ENTERPRISES}{world.outsider.pk}/")
    missing = get(key, f"{ENTERPRISES}{MISSING_ID}/")
    assert outsider.status_code == missing.status_code == 404
    assert outsider.content == missing.content
    assert world.outsider.name not in outsider.content.decode()


def test_a_park_key_sees_the_park_and_its_members_like_the_parks_users(world):
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.park)
    assert listed_ids(key, ENTERPRISES) == enterprise_ids(world, "park", "outsider")


def test_a_city_key_sees_only_its_city(world):
    _client, zhengzhou = api_client_with_key(reach_kind="region", region=region("410100"))
    assert listed_ids(zhengzhou, ENTERPRISES) == enterprise_ids(world, "tenant_a")
    assert get(zhengzhou, f"{ENTERPRISES}{world.tenant_b.pk}/").status_code == 404
    _client, henan = api_client_with_key(reach_kind="region", region=region("410000"))
    assert listed_ids(henan, ENTERPRISES) == enterprise_ids(world, "tenant_a", "tenant_b")


def test_a_program_key_sees_the_enterprises_of_the_programs_region(world):
    with unscoped():
        program = Program.objects.create(code="henan_test", name="河南测试项目", region=region("410000"))
    _client, key = api_client_with_key(reach_kind="program", program=program)
    assert listed_ids(key, ENTERPRISES) == enterprise_ids(world, "tenant_a", "tenant_b")
    _client, luoyang_only = api_client_with_key(reach_kind="program", program=program,
                                                region=region("410300"))
    assert listed_ids(luoyang_only, ENTERPRISES) == enterprise_ids(world, "tenant_b")


def test_the_access_helpers_answer_an_api_client_from_its_reach(world):
    client, _key = api_client_with_key(reach_kind="region", region=region("410100"))
    actor = ApiClientActor(client)
    reach = reach_for(actor)
    assert set(reach.visible_ids) == enterprise_ids(world, "tenant_a") and reach.changeable_ids == ()
    with reach_scope(actor):
        assert get_enterprise_for_user(actor, world.tenant_a.pk) == world.tenant_a
        with pytest.raises(Http404):
            get_enterprise_for_user(actor, world.tenant_b.pk)


def test_meters_and_readings_follow_the_reach(world):
    own = meter_for(world.tenant_a)
    other = meter_for(world.tenant_b)
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    assert listed_ids(key, METERS) == {own.pk}
    assert get(key, f"{METERS}?enterprise={world.tenant_b.pk}").status_code == 404
    assert get(key, f"{METERS}{other.pk}/readings/").status_code == 404
    readings = get(key, f"{METERS}{own.pk}/readings/?interval=day")
    assert readings.status_code == 200 and readings.json()["results"] == []


# --- scopes ---------------------------------------------------------------------------------------


def test_each_view_needs_its_scope(world):
    meter = meter_for(world.tenant_a)
    _client, meters_only = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a,
                                              scopes=["meters:read"])
    assert get(meters_only, METERS).status_code == 200
    refused = get(meters_only, f"{METERS}{meter.pk}/readings/")
    assert refused.status_code == 403 and "readings:read" in refused.json()["error"]["message"]
    assert get(meters_only, ENTERPRISES).status_code == 403
    _client, readings_only = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a,
                                                scopes=["readings:read"])
    assert get(readings_only, f"{METERS}{meter.pk}/readings/").status_code == 200
    assert get(readings_only, METERS).status_code == 403


def test_api_clients_never_write(world):
    meter = meter_for(world.tenant_a, name="写入前的名称（接口客户端）")
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    http = Client()
    body = '{"name": "接口客户端改过的名称"}'
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        url = METERS if method == "POST" else f"{METERS}{meter.pk}/"
        response = http.generic(method, url, body, content_type="application/json", **key_header(key))
        assert response.status_code == 403, (method, response.content)
    with unscoped():
        meter.refresh_from_db()
    assert meter.name == "写入前的名称（接口客户端）"


def test_views_that_name_no_scope_refuse_api_clients(world):
    gateway_token_for(world.tenant_a)
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    assert get(key, "/api/v1/gateway-tokens/").status_code == 403
    assert get(key, "/api/v1/modbus/devices/").status_code == 403
    with unscoped():
        assert GatewayToken.objects.count() == 1


def test_every_api_view_that_takes_api_keys_checks_scopes():
    """Structural: an API view that accepts the key must run the scope permission, or a view that
    overrides `permission_classes` would let API clients in with no scope at all."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def views(patterns):  # type: ignore[no-untyped-def]
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from views(entry.url_patterns)
            elif isinstance(entry, URLPattern):
                cls = getattr(entry.callback, "cls", None)
                if cls is not None:
                    yield str(entry.pattern), cls

    checked = 0
    for route, cls in views(get_resolver().url_patterns):
        view = cls()
        if not any(isinstance(auth, ApiClientAuthentication) for auth in view.get_authenticators()):
            continue
        permissions = view.get_permissions()
        if all(isinstance(permission, AllowAny) for permission in permissions):
            continue  # public for everyone (the schema and its docs): no tenant data, no scope
        checked += 1
        assert any(isinstance(permission, ApiClientScope) for permission in permissions), (
            f"{route} ({cls.__name__}) accepts API keys but does not check API client scopes")
    assert checked >= 5


def test_a_session_with_another_actors_key_is_refused(world):
    _client, key = api_client_with_key(reach_kind="region", region=region("410000"))
    browser = Client()
    login(browser, world.user("a_admin"))
    response = browser.get(ENTERPRISES, **key_header(key))
    assert response.status_code in (401, 403)
    assert world.tenant_b.name not in response.content.decode()


def test_user_tokens_still_work_beside_api_keys(world):
    token, _created = Token.objects.get_or_create(user=world.user("a_admin"))
    response = Client().get(ENTERPRISES, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert {row["id"] for row in response.json()["results"]} == enterprise_ids(world, "tenant_a")


# --- the admin ------------------------------------------------------------------------------------


def test_a_platform_admin_creates_a_client_and_sees_the_key_once(world):
    browser = Client()
    login(browser, world.user("platform_admin"))
    response = browser.post("/admin/portal/apiclient/add/", {
        "name": "郑州市能耗监测平台", "organisation": "郑州市工业和信息化局", "reach_kind": "region",
        "region": region("410100").pk, "scopes": ["enterprises:read", "meters:read"],
        "allowed_networks": "", "expiry_date_0": "", "expiry_date_1": "",
    })
    assert response.status_code == 200, response.content.decode()[:2000]
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    with unscoped():
        client = ApiClient.objects.get(name="郑州市能耗监测平台")
    start = page.index('id="api-client-key"')
    key = page[page.index(">", start) + 1:page.index("</code>", start)]
    assert key.startswith(f"{client.prefix}.")
    assert client.created_by == world.user("platform_admin")
    assert listed_ids(key, ENTERPRISES) == enterprise_ids(world, "tenant_a")
    # The change page never shows it again.
    change = browser.get(f"/admin/portal/apiclient/{client.pk}/change/")
    assert change.status_code == 200 and key.split(".")[1] not in change.content.decode()
    trail = AuditEntry.objects.filter(object_type="portal.ApiClient", object_id=str(client.pk))
    created = trail.get(action="create")
    assert created.actor == world.user("platform_admin")
    assert created.changes["hashed_key"] == "******"
    assert client.hashed_key.split("$$")[1] not in str(created.changes)

    revoked = browser.post("/admin/portal/apiclient/",
                           {"action": "revoke_selected", "_selected_action": [client.pk]})
    assert revoked.status_code == 302
    assert get(key, ENTERPRISES).status_code == 401
    revocation = trail.get(action="update")
    assert revocation.changes["revoked"] == {"before": False, "after": True}


@pytest.mark.parametrize("role", ["henan_officer", "zhengzhou_reviewer", "a_admin"])
def test_only_platform_admins_manage_clients(world, role):
    browser = Client()
    login(browser, world.user(role))
    response = browser.post("/admin/portal/apiclient/add/", {
        "name": "越权创建的客户端", "organisation": "某单位", "reach_kind": "region",
        "region": region("410000").pk, "scopes": ["meters:read"],
    })
    assert response.status_code in (302, 403)
    with unscoped():
        assert not ApiClient.objects.filter(name="越权创建的客户端").exists()


def test_the_schema_documents_the_api_key(world):
    schema = Client().get("/api/v1/schema/?format=json").json()
    scheme = schema["components"]["securitySchemes"]["apiClientKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "Authorization"}
    meters = schema["paths"]["/api/v1/meters/"]
    assert {"apiClientKey": []} in meters["get"]["security"]
    assert {"tokenAuth": []} in meters["post"]["security"]
    # Only where an API client may call: reads of views that name a scope.
    assert {"apiClientKey": []} not in meters["post"]["security"]
    assert {"apiClientKey": []} not in schema["paths"]["/api/v1/gateway-tokens/"]["get"]["security"]
    readings = schema["paths"]["/api/v1/meters/{meter_id}/readings/"]["get"]
    assert {"apiClientKey": []} in readings["security"]


def test_an_api_client_is_named_in_the_audit_trail_but_is_no_person(world):
    from portal import audit

    client, _key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a,
                                       organisation="甲钢铁集团信息中心")
    entry = audit.record("export", obj=world.tenant_a, actor=ApiClientActor(client))
    assert entry.actor is None
    assert entry.actor_username == f"api-client:{client.prefix}"
    assert entry.organization == "甲钢铁集团信息中心"
