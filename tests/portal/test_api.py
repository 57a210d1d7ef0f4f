"""The core API: token auth, enterprises within reach, one error shape, schema and docs."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from portal.models import AuditEntry, Enterprise
from tests.conftest import TEST_PASSWORD, login
from tests.factories import EnterpriseFactory, region
from tests.scoping import unscoped

TOKEN_URL = "/api/v1/auth/token/"
ENTERPRISES_URL = "/api/v1/enterprises/"


@pytest.fixture(autouse=True)
def _generous_token_rate(settings):  # type: ignore[no-untyped-def]
    """The token rate limit is tested on its own; other tests must never trip it. The throttle
    history lives in the (shared-per-run) cache, so start from an empty one."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token": "10000/min"}}
    cache.clear()
    yield
    cache.clear()


def obtain_token(client, username: str, password: str = TEST_PASSWORD, **extra):  # type: ignore[no-untyped-def]
    return client.post(TOKEN_URL, {"username": username, "password": password, **extra}, format="json")


def assert_error_shape(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["code"], str) and error["code"]
    if code is not None:
        assert error["code"] == code, error
    assert "Traceback" not in response.content.decode()
    return error


def token_client(api_client, user):  # type: ignore[no-untyped-def]
    token, _ = Token.objects.get_or_create(user=user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api_client


# --- root, schema, docs -----------------------------------------------------------------------

def test_api_root_lists_endpoints_without_tenant_data(world, api_client):
    response = api_client.get("/api/v1/")
    assert response.status_code == 200
    body = response.json()
    assert body["endpoints"]["enterprises"] == ENTERPRISES_URL
    assert body["endpoints"]["auth_token"] == TOKEN_URL
    text = response.content.decode()
    for enterprise in (world.tenant_a, world.tenant_b, world.outsider):
        assert enterprise.name not in text and enterprise.credit_code not in text


def test_schema_is_public_openapi3(db, api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/enterprises/{id}/" in schema["paths"]
    assert "/api/v1/auth/token/" in schema["paths"]


def test_docs_are_served_without_any_cdn(db, client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger" in html.lower()
    assert settings.STATIC_URL + "drf_spectacular_sidecar/" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "docs load from another origin"
    assert "https://" not in html and "http://" not in html


# --- token ------------------------------------------------------------------------------------

def test_token_happy_path_is_audited_without_secrets(world, api_client):
    user = world.user("a_admin")
    response = obtain_token(api_client, user.username)
    assert response.status_code == 200, response.content
    key = response.json()["token"]
    assert Token.objects.get(user=user).key == key
    entry = AuditEntry.objects.filter(action="login", actor=user).latest("id")
    assert entry.channel == AuditEntry.Channel.API
    dumped = json.dumps(entry.changes) + entry.object_repr
    assert key not in dumped and TEST_PASSWORD not in dumped
    # The same token again: get_or_create, not one token per login.
    assert obtain_token(api_client, user.username).json()["token"] == key


def test_token_used_as_header_reaches_own_enterprise(world, api_client):
    key = obtain_token(api_client, world.user("a_admin").username).json()["token"]
    fresh = Client()
    response = fresh.get(ENTERPRISES_URL, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [world.tenant_a.pk]


def test_wrong_password_is_400_in_error_shape(world, api_client):
    user = world.user("a_admin")
    response = obtain_token(api_client, user.username, "not-the-password")
    error = assert_error_shape(response, 400, "invalid_credentials")
    assert "密码" in error["message"]
    assert AuditEntry.objects.filter(action="login_failed", object_repr=user.username).exists()
    assert not Token.objects.filter(user=user).exists()


def test_unknown_user_answers_exactly_like_wrong_password(world, api_client):
    wrong_password = obtain_token(api_client, world.user("a_admin").username, "not-the-password").json()
    unknown_user = obtain_token(api_client, "nobody-here", "not-the-password").json()
    assert wrong_password == unknown_user


def test_inactive_user_is_refused(world, api_client):
    user = world.user("a_staff")
    user.is_active = False
    user.save()
    assert_error_shape(obtain_token(api_client, user.username), 400, "invalid_credentials")
    assert not Token.objects.filter(user=user).exists()


def test_inactive_users_token_stops_working(world, api_client):
    user = world.user("a_staff")
    client = token_client(api_client, user)
    assert client.get(ENTERPRISES_URL).status_code == 200
    user.is_active = False
    user.save()
    assert_error_shape(client.get(ENTERPRISES_URL), 401)


def test_missing_fields_are_400_with_field_errors(db, api_client):
    error = assert_error_shape(api_client.post(TOKEN_URL, {"username": "x"}, format="json"), 400, "invalid")
    assert "password" in error["fields"]


def test_lockout_answers_429_in_error_shape(world, api_client):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        obtain_token(api_client, world.user("a_admin").username, "not-the-password")
    # Even the right password is refused now.
    response = obtain_token(api_client, world.user("a_admin").username)
    error = assert_error_shape(response, 429, "locked_out")
    assert "锁定" in error["message"]
    assert not Token.objects.filter(user=world.user("a_admin")).exists()


def test_token_requests_are_throttled(world, api_client, settings):  # type: ignore[no-untyped-def]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/min"}}
    assert obtain_token(api_client, world.user("a_admin").username).status_code == 200
    assert obtain_token(api_client, world.user("a_admin").username).status_code == 200
    assert_error_shape(obtain_token(api_client, world.user("a_admin").username), 429, "throttled")


def test_officials_need_a_second_factor_for_tokens_when_required(world, api_client, settings):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.REQUIRE_2FA_FOR_OFFICIALS = True
    reviewer = world.user("zhengzhou_reviewer")
    device = TOTPDevice.objects.create(user=reviewer, name="phone", confirmed=True)
    assert_error_shape(obtain_token(api_client, reviewer.username), 400, "otp_invalid")
    assert_error_shape(obtain_token(api_client, reviewer.username, otp_token="000000"), 400, "otp_invalid")
    assert not Token.objects.filter(user=reviewer).exists()
    device.refresh_from_db()
    device.throttle_reset()  # django-otp backs off after a wrong code; not what this test is about
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"
    assert obtain_token(api_client, reviewer.username, otp_token=code).status_code == 200
    # Enterprise users are not asked for one.
    assert obtain_token(api_client, world.user("a_admin").username).status_code == 200


def test_token_revocation(world, api_client):
    user = world.user("b_admin")
    key = obtain_token(api_client, user.username).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.delete(TOKEN_URL).status_code == 204
    assert not Token.objects.filter(key=key).exists()
    assert AuditEntry.objects.filter(action="token_revoked", actor=user, channel="api").exists()
    response = api_client.get(ENTERPRISES_URL)
    assert_error_shape(response, 401)


def test_revocation_needs_a_token(world, client):
    login(client, world.user("b_admin"))
    response = client.delete(TOKEN_URL)
    assert_error_shape(response, 401)
    assert response["WWW-Authenticate"] == "Token"


# --- enterprises ------------------------------------------------------------------------------

EXPECTED_LIST = {
    "a_admin": {"tenant_a"},
    "a_staff": {"tenant_a"},
    "b_admin": {"tenant_b"},
    "outsider_admin": {"outsider"},
    "zhengzhou_reviewer": {"tenant_a"},
    "luoyang_reviewer": {"tenant_b"},
    "henan_officer": {"tenant_a", "tenant_b"},
    "park_admin": {"park", "outsider"},
    "xuhui_reviewer": {"outsider", "park"},
    "expert": set(),
    "platform_admin": {"tenant_a", "tenant_b", "outsider", "park"},
}


@pytest.mark.parametrize("role", sorted(EXPECTED_LIST))
@pytest.mark.parametrize("auth", ["token", "session"])
def test_enterprise_list_per_role(world, api_client, role, auth):
    user = world.user(role)
    if auth == "token":
        token_client(api_client, user)
    else:
        login(api_client, user)
    response = api_client.get(ENTERPRISES_URL)
    assert response.status_code == 200, response.content
    body = response.json()
    expected = {getattr(world, key).pk for key in EXPECTED_LIST[role]}
    assert {row["id"] for row in body["results"]} == expected
    assert body["count"] == len(expected)


def test_enterprise_fields(world, api_client):
    token_client(api_client, world.user("a_admin"))
    row = api_client.get(f"{ENTERPRISES_URL}{world.tenant_a.pk}/").json()
    assert row["name"] == world.tenant_a.name
    assert row["credit_code"] == world.tenant_a.credit_code
    assert row["kind"] == Enterprise.Kind.INDUSTRIAL
    assert row["region"] == "410105"
    assert row["region_name"] == "河南省郑州市金水区"
    assert row["region_path"] == "/410000/410100/410105/"
    assert row["status"] == Enterprise.Status.APPROVED
    assert row["park"] is None


def test_anonymous_enterprise_list_is_401_with_token_challenge(db, api_client):
    response = api_client.get(ENTERPRISES_URL)
    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_other_tenant_and_missing_detail_are_identical_404s(world, api_client):
    token_client(api_client, world.user("a_admin"))
    other = api_client.get(f"{ENTERPRISES_URL}{world.outsider.pk}/")
    missing = api_client.get(f"{ENTERPRISES_URL}{world.outsider.pk + 100000}/")
    assert_error_shape(other, 404, "not_found")
    assert other.content == missing.content
    assert world.outsider.name not in other.content.decode()
    assert api_client.get(f"{ENTERPRISES_URL}{world.tenant_a.pk}/").status_code == 200


def test_henan_officer_filters(world, api_client):
    park = EnterpriseFactory(name="郑州丁产业园", region=region("410105"), kind=Enterprise.Kind.PARK,
                             status=Enterprise.Status.PENDING)
    token_client(api_client, world.user("henan_officer"))

    def ids(query: str) -> set[int]:
        response = api_client.get(f"{ENTERPRISES_URL}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("region=410100") == {world.tenant_a.pk, park.pk}
    assert ids("region=410300") == {world.tenant_b.pk}
    assert ids("region=310000") == set()  # the outsider's region: filters never widen reach
    assert ids("kind=park") == {park.pk}
    assert ids("status=pending") == {park.pk}
    assert ids("search=洛阳") == {world.tenant_b.pk}
    assert ids(f"search={world.tenant_a.credit_code.lower()}") == {world.tenant_a.pk}
    assert ids(f"search={world.outsider.credit_code}") == set()


def test_bad_filter_values_are_400(world, api_client):
    token_client(api_client, world.user("henan_officer"))
    error = assert_error_shape(api_client.get(f"{ENTERPRISES_URL}?region=999999"), 400, "invalid")
    assert "region" in error["fields"]
    error = assert_error_shape(api_client.get(f"{ENTERPRISES_URL}?kind=castle"), 400, "invalid")
    assert "kind" in error["fields"]


def test_pagination_is_limit_offset(world, api_client):
    token_client(api_client, world.user("platform_admin"))
    body = api_client.get(f"{ENTERPRISES_URL}?limit=2&offset=0").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]


def test_session_and_token_of_different_users_are_refused(world, api_client):
    login(api_client, world.user("outsider_admin"))
    token_client(api_client, world.user("a_admin"))
    assert_error_shape(api_client.get(ENTERPRISES_URL), 401, "authentication_failed")


def test_enterprises_are_read_only(world, api_client):
    token_client(api_client, world.user("platform_admin"))
    response = api_client.post(ENTERPRISES_URL, {"name": "x"}, format="json")
    assert_error_shape(response, 405, "method_not_allowed")
    assert_error_shape(api_client.delete(f"{ENTERPRISES_URL}{world.tenant_a.pk}/"), 405)
    with unscoped():
        assert Enterprise.objects.filter(pk=world.tenant_a.pk).exists()


# --- one error shape everywhere ---------------------------------------------------------------

def test_unknown_api_url_is_json_404(db, client):
    response = client.get("/api/v1/no-such-thing/")
    assert_error_shape(response, 404, "not_found")


def test_unknown_page_url_is_still_html(db, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_missing_detail_and_unknown_url_share_one_body(world, api_client):
    token_client(api_client, world.user("a_admin"))
    missing = api_client.get(f"{ENTERPRISES_URL}{world.outsider.pk + 100000}/")
    unknown = api_client.get("/api/v1/no-such-thing/")
    assert missing.json() == unknown.json()


def test_malformed_json_is_400_in_error_shape(db, api_client):
    response = api_client.post(TOKEN_URL, data='{"username": "a_admin", "password": ',
                               content_type="application/json")
    assert_error_shape(response, 400, "parse_error")


def test_api_server_error_is_json_without_traceback(world, monkeypatch):
    from portal.api import views

    def explode(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views.EnterpriseViewSet, "base_queryset", explode)
    client = Client(raise_request_exception=False)
    token, _ = Token.objects.get_or_create(user=world.user("a_admin"))
    response = client.get(ENTERPRISES_URL, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert_error_shape(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
