"""HTTP ingest (POST /api/v1/readings/), gateway tokens, and the raw readings API."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from metering.collectors.http.views import MAX_BATCH_BYTES, MAX_BATCH_READINGS
from metering.ingest.quarantine import QUARANTINE_PAYLOAD_BYTES
from metering.ingest.services import readings_ingest
from metering.models import GatewayToken, QuarantinedMessage, Reading
from metering.registry.tokens import (
    gateway_token_create,
    gateway_token_revoke,
    mosquitto_password_hash,
    mosquitto_password_matches,
)
from tests.metering.test_ingest import BASE, item, make_meter

pytestmark = pytest.mark.django_db

URL = "/api/v1/readings/"


@pytest.fixture
def gateway(world):  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    make_meter(world.tenant_a, "E-002")
    make_meter(world.tenant_b, "B-001")
    _token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="网关1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")
    return client


def post_json(client: APIClient, body: object):  # type: ignore[no-untyped-def]
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def test_url_is_the_documented_one() -> None:
    assert reverse("readings-ingest") == URL
    assert reverse("meter-readings", kwargs={"meter_id": 5}) == "/api/v1/meters/5/readings/"


def test_gateway_posts_a_batch_and_a_repeat_is_all_duplicates(gateway, world) -> None:  # type: ignore[no-untyped-def]
    body = {"readings": [item("E-001", m, float(m)) for m in range(5)] + [item("E-002", 0, 7)]}
    first = post_json(gateway, body)
    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 6, "duplicates": 0, "rejected": []}
    second = post_json(gateway, body)
    assert second.json() == {"accepted": 0, "duplicates": 6, "rejected": []}
    assert Reading.objects.filter(meter__enterprise=world.tenant_a, source="http").count() == 6


def test_a_browser_accept_header_still_gets_the_json_answer(gateway, world) -> None:  # type: ignore[no-untyped-def]
    # A gateway sending a browser's Accept header must get the answer for what was stored,
    # not a 500 from the browsable renderer after the readings were committed.
    body = {"readings": [item("E-001", 0, 1.0)]}
    response = gateway.post(URL, data=json.dumps(body), content_type="application/json",
                            HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}


def test_bearer_scheme_works_for_gateway_tokens(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    _token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="gw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    assert post_json(client, {"readings": [item("E-001", 0)]}).json()["accepted"] == 1


def test_bad_items_are_reported_per_item_and_good_ones_kept(gateway, world) -> None:  # type: ignore[no-untyped-def]
    body = {
        "readings": [
            item("E-001", 0, 1.5),
            item("E-001", 1, "12"),
            item("B-001", 2, 1.0),  # tenant B's meter: unknown to tenant A's gateway
            {"meter": "E-001", "ts": "2025-03-01 08:03:00", "value": 1},
            item("E-001", 4, True),
            item("E-001", 5, 3.0),
        ]
    }
    # NaN and Infinity are not JSON, but gateways send them; Python's parser reads them, the ingest refuses.
    raw = json.dumps(body)[:-2] + ', {"meter": "E-001", "ts": "2025-03-01T08:06:00+08:00", "value": NaN}]}'
    response = gateway.post(URL, data=raw, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "error": "value must be a number"},
            {"index": 2, "error": "unknown meter"},
            {"index": 3, "error": "ts must include a UTC offset (e.g. +08:00 or Z)"},
            {"index": 4, "error": "value must be a number, not a boolean"},
            {"index": 6, "error": "value must be a finite number (NaN and Infinity are not readings)"},
        ],
    }
    assert not Reading.objects.filter(meter__enterprise=world.tenant_b).exists()
    assert QuarantinedMessage.objects.filter(enterprise=world.tenant_a, source="http").count() == 5


def test_invalid_json_is_400_and_quarantined(gateway, world) -> None:  # type: ignore[no-untyped-def]
    body = b'{"readings": [{"meter": "E-001",'
    response = gateway.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    row = QuarantinedMessage.objects.get(enterprise=world.tenant_a)
    assert row.reason.startswith("invalid JSON at line 1 column 33")
    assert bytes(row.payload) == body and row.payload_sha256 == hashlib.sha256(body).hexdigest()


def test_invalid_utf8_is_400_and_quarantined(gateway, world) -> None:  # type: ignore[no-untyped-def]
    body = b'{"readings": [{"meter": "\xe8\xa1", "ts": "x", "value": 1}]}'
    response = gateway.post(URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_encoding"
    row = QuarantinedMessage.objects.get(enterprise=world.tenant_a)
    assert row.reason.startswith("invalid UTF-8 at byte 25")
    assert bytes(row.payload) == body


@pytest.mark.parametrize("body", [[], {"values": []}, {"readings": {"meter": "E-001"}}, "readings"])
def test_wrong_shape_is_400_and_quarantined(gateway, world, body) -> None:  # type: ignore[no-untyped-def]
    response = post_json(gateway, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_shape"
    assert QuarantinedMessage.objects.filter(enterprise=world.tenant_a).count() == 1


def test_ten_megabyte_body_is_413_in_the_api_error_shape_and_quarantined(gateway, world) -> None:  # type: ignore[no-untyped-def]
    filler = [item("E-001", m % 1000, 1.0) for m in range(200_000)]
    body = json.dumps({"readings": filler}).encode()[: 10 * 1024 * 1024]
    assert len(body) > MAX_BATCH_BYTES
    response = gateway.post(URL, data=body, content_type="application/json")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["status"] == 413 and error["code"] == "payload_too_large"
    row = QuarantinedMessage.objects.get(enterprise=world.tenant_a)
    assert row.payload_size == len(body)
    assert bytes(row.payload) == body[:QUARANTINE_PAYLOAD_BYTES]
    assert row.payload_sha256 == hashlib.sha256(body).hexdigest()
    assert not Reading.objects.exists()


def test_too_many_readings_is_413(gateway, world) -> None:  # type: ignore[no-untyped-def]
    body = {"readings": [{}] * (MAX_BATCH_READINGS + 1)}
    response = post_json(gateway, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_readings"


def test_enterprise_user_token_posts_for_own_enterprise_only(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    make_meter(world.tenant_b, "B-001")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.user('a_staff')).key}")
    response = post_json(client, {"readings": [item("E-001", 0), item("B-001", 0)]})
    assert response.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [{"index": 1, "error": "unknown meter"}],
    }
    assert not Reading.objects.filter(meter__code="B-001").exists()


@pytest.mark.parametrize("key", ["henan_officer", "platform_admin", "expert"])
def test_non_enterprise_users_cannot_post_readings(world, key) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=world.user(key))[0].key}")
    response = post_json(client, {"readings": [item("E-001", 0)]})
    assert response.status_code == 403
    assert not Reading.objects.exists()


@pytest.mark.parametrize("header", ["", "Gateway nope", "Gateway a b", "Bearer nope", "Token nope"])
def test_missing_or_bad_credentials_are_401(world, header) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = post_json(client, {"readings": []})
    assert response.status_code == 401
    assert "error" in response.json()


def test_revoked_gateway_token_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="gw")
    gateway_token_revoke(actor=world.user("a_admin"), token=token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")
    assert post_json(client, {"readings": []}).status_code == 401


def test_database_down_answers_503_with_retry_after(gateway, world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django.db import OperationalError

    from metering.collectors.http import views as ingest_views

    def down(**kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("server closed the connection unexpectedly")

    # The real outage (a stopped PostgreSQL) is exercised in test_spool; here only the answer is checked.
    monkeypatch.setattr(ingest_views, "readings_ingest", down)
    response = post_json(gateway, {"readings": [item("E-001", 0)]})
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json()["error"]["code"] == "database_unavailable"


# --- gateway tokens -----------------------------------------------------------------------------


def test_token_is_stored_only_as_hashes_in_mosquitto_format(world) -> None:  # type: ignore[no-untyped-def]
    token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="gw")
    stored = GatewayToken.objects.get(pk=token.pk)
    assert plain.startswith("ngw_") and len(plain) == 47
    assert stored.token_sha256 == hashlib.sha256(plain.encode()).hexdigest()
    assert plain not in stored.mosquitto_password_hash
    hash_id, iterations, _salt, _digest = stored.mosquitto_password_hash.split("$")[1:]
    assert (hash_id, iterations) == ("7", "101")
    assert mosquitto_password_matches(plain, stored.mosquitto_password_hash)
    assert not mosquitto_password_matches(plain + "x", stored.mosquitto_password_hash)
    assert stored.token_prefix == plain[:10]


def test_mosquitto_hash_matches_a_line_written_by_mosquitto_passwd(tmp_path) -> None:
    import base64
    import shutil
    import subprocess

    tool = shutil.which("mosquitto_passwd")
    assert tool, "mosquitto_passwd (Debian package mosquitto) is needed to check the hash format"
    password_file = tmp_path / "passwd"
    subprocess.run([tool, "-b", "-c", str(password_file), "gw", "s3cret-token"], check=True)
    line = password_file.read_text().strip()
    encoded = line.split(":", 1)[1]
    assert mosquitto_password_matches("s3cret-token", encoded)
    salt = base64.b64decode(encoded.split("$")[3])
    assert mosquitto_password_hash("s3cret-token", salt=salt) == encoded


def test_only_the_enterprise_admin_or_platform_admin_manages_tokens(world) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import PermissionDenied

    for key in ("a_staff", "b_admin", "zhengzhou_reviewer", "henan_officer"):
        with pytest.raises(PermissionDenied):
            gateway_token_create(actor=world.user(key), enterprise=world.tenant_a, name="gw")
    token, _ = gateway_token_create(actor=world.user("platform_admin"), enterprise=world.tenant_a, name="gw")
    with pytest.raises(PermissionDenied):
        gateway_token_revoke(actor=world.user("b_admin"), token=token)
    assert GatewayToken.objects.get(pk=token.pk).revoked_at is None


# --- GET /api/v1/meters/{id}/readings/ -----------------------------------------------------------


def _user_client(world, key: str) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=world.user(key))[0].key}")
    return client


def test_readings_api_pages_by_cursor_in_time_order(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    readings_ingest(
        enterprise_id=world.tenant_a.pk, source="http", items=[item("E-001", m, float(m)) for m in range(25)]
    )
    client = _user_client(world, "a_staff")
    url = f"/api/v1/meters/{meter.pk}/readings/"
    start = (BASE + dt.timedelta(minutes=5)).isoformat()
    end = (BASE + dt.timedelta(minutes=20)).isoformat()
    response = client.get(url, {"start": start, "end": end, "page_size": 10})
    assert response.status_code == 200, response.content
    page = response.json()
    assert [r["value"] for r in page["results"]] == [float(m) for m in range(5, 15)]
    assert page["results"][0] == {"ts": "2025-03-01T08:05:00+08:00", "value": 5.0, "quality": 0}
    following = client.get(page["next"]).json()
    assert [r["value"] for r in following["results"]] == [float(m) for m in range(15, 20)]
    assert following["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2025-03-01T08:00:00"}, "start"),
        ({"end": "not a time"}, "end"),
        ({"start": "2025-03-02T00:00:00+08:00", "end": "2025-03-01T00:00:00+08:00"}, "end"),
        ({"start": "2025-03-01T00:00:00+08:00", "end": "2025-03-01T00:00:00+08:00"}, "end"),
    ],
)
def test_readings_api_bad_range_is_a_clear_400(world, params, field) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    response = _user_client(world, "a_admin").get(f"/api/v1/meters/{meter.pk}/readings/", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_readings_api_hides_other_tenants_meters(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_b, "B-001")
    readings_ingest(enterprise_id=world.tenant_b.pk, source="http", items=[item("B-001", 0)])
    assert _user_client(world, "a_admin").get(f"/api/v1/meters/{meter.pk}/readings/").status_code == 404
    assert (
        _user_client(world, "luoyang_reviewer").get(f"/api/v1/meters/{meter.pk}/readings/").status_code == 200
    )
    assert _user_client(world, "a_admin").get("/api/v1/meters/999999/readings/").status_code == 404


def test_gateway_tokens_cannot_read(gateway, world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-READ")
    assert gateway.get(f"/api/v1/meters/{meter.pk}/readings/").status_code == 401


def test_last_used_at_is_recorded(world) -> None:  # type: ignore[no-untyped-def]
    token, plain = gateway_token_create(actor=world.user("a_admin"), enterprise=world.tenant_a, name="gw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Gateway {plain}")
    post_json(client, {"readings": []})
    token.refresh_from_db()
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < dt.timedelta(minutes=1)
