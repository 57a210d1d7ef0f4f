"""The client address behind the TLS proxy: X-Forwarded-For is believed only from TRUSTED_PROXIES.

The audit trail and django-axes key on the same address (portal.middleware.client_ip). Behind
the proxy, every request's peer is the proxy; without this, one client's failed logins would lock
every client out, and the trail would show one address for all.
"""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from portal.middleware import client_ip
from portal.models import AuditEntry
from tests.conftest import TEST_PASSWORD

PROXY = "10.9.0.2"
INNER_PROXY = "10.9.0.3"
VICTIM = "203.0.113.7"
ATTACKER = "198.51.100.66"
WRONG_PASSWORD = "not-the-password-42"
LOGIN_URL = "/accounts/login/"


@pytest.fixture(autouse=True)
def _behind_a_proxy(settings):  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXIES = ["10.9.0.0/29", "2001:db8:9::/64"]


def through_proxy(forwarded_for: str) -> dict[str, str]:
    return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": forwarded_for}


def failed_logins(user, count: int, **meta: str) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    for _attempt in range(count):
        response = client.post(LOGIN_URL, {"username": user.username, "password": WRONG_PASSWORD}, **meta)
        assert response.status_code in (200, 429)


def logs_in(user, **meta: str) -> bool:  # type: ignore[no-untyped-def]
    client = Client()
    response = client.post(LOGIN_URL, {"username": user.username, "password": TEST_PASSWORD}, **meta)
    return response.status_code == 302 and client.session.get("_auth_user_id") == str(user.pk)


@pytest.mark.parametrize(("meta", "expected"), [
    ({"REMOTE_ADDR": VICTIM}, VICTIM),
    # A trusted proxy appends the address it was reached from.
    (through_proxy(VICTIM), VICTIM),
    # What the client wrote into the header itself stands further left and is never believed.
    (through_proxy(f"{ATTACKER}, {VICTIM}"), VICTIM),
    # Two of our own proxies in a row: the first entry that is not one of ours is the client.
    (through_proxy(f"{ATTACKER}, {VICTIM}, {INNER_PROXY}"), VICTIM),
    (through_proxy(f"{VICTIM}:51234"), VICTIM),
    ({"REMOTE_ADDR": "2001:db8:9::1", "HTTP_X_FORWARDED_FOR": "2001:db8:77::5"}, "2001:db8:77::5"),
    ({"REMOTE_ADDR": f"::ffff:{PROXY}", "HTTP_X_FORWARDED_FOR": VICTIM}, VICTIM),
    # From an untrusted peer the header is ignored: the peer's own address is the client.
    ({"REMOTE_ADDR": ATTACKER, "HTTP_X_FORWARDED_FOR": VICTIM}, ATTACKER),
    ({"REMOTE_ADDR": "10.9.0.9", "HTTP_X_FORWARDED_FOR": VICTIM}, "10.9.0.9"),  # just outside /29
    # A trusted proxy that forwards nothing usable: the proxy is all that is known.
    (through_proxy("unknown"), PROXY),
    ({"REMOTE_ADDR": PROXY}, PROXY),
])
def test_client_ip(meta, expected):
    assert client_ip(RequestFactory().get("/", **meta)) == expected


def test_no_trusted_proxies_means_the_header_is_never_read(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(RequestFactory().get("/", **through_proxy(VICTIM))) == PROXY


def test_audit_rows_carry_the_address_the_proxy_gives(world):
    user = world.user("a_admin")
    failed_logins(user, 1, **through_proxy(f"{VICTIM}, {ATTACKER}"))
    assert logs_in(user, **through_proxy(VICTIM))
    failed = AuditEntry.objects.get(action="login_failed", object_repr=user.username)
    assert failed.ip_address == ATTACKER
    assert AuditEntry.objects.get(action="login", actor=user).ip_address == VICTIM
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}


def test_a_forged_header_from_an_untrusted_peer_is_ignored_in_the_audit_trail(world):
    user = world.user("a_admin")
    assert logs_in(user, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=VICTIM)
    assert AuditEntry.objects.get(action="login", actor=user).ip_address == ATTACKER


def test_failed_logins_behind_the_proxy_lock_out_only_their_own_address(world, settings):
    user = world.user("a_admin")
    failed_logins(user, settings.AXES_FAILURE_LIMIT, **through_proxy(ATTACKER))
    # The attacker's address is locked out, even with the right password…
    assert not logs_in(user, **through_proxy(ATTACKER))
    assert Client().post(LOGIN_URL, {"username": user.username, "password": TEST_PASSWORD},
                         **through_proxy(ATTACKER)).status_code == 429
    # …while the same user, from their own address through the same proxy, still logs in.
    assert logs_in(user, **through_proxy(VICTIM))


def test_a_forged_header_cannot_lock_out_another_address(world, settings):
    user = world.user("a_admin")
    # Straight at the server (not through the proxy), claiming to be the victim.
    failed_logins(user, settings.AXES_FAILURE_LIMIT + 1, REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR=VICTIM)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    assert logs_in(user, **through_proxy(VICTIM))
    # And through the proxy, a forged entry to the left of the real one changes nothing either.
    failed_logins(user, settings.AXES_FAILURE_LIMIT + 1, **through_proxy(f"{VICTIM}, {ATTACKER}"))
    assert logs_in(user, **through_proxy(VICTIM))


def test_api_token_lockouts_use_the_same_address(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "10000/min"}}
    user = world.user("b_admin")
    api = APIClient()
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        api.post("/api/v1/auth/token/", {"username": user.username, "password": WRONG_PASSWORD},
                 format="json", **through_proxy(ATTACKER))
    locked = api.post("/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD},
                      format="json", **through_proxy(ATTACKER))
    assert locked.status_code == 429
    allowed = api.post("/api/v1/auth/token/", {"username": user.username, "password": TEST_PASSWORD},
                       format="json", **through_proxy(VICTIM))
    assert allowed.status_code == 200, allowed.content
