"""The applications API: programs, submissions (reach per role and per API key, 404 out of reach),
the filed form values and the evidence frozen with them, and the PDF / summary-table downloads.

Submissions are filed through the real services (tests/factories.py `submission_filed`); meter data
goes in through the real ingest service and the rollup task, as in tests/metering.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
from decimal import Decimal
from typing import Any

import pytest
from django_scopes import scopes_disabled
from rest_framework.test import APIClient

from applications.evidence import evidence_measure
from applications.models import Submission
from applications.selectors import submission_definition
from applications.services import submission_save, submission_start
from metering.monitoring.tasks import recompute_rollups
from portal.models import ApiScope, Region
from tests.api_clients import api_client_with_key, key_header
from tests.applications.core_definition import core_definition
from tests.conftest import login
from tests.factories import program_loaded, small_definition, submission_filed
from tests.metering.registry_factories import meter_for
from tests.metering.test_indicators import ingest
from tests.metering.test_ingest import make_meter

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 1)  # the core definition's evidence: the last full year, 2025
CST = dt.timezone(dt.timedelta(hours=8))
MARCH, APRIL, MAY = (dt.datetime(2025, month, 1, tzinfo=CST) for month in (3, 4, 5))
QUARTER = dt.timedelta(minutes=15)
LIST_FIELDS = {"id", "program", "enterprise", "state", "submitted_at", "definition_version"}
EVIDENCE_FIELDS = {"key", "label", "indicator", "value", "unit", "period", "factor_set", "flagged",
                   "typed_value", "computed_at"}


def core_data(**overrides: Any) -> dict[str, Any]:
    return {"founded": "2010-05-01", "summary": "十字以内", "investment": "80", "energy_tce": "122.9",
            "commitment": "yes", "claims_big": "no",
            "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}],
            **overrides}


class Filed:
    """The world's submissions: tenant_a's draft and two filed ones (the core program and another
    Henan program), tenant_b's and the outsider's (a Shanghai program)."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.core = program_loaded(core_definition())
        self.other = program_loaded(core_definition(code="test_other_2026"))
        self.shanghai = program_loaded(small_definition("test_shanghai_2026"))
        a_admin = world.user("a_admin")
        # tenant_a measured 1,000,000 kWh in March 2025: 122.9 tce (0.1229 kgce/kWh).
        make_meter(world.tenant_a, "API-E-1")
        ingest(world.tenant_a.pk, "API-E-1", [(MARCH - QUARTER, 0.0), (APRIL - QUARTER, 1_000_000.0)])
        recompute_rollups()
        self.a_filed = submission_filed(world.tenant_a, self.core, core_data(), a_admin, today=TODAY,
                                        title="甲钢铁的申报（核心项目）")
        self.a_other = submission_filed(world.tenant_a, self.other, core_data(), a_admin, today=TODAY)
        with scopes_disabled():
            self.a_draft = submission_start(program=self.core, enterprise=world.tenant_a, user=a_admin,
                                            today=TODAY)
            submission_save(submission=self.a_draft, user=a_admin,
                            changes={"summary": "还在填写", "investment": "12.5", "founded": "2099-01-01"})
        meter_for(world.tenant_b)  # a meter without readings: 0 tce measured (no meters: nothing measured)
        self.b_filed = submission_filed(world.tenant_b, self.core, core_data(energy_tce="5"),
                                        world.user("b_admin"), today=TODAY)
        self.outsider_filed = submission_filed(world.outsider, self.shanghai,
                                               {"project_name": "上海丙的项目"}, world.user("outsider_admin"),
                                               today=TODAY)

    def ids(self, *names: str) -> set[int]:
        return {getattr(self, name).pk for name in names}


@pytest.fixture
def filed(world) -> Filed:  # type: ignore[no-untyped-def]
    return Filed(world)


def as_role(world: Any, role: str) -> APIClient:
    client = APIClient()
    login(client, world.user(role))
    return client


def as_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(**key_header(key))
    return client


def listed(client: APIClient, **params: Any) -> set[int]:
    response = client.get("/api/v1/submissions/", params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def detail(client: APIClient, submission: Submission) -> Any:
    return client.get(f"/api/v1/submissions/{submission.pk}/")


# --- programs -----------------------------------------------------------------------------------

def test_programs_are_public_with_their_code_version_region_and_variants(filed) -> None:  # type: ignore[no-untyped-def]
    contest = core_definition(code="test_contest_2026")
    contest["variants"] = [{"key": "tech", "label": {"zh": "技术类", "en": "Technology"},
                            "enterprise_kinds": ["industrial"]}]
    contest["tracks"] = [{"key": "clean", "label": {"zh": "清洁生产赛道", "en": "Clean production"},
                          "form": "tech", "min_recommended_per_city": 3}]
    program_loaded(contest)
    for client in (as_role(filed.world, "xuhui_reviewer"), as_role(filed.world, "b_admin"),
                   as_key(api_client_with_key(reach_kind="enterprise", enterprise=filed.world.outsider,
                                              scopes=[ApiScope.PROGRAMS_READ])[1])):
        response = client.get("/api/v1/programs/")
        assert response.status_code == 200, response.content
        rows = {row["code"]: row for row in response.json()["results"]}
        assert set(rows) == {"test_contest_2026", "test_core_2026", "test_other_2026", "test_shanghai_2026"}
    core, contest_row = rows["test_core_2026"], rows["test_contest_2026"]
    shown = ("code", "name", "name_en", "version", "region", "document", "is_active")
    assert {key: core[key] for key in shown} == {
        "code": "test_core_2026", "name": "测试项目", "name_en": "Test program", "version": 1,
        "region": "410000", "document": "测试〔2026〕1号", "is_active": True}
    assert rows["test_shanghai_2026"]["region"] == "310000"
    assert core["enterprise_kinds"] == ["industrial", "data_center", "park"] and core["variants"] == []
    assert contest_row["variants"] == [{"key": "tech", "label": "技术类", "label_en": "Technology",
                                        "enterprise_kinds": ["industrial"]}]
    assert contest_row["tracks"] == [{"key": "clean", "label": "清洁生产赛道", "label_en": "Clean production",
                                      "form": "tech", "min_recommended_per_city": 3}]
    assert "definition" not in core


def test_a_program_detail_adds_its_definition_and_filters_work(filed) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, "a_staff")
    body = client.get("/api/v1/programs/test_shanghai_2026/").json()
    assert body["code"] == "test_shanghai_2026" and body["definition"]["sections"][0]["key"] == "project"
    missing = client.get("/api/v1/programs/no_such_program/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    shanghai = client.get("/api/v1/programs/", {"region": "310000"}).json()["results"]
    assert [row["code"] for row in shanghai] == ["test_shanghai_2026"]


def test_programs_need_a_login_or_the_programs_scope(filed) -> None:  # type: ignore[no-untyped-def]
    assert APIClient().get("/api/v1/programs/").status_code in (401, 403)
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=filed.world.tenant_a,
                                       scopes=[ApiScope.SUBMISSIONS_READ])
    refused = as_key(key).get("/api/v1/programs/")
    assert refused.status_code == 403 and "programs:read" in refused.json()["error"]["message"]


# --- submissions: fields ------------------------------------------------------------------------

def test_a_filed_submission_answers_the_issue_fields_its_data_and_evidence(filed) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, "zhengzhou_reviewer")
    rows = {row["id"]: row for row in client.get("/api/v1/submissions/").json()["results"]}
    row = rows[filed.a_filed.pk]
    assert LIST_FIELDS <= set(row) and "data" not in row and "evidence" not in row
    assert (row["program"], row["enterprise"], row["state"], row["definition_version"]) == (
        "test_core_2026", filed.world.tenant_a.pk, "submitted", 1)
    submitted_at = dt.datetime.fromisoformat(row["submitted_at"])
    assert row["submitted_at"].endswith("+08:00") and submitted_at == filed.a_filed.submitted_at
    body = detail(client, filed.a_filed).json()
    assert {key: body[key] for key in LIST_FIELDS} == {key: row[key] for key in LIST_FIELDS}
    with scopes_disabled():
        filing = filed.a_filed.filings.get()
    # The values of the filing, as filed: cleaned, computed fields included, decimals as text.
    assert body["data"] == filing.values
    assert body["data"]["company_name"] == filed.world.tenant_a.name
    assert body["data"]["investment"] == "80" and body["data"]["economics"][1]["debt_ratio"] == "20.00"
    assert body["data"]["founded"] == "2010-05-01"
    [evidence] = body["evidence"]
    assert EVIDENCE_FIELDS <= set(evidence)
    shown = ("key", "indicator", "value", "unit", "period", "typed_value", "flagged", "field")
    assert {key: evidence[key] for key in shown} == {
        "key": "annual_tce", "indicator": "total_tce", "value": "122.9", "unit": "tce",
        "period": {"start": "2025-01-01", "end": "2025-12-31"}, "typed_value": "122.9", "flagged": False,
        "field": "energy_tce"}
    assert evidence["factor_set"] and all(isinstance(name, str) for name in evidence["factor_set"])
    assert evidence["factor_set"][0].startswith("GB/T 2589")
    assert evidence["computed_at"].endswith("+08:00")


def test_a_typed_value_that_disagrees_is_flagged(filed) -> None:  # type: ignore[no-untyped-def]
    body = detail(as_role(filed.world, "henan_officer"), filed.b_filed).json()
    # tenant_b's meter has no readings: 0 tce measured, 5 typed.
    assert body["evidence"][0]["value"] == "0" and body["evidence"][0]["typed_value"] == "5"
    assert body["evidence"][0]["flagged"] is True


def test_a_draft_answers_its_cleaned_values_to_its_own_enterprise(filed) -> None:  # type: ignore[no-untyped-def]
    body = detail(as_role(filed.world, "a_staff"), filed.a_draft).json()
    assert body["state"] == "draft" and body["submitted_at"] is None and body["evidence"] == []
    assert body["data"]["summary"] == "还在填写" and body["data"]["investment"] == "12.5"
    assert body["data"]["company_name"] == filed.world.tenant_a.name  # prefilled
    # Invalid input is kept in the draft, but `data` holds cleaned values only.
    assert body["data"]["founded"] is None


# --- submissions: reach -------------------------------------------------------------------------

EXPECTED_REACH = {
    "a_admin": ("a_draft", "a_filed", "a_other"),
    "a_staff": ("a_draft", "a_filed", "a_other"),
    "b_admin": ("b_filed",),
    "zhengzhou_reviewer": ("a_filed", "a_other"),
    "luoyang_reviewer": ("b_filed",),
    "henan_officer": ("a_filed", "a_other", "b_filed"),
    "xuhui_reviewer": ("outsider_filed",),
    "park_admin": (),  # a park reads its members' meter data, not their filings
    "outsider_admin": ("outsider_filed",),
    "expert": (),
    "platform_admin": ("a_draft", "a_filed", "a_other", "b_filed", "outsider_filed"),
}
EVERY = ("a_draft", "a_filed", "a_other", "b_filed", "outsider_filed")


@pytest.mark.parametrize("role", sorted(EXPECTED_REACH))
def test_each_role_reads_exactly_the_submissions_in_its_reach(filed, role) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, role)
    expected = filed.ids(*EXPECTED_REACH[role])
    assert listed(client) == expected
    for name in EVERY:
        submission = getattr(filed, name)
        response = detail(client, submission)
        assert response.status_code == (200 if submission.pk in expected else 404), (name, response.content)


def test_out_of_reach_answers_exactly_like_a_missing_id(filed) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, "zhengzhou_reviewer")
    draft, other_city, missing = (client.get(f"/api/v1/submissions/{pk}/")
                                  for pk in (filed.a_draft.pk, filed.b_filed.pk, 2_147_480_000))
    assert draft.status_code == other_city.status_code == missing.status_code == 404
    assert draft.json() == other_city.json() == missing.json()
    assert missing.json()["error"]["code"] == "not_found"
    # Filtering by an enterprise out of reach answers as an enterprise no row has: 404 alike.
    outside = client.get("/api/v1/submissions/", {"enterprise": filed.world.tenant_b.pk})
    unknown = client.get("/api/v1/submissions/", {"enterprise": 2_147_480_000})
    assert outside.status_code == unknown.status_code == 404 and outside.json() == unknown.json()
    assert APIClient().get(f"/api/v1/submissions/{filed.a_filed.pk}/").status_code in (401, 403)


def test_filters_by_program_state_and_enterprise(filed) -> None:  # type: ignore[no-untyped-def]
    officer = as_role(filed.world, "henan_officer")
    assert listed(officer, program="test_core_2026") == filed.ids("a_filed", "b_filed")
    assert listed(officer, program="test_core_2026",
                  enterprise=filed.world.tenant_b.pk) == filed.ids("b_filed")
    assert listed(officer, state="submitted") == filed.ids("a_filed", "a_other", "b_filed")
    assert listed(officer, state="draft") == set()
    assert listed(officer, program="no_such_program") == set()
    own = as_role(filed.world, "a_admin")
    assert listed(own, state="draft") == filed.ids("a_draft")
    bad = officer.get("/api/v1/submissions/", {"state": "nonsense"})
    assert bad.status_code == 400 and "state" in bad.json()["error"]["fields"]


def test_api_keys_read_filed_submissions_within_their_reach(filed) -> None:  # type: ignore[no-untyped-def]
    world = filed.world
    keys = {
        "enterprise": api_client_with_key(reach_kind="enterprise", enterprise=world.tenant_a)[1],
        "region": api_client_with_key(reach_kind="region", region=Region.objects.get(code="410100"))[1],
        "province": api_client_with_key(reach_kind="region", region=Region.objects.get(code="410000"))[1],
        "program": api_client_with_key(reach_kind="program", program=filed.core)[1],
        "shanghai_program": api_client_with_key(reach_kind="program", program=filed.shanghai)[1],
    }
    expected = {
        "enterprise": ("a_filed", "a_other"),  # never the draft
        "region": ("a_filed", "a_other"),
        "province": ("a_filed", "a_other", "b_filed"),
        "program": ("a_filed", "b_filed"),  # that program only: not tenant_a's other filing
        "shanghai_program": ("outsider_filed",),
    }
    for name, key in keys.items():
        client = as_key(key)
        assert listed(client) == filed.ids(*expected[name]), name
        for submission_name in EVERY:
            submission = getattr(filed, submission_name)
            status = detail(client, submission).status_code
            assert status == (200 if submission_name in expected[name] else 404), (name, submission_name)
    body = detail(as_key(keys["program"]), filed.b_filed).json()
    assert body["program"] == "test_core_2026" and body["evidence"][0]["key"] == "annual_tce"


def test_an_api_key_needs_the_submissions_scope(filed) -> None:  # type: ignore[no-untyped-def]
    _client, key = api_client_with_key(reach_kind="enterprise", enterprise=filed.world.tenant_a,
                                       scopes=[ApiScope.PROGRAMS_READ])
    for url in ("/api/v1/submissions/", f"/api/v1/submissions/{filed.a_filed.pk}/",
                f"/api/v1/submissions/{filed.a_filed.pk}/pdf/",
                "/api/v1/programs/test_core_2026/summary-table/"):
        refused = as_key(key).get(url)
        assert refused.status_code == 403, url
        assert "submissions:read" in refused.json()["error"]["message"]


def test_the_api_only_reads(filed) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, "a_admin")
    for method in ("post", "put", "patch", "delete"):
        for url in (f"/api/v1/submissions/{filed.a_draft.pk}/", "/api/v1/programs/test_core_2026/"):
            assert getattr(client, method)(url, {}, format="json").status_code == 405, (method, url)
    with scopes_disabled():
        assert Submission.objects.get(pk=filed.a_draft.pk).data["summary"] == "还在填写"


# --- evidence stays as filed --------------------------------------------------------------------

def test_evidence_stays_as_filed_when_the_meter_data_changes(filed) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, "zhengzhou_reviewer")
    before = detail(client, filed.a_filed).json()["evidence"][0]
    assert before["value"] == "122.9"
    # April 2025: 500,000 kWh more for tenant_a (the consumption up to the reading at the end of April).
    ingest(filed.world.tenant_a.pk, "API-E-1", [(MAY - QUARTER, 1_500_000.0)])
    recompute_rollups()
    with scopes_disabled():
        submission = (Submission.objects.select_related("enterprise", "program_version")
                      .get(pk=filed.a_filed.pk))
        [now] = evidence_measure(submission.enterprise, submission_definition(submission),
                                 values={}, today=TODAY)
    assert now.value == Decimal("184.35")  # 1,500,000 kWh × 0.1229 kgce/kWh
    after = detail(client, filed.a_filed).json()["evidence"][0]
    assert after == before


# --- the file endpoints -------------------------------------------------------------------------

def _needs(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, (
        f"{module} is missing: this endpoint calls the documents part (pdf9); merge pdf9 first")


def test_the_pdf_of_a_submission_in_reach(filed) -> None:  # type: ignore[no-untyped-def]
    _needs("applications.documents.pdf")
    for accept in ("application/pdf", "*/*", "application/json"):
        response = as_role(filed.world, "zhengzhou_reviewer").get(
            f"/api/v1/submissions/{filed.a_filed.pk}/pdf/", HTTP_ACCEPT=accept)
        assert response.status_code == 200, (accept, response.content[:300])
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert response["Content-Disposition"] == f'attachment; filename="submission-{filed.a_filed.pk}.pdf"'


def test_the_pdf_out_of_reach_is_a_json_404_whatever_is_accepted(filed) -> None:  # type: ignore[no-untyped-def]
    client = as_role(filed.world, "luoyang_reviewer")
    for submission in (filed.a_filed, filed.a_draft):
        for accept in ("application/pdf", "*/*"):
            response = client.get(f"/api/v1/submissions/{submission.pk}/pdf/", HTTP_ACCEPT=accept)
            assert response.status_code == 404
            assert response["Content-Type"].startswith("application/json")
            assert response.json()["error"]["code"] == "not_found"
    missing = client.get("/api/v1/submissions/2147480000/pdf/", HTTP_ACCEPT="application/pdf")
    assert missing.status_code == 404 and missing.json() == response.json()


def _workbook_texts(content: bytes) -> set[str]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(content), read_only=True)
    return {str(value) for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True)
            for value in row if value is not None}


def test_the_summary_table_holds_the_filed_submissions_in_reach(filed) -> None:  # type: ignore[no-untyped-def]
    _needs("applications.documents.excel")
    url = "/api/v1/programs/test_core_2026/summary-table/"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    world = filed.world
    zhengzhou = as_role(world, "zhengzhou_reviewer").get(url, HTTP_ACCEPT=xlsx)
    assert zhengzhou.status_code == 200, zhengzhou.content[:300]
    assert zhengzhou["Content-Type"] == xlsx and zhengzhou.content.startswith(b"PK")
    assert "test_core_2026-summary-table.xlsx" in zhengzhou["Content-Disposition"]
    texts = _workbook_texts(zhengzhou.content)
    assert world.tenant_a.name in texts and world.tenant_b.name not in texts
    province = _workbook_texts(as_role(world, "henan_officer").get(url).content)
    assert {world.tenant_a.name, world.tenant_b.name} <= province
    # The program's own applicant reads a table of its own filing, never its draft's neighbours.
    own = _workbook_texts(as_role(world, "b_admin").get(url).content)
    assert world.tenant_b.name in own and world.tenant_a.name not in own
    # A Shanghai reviewer's table of a Henan program has no rows of Henan enterprises.
    assert world.tenant_a.name not in _workbook_texts(as_role(world, "xuhui_reviewer").get(url).content)
    key = api_client_with_key(reach_kind="program", program=filed.other)[1]
    assert world.tenant_a.name not in _workbook_texts(as_key(key).get(url).content)


def test_the_summary_table_of_an_unknown_program_is_a_json_404(filed) -> None:  # type: ignore[no-untyped-def]
    response = as_role(filed.world, "henan_officer").get(
        "/api/v1/programs/no_such_program/summary-table/",
        HTTP_ACCEPT="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_the_schema_documents_the_endpoints_and_the_binary_answers(db) -> None:  # type: ignore[no-untyped-def]
    document = APIClient().get("/api/v1/schema/?format=json").json()
    paths = document["paths"]
    assert {"/api/v1/programs/", "/api/v1/programs/{code}/", "/api/v1/programs/{code}/summary-table/",
            "/api/v1/submissions/", "/api/v1/submissions/{id}/",
            "/api/v1/submissions/{id}/pdf/"} <= set(paths)
    pdf = paths["/api/v1/submissions/{id}/pdf/"]["get"]["responses"]["200"]["content"]
    assert pdf == {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
    table = paths["/api/v1/programs/{code}/summary-table/"]["get"]["responses"]["200"]["content"]
    assert list(table) == ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    detail_schema = document["components"]["schemas"]["SubmissionDetail"]["properties"]
    assert LIST_FIELDS | {"data", "evidence"} <= set(detail_schema)
    assert EVIDENCE_FIELDS <= set(document["components"]["schemas"]["Evidence"]["properties"])
    parameters = {p["name"] for p in paths["/api/v1/submissions/"]["get"]["parameters"]}
    assert {"program", "state", "enterprise", "limit", "offset"} <= parameters
