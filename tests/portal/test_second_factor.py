"""With REQUIRE_2FA_FOR_OFFICIALS on, every account that reaches beyond one enterprise passes
TOTP (a real django-otp device and a real code) before pages, the API or a token serve it.

The roles that need it: municipal reviewer, provincial officer, expert, platform admin, and any
superuser whatever its role. An API request riding a password-only session gets 403 in the
error shape on every route; a verified session reads the API; tokens need the code too.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metering.models import Meter
from portal.access import needs_second_factor
from portal.models import AuditEntry, Role
from tests.conftest import TEST_PASSWORD
from tests.factories import UserFactory
from tests.portal.test_api import assert_error_shape
from tests.portal.test_security import current_code, wrong_code

TOKEN_URL = "/api/v1/auth/token/"
ENTERPRISES_URL = "/api/v1/enterprises/"
SECOND_FACTOR_ACCOUNTS = ("zhengzhou_reviewer", "henan_officer", "expert", "platform_admin", "superuser")


@pytest.fixture(autouse=True)
def _second_factor_required(settings):  # type: ignore[no-untyped-def]
    settings.REQUIRE_2FA_FOR_OFFICIALS = True
    # Wrong codes throttle the device (1 s, 2 s, 4 s…); these tests send the right one at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "10000/min"}}
    cache.clear()
    yield
    cache.clear()


def account(world, key: str):  # type: ignore[no-untyped-def]
    if key == "superuser":
        # A superuser needs the second factor by being one, not by its role.
        return UserFactory(username="root_of_tenant_a", role=Role.ENTERPRISE_ADMIN, enterprise=world.tenant_a,
                           is_superuser=True, is_staff=True)
    return world.user(key)


def password_login(client: Client, user) -> None:  # type: ignore[no-untyped-def]
    """The login page with the password only: the session is authenticated, not verified."""
    response = client.post("/accounts/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.content
    assert client.session["_auth_user_id"] == str(user.pk)


def unverified_api_routes(world) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [
        ("get", ENTERPRISES_URL),
        ("get", f"{ENTERPRISES_URL}{world.tenant_a.pk}/"),
        ("get", "/api/v1/"),
        ("get", "/api/v1/meters/"),
        ("get", "/api/v1/modbus/devices/"),
        ("post", "/api/v1/meters/"),
        ("post", "/api/v1/readings/"),
        ("get", "/api/v1/no-such-route/"),
    ]


@pytest.mark.parametrize("key", SECOND_FACTOR_ACCOUNTS)
def test_the_api_refuses_a_password_only_session_until_it_passes_totp(world, key):
    user = account(world, key)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    client = Client()
    password_login(client, user)
    meters_before = Meter.objects.count()

    for method, url in unverified_api_routes(world):
        response = getattr(client, method)(url, data={}, content_type="application/json")
        assert_error_shape(response, 403, "otp_required")
    assert Meter.objects.count() == meters_before
    # Pages send the same session to the code page.
    assert client.get("/enterprises/")["Location"] == "/accounts/2fa/verify/"

    response = client.post("/accounts/2fa/verify/", {"token": current_code(device), "next": "/"})
    assert response.status_code == 302
    assert AuditEntry.objects.filter(action="otp_verified", actor=user).exists()

    listing = client.get(ENTERPRISES_URL)
    assert listing.status_code == 200, listing.content
    # Verified, the session reads what its reach allows (experts: nothing yet, so 404 on detail).
    in_reach = key != "expert"
    assert (world.tenant_a.pk in {row["id"] for row in listing.json()["results"]}) is in_reach
    assert client.get(f"{ENTERPRISES_URL}{world.tenant_a.pk}/").status_code == (200 if in_reach else 404)
    assert client.get("/enterprises/").status_code == 200


@pytest.mark.parametrize("key", SECOND_FACTOR_ACCOUNTS)
def test_token_issuance_needs_the_totp_code(world, key):
    user = account(world, key)
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    api = APIClient()

    def obtain(**extra):  # type: ignore[no-untyped-def]
        credentials = {"username": user.username, "password": TEST_PASSWORD, **extra}
        return api.post(TOKEN_URL, credentials, format="json")

    assert_error_shape(obtain(), 400, "otp_invalid")
    assert_error_shape(obtain(otp_token=wrong_code(device)), 400, "otp_invalid")
    assert not Token.objects.filter(user=user).exists()

    device.refresh_from_db()
    response = obtain(otp_token=current_code(device))
    assert response.status_code == 200, response.content
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get(ENTERPRISES_URL).status_code == 200


def test_enterprise_users_need_no_second_factor(world):
    user = world.user("a_admin")
    assert not needs_second_factor(user)
    client = Client()
    password_login(client, user)
    assert client.get(ENTERPRISES_URL).status_code == 200
    api = APIClient()
    response = api.post(TOKEN_URL, {"username": user.username, "password": TEST_PASSWORD}, format="json")
    assert response.status_code == 200


def test_the_rule_is_off_when_the_setting_is_off(world, settings):
    settings.REQUIRE_2FA_FOR_OFFICIALS = False
    assert not any(needs_second_factor(world.user(key)) for key in SECOND_FACTOR_ACCOUNTS[:-1])
    client = Client()
    password_login(client, world.user("platform_admin"))
    assert client.get(ENTERPRISES_URL).status_code == 200
