"""One error shape on every path under /api/: unknown routes, methods, crashes, whatever renders.

Each case runs with DEBUG off and on: with DEBUG on, Django answers 404 and 500 with its debug
pages unless something has the last word (portal.api.errors.ApiErrorShapeMiddleware).
"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from portal.models import Enterprise
from tests.conftest import login
from tests.portal.test_api import assert_error_shape

ENTERPRISES_URL = "/api/v1/enterprises/"
HTML = {"HTTP_ACCEPT": "text/html,application/xhtml+xml"}


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request, settings):  # type: ignore[no-untyped-def]
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def token_client(world):  # type: ignore[no-untyped-def]
    """A plain Django client that answers crashes instead of raising them into the test."""
    token, _ = Token.objects.get_or_create(user=world.user("platform_admin"))
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token.key}")


@pytest.mark.parametrize("path", [
    "/api/v1/enterprises/1/nothing/",
    "/api/v1/no-such-thing/",
    "/api/v2/enterprises/",
    "/api/",
])
def test_unrouted_api_paths_answer_404_in_the_shape(debug, token_client, world, path):
    response = token_client.get(path)
    error = assert_error_shape(response, 404, "not_found")
    # Exactly the body of a missing object, so an unknown route tells nothing more.
    missing = token_client.get(f"{ENTERPRISES_URL}{world.outsider.pk + 100000}/")
    assert error == missing.json()["error"]


def test_a_browser_asking_for_html_still_gets_the_shape(debug, token_client, world):
    missing = token_client.get(f"{ENTERPRISES_URL}{world.outsider.pk + 100000}/", **HTML)
    assert_error_shape(missing, 404, "not_found")
    # Validation errors keep their fields when the browsable API would have rendered them.
    invalid = token_client.get(f"{ENTERPRISES_URL}?kind=castle", **HTML)
    error = assert_error_shape(invalid, 400, "invalid")
    assert "kind" in error["fields"]


@pytest.mark.parametrize(("method", "path", "accept"), [
    ("delete", "enterprise", HTML),
    ("post", "/api/v1/docs/", {}),
    ("post", "/api/v1/schema/", {}),
    ("put", ENTERPRISES_URL, {}),
])
def test_unsupported_methods_answer_405_in_the_shape_with_allow(debug, token_client, world, method, path,
                                                                  accept):
    url = f"{ENTERPRISES_URL}{world.tenant_a.pk}/" if path == "enterprise" else path
    response = getattr(token_client, method)(url, **accept)
    assert_error_shape(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]
    assert Enterprise.objects.filter(pk=world.tenant_a.pk).exists()


def test_an_unacceptable_format_answers_406_in_the_shape(debug, token_client):
    response = token_client.get("/api/v1/docs/", HTTP_ACCEPT="application/json")
    assert_error_shape(response, 406, "not_acceptable")


def test_a_crash_in_a_view_answers_500_in_the_shape(debug, token_client, monkeypatch):
    from portal.api import views

    def explode(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views.EnterpriseViewSet, "base_queryset", explode)
    response = token_client.get(ENTERPRISES_URL, **HTML)
    assert_error_shape(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()


def test_a_crash_outside_any_view_answers_500_in_the_shape(debug, token_client, monkeypatch):
    from portal import middleware

    def explode(self, request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals")

    # Raised in the middleware chain, before URL resolution: Django turns it into its 500 page.
    monkeypatch.setattr(middleware.ReachMiddleware, "__call__", explode)
    response = token_client.get(ENTERPRISES_URL)
    assert_error_shape(response, 500, "server_error")
    assert "secret internals" not in response.content.decode()


def test_the_answer_keeps_the_headers_and_cookies_set_further_in(debug, client, world):
    login(client, world.user("a_admin"))
    response = client.get("/api/v1/no-such-thing/", **HTML)
    assert_error_shape(response, 404)
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sessionid" in response.cookies  # the session middleware's cookie is not dropped
    client.logout()
    # And an answer already in the shape passes untouched (a 401 keeps its token challenge).
    anonymous = client.get(ENTERPRISES_URL)
    assert_error_shape(anonymous, 401, "not_authenticated")
    assert anonymous["WWW-Authenticate"] == "Token"


def test_pages_keep_their_html_error_pages(debug, client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
