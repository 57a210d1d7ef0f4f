"""The edge computes a request's reach once; below it the same answer is reused, and only there."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.access import reach_for, reach_scope
from portal.models import User
from tests.conftest import login

pytestmark = pytest.mark.django_db


def _reach_queries(queries: list[dict[str, str]]) -> int:
    # The region-subtree lookup of enterprise ids that decides an official's reach.
    return sum(1 for q in queries if '"portal_region"."path"::text LIKE' in q["sql"])


def test_reach_is_computed_once_per_request(client, world):
    login(client, world.user("zhengzhou_reviewer"))
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/enterprises/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [world.tenant_a.pk]
    assert _reach_queries(captured.captured_queries) == 1


def test_remembered_reach_lives_only_inside_the_edge_scope(world):
    user = User.objects.get(pk=world.user("zhengzhou_reviewer").pk)
    with reach_scope(user) as reach:
        with CaptureQueriesContext(connection) as captured:
            assert reach_for(user) is reach
        assert _reach_queries(captured.captured_queries) == 0
    with CaptureQueriesContext(connection) as captured:
        assert reach_for(user).visible_ids == (world.tenant_a.pk,)
    assert _reach_queries(captured.captured_queries) == 1
