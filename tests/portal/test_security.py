"""Lockout after repeated failed logins, logout by POST only, and the second factor (TOTP)."""

from __future__ import annotations

import base64
import json

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.models import AuditEntry
from tests.conftest import TEST_PASSWORD, login

WRONG_PASSWORD = "not-the-password-42"


def current_code(device: TOTPDevice) -> str:
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)
    return f"{code:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    return f"{(int(current_code(device)) + 1) % 10**device.digits:0{device.digits}d}"


@pytest.mark.django_db
def test_five_failed_logins_lock_the_account(client, world, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    user = world.user("a_admin")
    for _attempt in range(5):
        client.post("/accounts/login/", {"username": user.username, "password": WRONG_PASSWORD})
    response = client.post("/accounts/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 429
    assert "账户已锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not AuditEntry.objects.filter(action="login", actor=user).exists()

    failed = AuditEntry.objects.filter(action="login_failed", object_repr=user.username)
    assert failed.count() >= 5
    for entry in failed:
        dumped = json.dumps(entry.changes, ensure_ascii=False)
        assert "password" not in entry.changes
        assert WRONG_PASSWORD not in dumped and TEST_PASSWORD not in dumped


@pytest.mark.django_db
def test_a_good_login_before_the_limit_succeeds(client, world):
    user = world.user("a_admin")
    for _attempt in range(4):
        client.post("/accounts/login/", {"username": user.username, "password": WRONG_PASSWORD})
    response = client.post("/accounts/login/", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
def test_logout_is_post_only(client, world):
    login(client, world.user("a_admin"))
    assert client.get("/accounts/logout/").status_code == 405
    assert "_auth_user_id" in client.session
    assert client.post("/accounts/logout/").status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_totp_setup_with_a_real_code(client, world, settings):
    # Wrong codes throttle the device (1 s, 2 s, 4 s…); the test retries at once.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    user = world.user("a_admin")
    login(client, user)
    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    html = page.content.decode()
    assert "<svg" in html
    assert base64.b32encode(device.bin_key).decode() in html

    response = client.post("/accounts/2fa/setup/", {"token": wrong_code(device)})
    assert response.status_code == 200
    assert response.context["form"].errors["token"]
    device.refresh_from_db()
    assert not device.confirmed

    response = client.post("/accounts/2fa/setup/", {"token": current_code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    account = client.get("/accounts/").content.decode()
    assert "已启用" in account and "本次登录已验证" in account
    assert AuditEntry.objects.filter(action="otp_enabled", actor=user).exists()
    # The device key never reaches the audit trail.
    assert not AuditEntry.objects.filter(changes__icontains=device.key).exists()


@pytest.mark.django_db
def test_officials_must_verify_when_required(client, world, settings):
    settings.REQUIRE_2FA_FOR_OFFICIALS = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    reviewer = world.user("zhengzhou_reviewer")
    device = TOTPDevice.objects.create(user=reviewer, name="authenticator", confirmed=True)
    login(client, reviewer)

    response = client.get("/enterprises/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/2fa/verify/"

    response = client.post("/accounts/2fa/verify/?next=/enterprises/", {"token": wrong_code(device)})
    assert response.status_code == 200
    assert AuditEntry.objects.filter(action="otp_failed", actor=reviewer).exists()

    response = client.post("/accounts/2fa/verify/", {"token": current_code(device), "next": "/enterprises/"})
    assert response.status_code == 302
    assert response["Location"] == "/enterprises/"
    assert client.get("/enterprises/").status_code == 200


@pytest.mark.django_db
def test_verify_rejects_an_offsite_next(client, world):
    user = world.user("a_admin")
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    login(client, user)
    response = client.post("/accounts/2fa/verify/", {"token": current_code(device), "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_verify_without_a_device_goes_to_setup(client, world, settings):
    settings.REQUIRE_2FA_FOR_OFFICIALS = True
    login(client, world.user("expert"))
    response = client.get("/")
    assert response["Location"] == "/accounts/2fa/verify/"
    response = client.get("/accounts/2fa/verify/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/2fa/setup/?next=")
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_enterprise_users_are_not_forced_to_verify(client, world, settings):
    settings.REQUIRE_2FA_FOR_OFFICIALS = True
    login(client, world.user("a_admin"))
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_repeated_wrong_codes_are_throttled(client, world):
    user = world.user("a_admin")
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    login(client, user)
    client.post("/accounts/2fa/verify/", {"token": wrong_code(device)})
    # Within the throttle delay even the right code is refused, and the page says why.
    response = client.post("/accounts/2fa/verify/", {"token": current_code(device)})
    assert response.status_code == 200
    assert "错误次数过多" in response.content.decode()
    assert not client.get("/accounts/").context["otp_verified"]
