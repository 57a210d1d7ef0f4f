"""The API schema validates, and schemathesis' property tests against it find no server error.

The schema is the live one, fetched from /api/v1/schema/ through the WSGI application, and
validated against the OpenAPI 3 specification (openapi-spec-validator). Then every operation
in it gets generated requests, valid and invalid by the schema (bounded per operation,
derandomized so a run is repeatable), sent in-process to the same WSGI application as a
demo-like enterprise admin with meters, readings and rollups, and once more with an API
client's key; each answer must
not be a 5xx (schemathesis' `not_a_server_error`). Operations with ids are also driven with
the ids of the caller's own rows, so the handlers behind the 404 are reached too.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from metering.monitoring.tasks import recompute_rollups
from tests.api_clients import api_client_with_key
from tests.applications.core_definition import core_definition
from tests.applications.test_api import core_data
from tests.factories import program_loaded, submission_filed
from tests.metering.registry_factories import gateway_token_for, modbus_device_for
from tests.metering.test_ingest import make_meter
from tests.metering.test_rollups import ingest

SCHEMA_URL = "/api/v1/schema/?format=json"
# Enough to find the classic crashes (bad types, huge numbers, odd strings, NUL bytes) on each
# of the ~20 operations while the whole test stays well under a minute on the 2-core machine.
EXAMPLES_PER_OPERATION = 10
# Requests the schema forbids (wrong types, missing fields, out-of-range values): fewer, since
# most are answered by one validator; what they must get is a 4xx, never a 5xx.
NEGATIVE_EXAMPLES_PER_OPERATION = 5
READ_ONLY_EXAMPLES_PER_OPERATION = 25
DAY = dt.datetime(2025, 3, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(world):  # type: ignore[no-untyped-def]
    """tenant_a as the demo has it: meters with a day of readings and their rollups, a device, a
    gateway token and a filed application; the ids an operation's path parameters can take."""
    meter = make_meter(world.tenant_a, "SCH-E-1")
    make_meter(world.tenant_a, "SCH-G-2", energy_type="natural_gas", unit="m3", level=2)
    ingest(world.tenant_a.pk, "SCH-E-1", [(DAY + dt.timedelta(minutes=15 * i), 100.0 + i) for i in range(97)])
    recompute_rollups()
    device = modbus_device_for(world.tenant_a)
    token = gateway_token_for(world.tenant_a)
    program = program_loaded(core_definition())
    submission = submission_filed(world.tenant_a, program, core_data(), world.user("a_admin"))
    return {
        "/api/v1/meters/{meter_id}/readings/": {"meter_id": meter.pk},
        "/api/v1/meters/{id}/": {"id": meter.pk},
        "/api/v1/enterprises/{id}/": {"id": world.tenant_a.pk},
        "/api/v1/modbus/devices/{id}/": {"id": device.pk},
        "/api/v1/gateway-tokens/{id}/": {"id": token.pk},
        "/api/v1/programs/{code}/": {"code": program.code},
        "/api/v1/submissions/{id}/": {"id": submission.pk},
    }


@pytest.fixture(autouse=True)
def _keep_the_test_connection():  # type: ignore[no-untyped-def]
    """The WSGI handler closes the database connection at the end of each request; the test's
    transaction lives on that connection. Django's own test client unhooks the same signal."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def live_schema() -> dict[str, Any]:
    response = Client().get(SCHEMA_URL)
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


def test_the_live_schema_is_valid_openapi(db):
    document = live_schema()
    validate(document)  # raises with the offending path when the document is not OpenAPI 3
    assert document["openapi"].startswith("3.")
    assert {"tokenAuth", "apiClientKey"} <= set(document["components"]["securitySchemes"])


def run_operations(
    headers: dict[str, str], own_ids: dict[str, dict[str, int]], *, methods: set[str],
    examples: int = EXAMPLES_PER_OPERATION,
) -> list[str]:
    """Drive every operation (of `methods`) with generated requests; the server errors found."""
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application())
    problems: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() not in methods:
            continue
        operations += 1
        strategies = [(operation.as_strategy(), examples),
                      (operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
                       NEGATIVE_EXAMPLES_PER_OPERATION)]
        if operation.path in own_ids:
            strategies.append((operation.as_strategy(path_parameters=own_ids[operation.path]),
                               examples))
        for strategy, examples in strategies:
            problems.extend(_server_errors(strategy, headers, operation.label, examples))
    assert operations >= 5, f"only {operations} operations in the schema: did loading it break?"
    return problems


def _server_errors(strategy: Any, headers: dict[str, str], label: str, examples: int) -> list[str]:
    found: list[str] = []

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def probe(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    try:
        probe()
    except Unsatisfiable:
        pass  # nothing in this operation can be made invalid (no parameters, a body read by hand)
    except Exception as exc:  # the failing case, as schemathesis reports it (with a curl line)
        found.append(f"{label}: {exc}")
    return found


def test_no_generated_request_makes_a_server_error_for_an_enterprise_admin(world, demo):
    token, _created = Token.objects.get_or_create(user=world.user("a_admin"))
    problems = run_operations({"Authorization": f"Token {token.key}"}, demo,
                              methods={"GET", "POST", "PUT", "PATCH", "DELETE"})
    assert not problems, "\n\n".join(problems)


def test_no_generated_request_makes_a_server_error_for_an_api_client(world, demo):
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)
    # Reads only (API clients never write), so each gets more examples for the same time.
    problems = run_operations({"Authorization": f"Api-Key {key}"}, demo, methods={"GET"},
                              examples=READ_ONLY_EXAMPLES_PER_OPERATION)
    assert not problems, "\n\n".join(problems)
