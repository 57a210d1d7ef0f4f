"""`manage.py seed_demo`: idempotent, and every demo account reaches what the README promises."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from applications.models import Evidence, Program, Submission, SubmissionState
from portal.access import reach_for
from portal.credit_code import credit_code_problem
from portal.demo import DEMO_ENTERPRISES, DEMO_USERS, seed_organizations
from portal.models import AuditEntry, Authority, Enterprise, Role, User
from tests.scoping import unscoped

NAMES = {entry.key: entry.name for entry in DEMO_ENTERPRISES}
ZHENGZHOU = {NAMES["zhengzhou"], NAMES["zhengzhou_pending"]}
LUOYANG = {NAMES["luoyang"]}
MINHANG = {NAMES["shanghai"], NAMES["park"], NAMES["park_member_materials"], NAMES["park_member_datacenter"]}

# username -> (role, organization name, names of the enterprises in reach; None = everything)
EXPECTED: dict[str, tuple[str, str | None, set[str] | None]] = {
    "demo_enterprise": (Role.ENTERPRISE_ADMIN, NAMES["zhengzhou"], {NAMES["zhengzhou"]}),
    "demo_enterprise_b": (Role.ENTERPRISE_ADMIN, NAMES["luoyang"], {NAMES["luoyang"]}),
    "demo_shanghai": (Role.ENTERPRISE_ADMIN, NAMES["shanghai"], {NAMES["shanghai"]}),
    "demo_park": (Role.ENTERPRISE_ADMIN, NAMES["park"],
                  {NAMES["park"], NAMES["park_member_materials"], NAMES["park_member_datacenter"]}),
    "demo_city": (Role.MUNICIPAL_REVIEWER, "郑州市工业和信息化局", ZHENGZHOU),
    "demo_district": (Role.MUNICIPAL_REVIEWER, "闵行区经济委员会", MINHANG),
    "demo_province": (Role.PROVINCIAL_OFFICER, "河南省工业和信息化厅", ZHENGZHOU | LUOYANG),
    "demo_sh_commission": (Role.PROVINCIAL_OFFICER, "上海市经济和信息化委员会", MINHANG),
    "demo_expert": (Role.EXPERT, "上海市节能能效评审中心", set()),
    "demo_admin": (Role.PLATFORM_ADMIN, None, None),
}


def _run_seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _logs_in(client, username: str) -> bool:  # type: ignore[no-untyped-def]
    # Through the login form: the lockout backend (axes) needs the request.
    client.post(reverse("portal:login"), {"username": username, "password": settings.DEMO_PASSWORD})
    return client.session.get("_auth_user_id") == str(User.objects.get(username=username).pk)


def _core_counts() -> dict[str, int]:
    core_models = [
        model for app in ("portal", "applications") for model in apps.get_app_config(app).get_models()
    ]
    counts = {model._meta.label: model._base_manager.count() for model in core_models}
    counts["authority programs"] = Authority.programs.through.objects.count()
    return counts


@pytest.fixture
def seeded(db) -> str:  # type: ignore[no-untyped-def]
    return _run_seed()


@pytest.fixture
def seeded_core(db) -> None:  # type: ignore[no-untyped-def]
    # The organizations and accounts only (what reach depends on); the full command, with the
    # metering demo and its week of readings, is exercised by the tests that use `seeded`.
    seed_organizations()


def test_seed_is_idempotent(seeded):
    before = _core_counts()
    audit_rows = AuditEntry.objects.exclude(object_type__startswith="metering.").count()
    _run_seed()
    assert _core_counts() == before
    # Nothing to repair means nothing written, so no new audit rows from the core either.
    assert AuditEntry.objects.exclude(object_type__startswith="metering.").count() == audit_rows
    assert before["portal.Enterprise"] == len(DEMO_ENTERPRISES)
    programs = ["henan_dcmc_2023", "shanghai_emc_2024", "henan_contest_2025"]
    assert Program.objects.filter(code__in=programs).count() == 3


def test_demo_applications_are_filed_with_measured_evidence(seeded):
    """Each demo application is filled throughout and filed: the Shanghai ones meet 二.5 and 二.6
    from the demo meters' history, and one of the Luoyang figures is typed off its measurement."""
    with unscoped():
        filed = {(s.enterprise.name, s.program.code, s.track or s.variant): s
                 for s in Submission.objects.select_related("enterprise", "program")}
        assert set(filed) == {
            (NAMES["zhengzhou"], "henan_dcmc_2023", ""), (NAMES["luoyang"], "henan_dcmc_2023", ""),
            (NAMES["zhengzhou"], "henan_contest_2025", "energy_saving"),
            (NAMES["shanghai"], "shanghai_emc_2024", "enterprise"),
            (NAMES["park"], "shanghai_emc_2024", "park")}
        for submission in filed.values():
            assert submission.state == SubmissionState.SUBMITTED, submission
            assert submission.filings.count() == 1
        shanghai_filing = filed[(NAMES["shanghai"], "shanghai_emc_2024", "enterprise")]
        shanghai = {row.key: row for row in shanghai_filing.evidence.all()}
        assert shanghai["annual_tce"].value >= 2000 and shanghai["stable_months"].value >= 6
        assert shanghai["access_rate_1"].value == 100
        henan = filed[(NAMES["zhengzhou"], "henan_dcmc_2023", "")]
        assert henan.attachment_files.filter(kind="photos").count() >= 10
        flagged = Evidence.objects.filter(flagged=True).values_list("submission__enterprise__name", "key")
        assert list(flagged) == [(NAMES["luoyang"], "energy_after")]


def test_demo_accounts_have_their_role_organization_and_password(seeded, client):
    assert set(EXPECTED) == {spec.username for spec in DEMO_USERS}
    for username, (role, organization, _reach) in EXPECTED.items():
        user = User.objects.get(username=username)
        assert user.role == role, username
        assert str(user.organization) == organization if organization else user.organization is None, username
        assert user.is_active
        assert user.is_staff == (role not in (Role.ENTERPRISE_ADMIN, Role.ENTERPRISE_STAFF)), username
        assert not user.is_superuser
        assert _logs_in(client, username), username
        client.logout()
        assert username in seeded  # printed in the accounts table
    assert settings.DEMO_PASSWORD in seeded
    assert "初审人员" in seeded  # roles are printed with their Chinese labels


def test_demo_account_reach_is_what_the_readme_promises(seeded_core):
    with unscoped():  # what the seed made, across tenants
        for username, (_role, _organization, expected) in EXPECTED.items():
            reach = reach_for(User.objects.get(username=username))
            if expected is None:
                assert reach.everything, username
                continue
            assert not reach.everything, username
            seen = set(Enterprise.objects.filter(pk__in=reach.visible_ids).values_list("name", flat=True))
            assert seen == expected, username
        # Enterprise users change only their own enterprise, even a park's users.
        park_reach = reach_for(User.objects.get(username="demo_park"))
        changeable = Enterprise.objects.filter(pk__in=park_reach.changeable_ids)
        assert set(changeable.values_list("name", flat=True)) == {NAMES["park"]}


def test_demo_organizations(seeded_core):
    with unscoped():  # what the seed made, across tenants
        for entry in DEMO_ENTERPRISES:
            enterprise = Enterprise.objects.get(name=entry.name)
            assert credit_code_problem(enterprise.credit_code) is None
            assert enterprise.region.code == entry.region
            assert enterprise.kind == entry.kind
            assert enterprise.is_approved == entry.approved, entry.name
        park = Enterprise.objects.get(name=NAMES["park"])
        assert park.kind == Enterprise.Kind.PARK
        assert set(park.members.values_list("name", flat=True)) == {NAMES["park_member_materials"],
                                                                    NAMES["park_member_datacenter"]}
        pending = Enterprise.objects.get(name=NAMES["zhengzhou_pending"])
        assert pending.status == Enterprise.Status.PENDING
        city = Authority.objects.get(name="郑州市工业和信息化局")
        assert (city.region.code, city.level) == ("410100", Authority.Level.MUNICIPAL)
        assert set(city.programs.values_list("code", flat=True)) == {"henan_dcmc_2023", "henan_contest_2025"}
        district = Authority.objects.get(name="闵行区经济委员会")
        assert (district.region.code, district.level) == ("310112", Authority.Level.DISTRICT)
        assert set(district.programs.values_list("code", flat=True)) == {"shanghai_emc_2024"}
        province = Authority.objects.get(name="河南省工业和信息化厅")
        assert (province.region.code, province.level) == ("410000", Authority.Level.PROVINCIAL)


def test_rerun_repairs_accounts_and_keeps_decisions(seeded_core, client):
    city = User.objects.get(username="demo_city")
    city.set_password("something-else-entirely")
    city.is_active = False
    city.save()
    with unscoped():
        pending = Enterprise.objects.get(name=NAMES["zhengzhou_pending"])
    pending.status = Enterprise.Status.APPROVED  # a demo visitor approved it
    pending.save()
    seed_organizations()
    city.refresh_from_db()
    assert city.is_active
    assert _logs_in(client, "demo_city")
    pending.refresh_from_db()
    assert pending.status == Enterprise.Status.APPROVED
