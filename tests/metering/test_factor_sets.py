"""Factor sets as data: the shipped sets, the conversion to tce and CO₂, and the admin.

Every expected figure is computed by hand from DOMAIN.md's tables, written out beside it.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from metering.monitoring.factor_data import SHIPPED_FACTOR_SETS, load_shipped_factor_sets
from metering.monitoring.factor_sets import (
    AmbiguousFactorError,
    MissingFactorError,
    Quantity,
    UnusableFactorSetError,
    default_factor_sets,
    factor_set_create,
    factor_set_make_default,
    figures_for,
)
from metering.monitoring.models import Factor, FactorSet
from portal.models import AuditEntry
from tests.conftest import login
from tests.factories import region

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def shipped_sets_loaded_now() -> list[str]:
    # The data migration loads them; a transactional test flushes every table, so make sure
    # (idempotently) that they are there whatever ran before. pytest-django runs the transactional
    # tests after these, so normally this finds everything already loaded by the migration.
    return load_shipped_factor_sets(FactorSet, Factor)

MARCH_2024 = (date(2024, 3, 1), date(2024, 4, 1))
COMMON_TABLE = "GB/T 2589 折标准煤系数"
STATISTICAL_GRID = "电力二氧化碳排放因子（统计口径）"


def shipped(name: str) -> FactorSet:
    return FactorSet.objects.get(name=name)


def generation_set(**overrides: object) -> FactorSet:
    """An administrator's edition with electricity at 等价值 as well (0.3000 kgce/kWh, made up)."""
    fields: dict[str, object] = {
        "name": "GB/T 2589 with 等价值", "kind": FactorSet.Kind.STANDARD_COAL, "source": "test",
        "edition": "test edition 1",
        "factors": [
            {"energy_type": "electricity", "unit": "kWh", "basis": "calorific", "value": Decimal("0.1229")},
            {"energy_type": "electricity", "unit": "kWh", "basis": "generation", "value": Decimal("0.3000")},
            {"energy_type": "natural_gas", "unit": "m³", "basis": "calorific", "value": Decimal("1.2143")},
        ],
    }
    fields.update(overrides)
    return factor_set_create(**fields)  # type: ignore[arg-type]


# --- the shipped data ------------------------------------------------------------------------------


def test_shipped_sets_carry_source_edition_and_confidence():
    common = shipped(COMMON_TABLE)
    assert common.source.startswith("GB/T 2589")
    assert common.edition.startswith("通用折标系数表")
    assert common.locked and common.is_default
    electricity = common.factors.get(energy_type="electricity", basis="calorific")
    assert electricity.value == Decimal("0.1229") and electricity.unit == "kWh"
    gas = common.factors.get(energy_type="natural_gas", variant="")
    assert gas.value == Decimal("1.2143") and gas.uncertain  # DOMAIN.md gives a range
    assert common.factors.get(energy_type="natural_gas", variant="oil_field").value == Decimal("1.3300")
    # Appendix B media: "older edition; verify before relying".
    assert common.factors.get(energy_type="water").confidence == "unverified"
    assert not common.factors.filter(basis="generation").exists()  # "varies by year": not shipped

    market = FactorSet.objects.get(name="全国电网平均排放因子（碳市场）")
    assert market.source == "生态环境部 环办气候函〔2023〕43号"
    assert market.factors.get().value == Decimal("0.5703")
    grid = shipped(STATISTICAL_GRID)
    assert grid.factors.get(year=2022, region_code="410000").value == Decimal("0.6058")
    assert grid.factors.get(year=2021, region_code="310000").value == Decimal("0.5834")
    assert grid.factors.get(year=2021, region_code="").value == Decimal("0.5568")
    assert {s.name for s in default_factor_sets()} == {
        COMMON_TABLE, STATISTICAL_GRID, "化石燃料燃烧排放因子（行业指南缺省值）", "购入热力排放因子"}


def test_natural_gas_emission_factor_is_the_guideline_formula():
    gas = Factor.objects.get(factor_set__kind="fuel_co2", energy_type="natural_gas")
    # 389.31 GJ/10⁴Nm³ × 0.0153 tC/GJ × 0.99 × 44/12 = 21.6217... tCO₂/10⁴Nm³ → 2.162 kgCO₂/m³.
    expected = Decimal("389.31") * Decimal("0.0153") * Decimal("0.99") * 44 * 1000 / 12
    assert gas.per_unit() == expected
    assert round(gas.per_unit() / 10000, 3) == Decimal("2.162")


def test_shipped_data_loads_idempotently(shipped_sets_loaded_now):
    assert shipped_sets_loaded_now == []  # the data migration had loaded every set
    counts = (FactorSet.objects.count(), Factor.objects.count())
    assert counts[0] == len(SHIPPED_FACTOR_SETS)
    assert load_shipped_factor_sets(FactorSet, Factor) == []
    out = io.StringIO()
    call_command("load_factor_sets", stdout=out)
    assert out.getvalue().startswith("0 factor set(s) created")
    assert (FactorSet.objects.count(), Factor.objects.count()) == counts

    # After a flush of the set, the command brings it back exactly, audited like any write.
    FactorSet.objects.filter(name=COMMON_TABLE).delete()
    out = io.StringIO()
    call_command("load_factor_sets", stdout=out)
    assert f"created {COMMON_TABLE}" in out.getvalue()
    assert (FactorSet.objects.count(), Factor.objects.count()) == counts
    reloaded = shipped(COMMON_TABLE)
    assert reloaded.locked and reloaded.is_default
    assert AuditEntry.objects.filter(object_type="monitoring.FactorSet", object_id=str(reloaded.pk),
                                     action="create").exists()
    assert AuditEntry.objects.filter(object_type="monitoring.Factor", action="create").count() == \
        reloaded.factors.count()


# --- the conversion --------------------------------------------------------------------------------


def test_electricity_and_gas_field_gas_give_the_hand_computed_tce():
    figures = figures_for(
        [Quantity("electricity", Decimal(1_000_000), "kWh"), Quantity("natural_gas", Decimal(10_000), "m³")],
        period=MARCH_2024, region=region("410105"),
    )
    # 1,000,000 kWh × 0.1229 kgce/kWh = 122.9 tce; 10,000 m³ × 1.2143 kgce/m³ = 12.143 tce.
    electricity, gas = figures.lines
    assert electricity.tce == Decimal("122.9")
    assert gas.tce == Decimal("12.143")
    assert figures.total_tce == Decimal("135.043")
    assert figures.total_tce_generation is None  # the shipped set has no 等价值
    assert electricity.tce_generation is None
    assert figures.factor_sets[0] == shipped(COMMON_TABLE).label
    by_energy_type = figures_for({"electricity": (Decimal(1_000_000), "kWh"), "natural_gas": (10_000, "m³")},
                                 period=MARCH_2024, region=region("410105"))
    assert by_energy_type.total_tce == Decimal("135.043")


def test_co2_is_split_into_scopes_and_every_set_used_is_named():
    figures = figures_for(
        [Quantity("electricity", Decimal(1_000_000), "kWh"), Quantity("natural_gas", Decimal(10_000), "m³"),
         Quantity("heat", Decimal(500), "GJ"), Quantity("water", Decimal(100), "t")],
        period=MARCH_2024, region=region("410105"),
    )
    electricity, gas, heat, water = figures.lines
    # Henan 2022 (the latest published before 2024): 1,000,000 kWh × 0.6058 kg/kWh = 605.8 t.
    assert electricity.co2_t == Decimal("605.8") and electricity.scope == 2
    assert electricity.factors[-1].year == 2022 and electricity.factors[-1].region_code == "410000"
    # Natural gas: 1 × 10⁴ m³ × 389.31 × 0.0153 × 0.99 × 44/12 t = 21.6217... t, scope 1.
    gas_co2 = Decimal("389.31") * Decimal("0.0153") * Decimal("0.99") * 44 / 12
    assert abs(gas.co2_t - gas_co2) < Decimal("1e-20") and gas.scope == 1
    # Purchased heat: 500 GJ × 0.11 t/GJ = 55 t, scope 2.
    assert heat.co2_t == Decimal("55") and heat.scope == 2
    assert water.co2_t is None and water.tce == Decimal("0.00857")  # 100 t × 0.0857 kgce/t
    assert figures.co2_t_by_scope["1"] == gas.co2_t
    assert figures.co2_t_by_scope["2"] == Decimal("660.8")
    assert figures.co2_t == gas.co2_t + Decimal("660.8")
    assert set(figures.factor_sets) == {s.label for s in default_factor_sets()}
    assert "GB/T 2589 折标准煤系数（通用折标系数表" in figures.factor_sets[0]


def test_grid_factor_follows_region_and_year():
    june_2021 = (date(2021, 6, 1), date(2021, 7, 1))
    kwh = [Quantity("electricity", Decimal(1000), "kWh")]
    national = figures_for(kwh, period=june_2021, region=None)
    assert national.lines[0].co2_t == Decimal("0.5568")  # national 2021: 1000 kWh × 0.5568 kg
    assert national.lines[0].factors[-1].region_code == ""
    # A Xuhui district enterprise takes Shanghai's own 2021 factor.
    shanghai = figures_for(kwh, period=june_2021, region=region("310104"))
    assert shanghai.lines[0].co2_t == Decimal("0.5834")


def test_generation_basis_is_reported_beside_calorific_when_configured():
    standard = generation_set()
    sets = [standard, shipped(STATISTICAL_GRID), FactorSet.objects.get(kind="fuel_co2")]
    figures = figures_for(
        [Quantity("electricity", Decimal(1_000_000), "kWh"), Quantity("natural_gas", Decimal(10_000), "m³")],
        factor_sets=sets, period=MARCH_2024,
    )
    electricity = figures.lines[0]
    assert electricity.tce == Decimal("122.9")  # 当量值
    assert electricity.tce_generation == Decimal("300")  # 等价值: 1,000,000 × 0.3000 / 1000
    assert figures.total_tce == Decimal("135.043")
    assert figures.total_tce_generation == Decimal("312.143")  # 300 + gas at 当量值 12.143
    assert standard.label in figures.factor_sets
    assert shipped(COMMON_TABLE).label not in figures.factor_sets


def test_a_missing_factor_is_an_error_naming_energy_type_and_unit():
    with pytest.raises(MissingFactorError, match=r"steam in t"):
        figures_for([Quantity("steam", Decimal(10), "t")], period=MARCH_2024)
    with pytest.raises(MissingFactorError, match=r"natural_gas in kWh.*per m³"):
        figures_for([Quantity("natural_gas", Decimal(10), "kWh")], period=MARCH_2024)
    # Raw coal has tce per kg, but CO₂ only per kind of coal: no silent default.
    with pytest.raises(MissingFactorError, match=r"co2 factor for raw_coal in t.*bituminous"):
        figures_for([Quantity("raw_coal", Decimal(10), "t")], period=MARCH_2024)
    coal = figures_for([Quantity("raw_coal", Decimal(10), "t", variant="bituminous")], period=MARCH_2024)
    assert coal.lines[0].tce == Decimal("7.143")  # 10,000 kg × 0.7143 kgce/kg
    # A grid factor for a year before any published one does not exist.
    with pytest.raises(MissingFactorError, match=r"electricity in kWh.*2019"):
        figures_for([Quantity("electricity", Decimal(1), "kWh")], period=(date(2019, 1, 1), date(2019, 2, 1)))


def test_sets_must_be_locked_valid_and_unambiguous():
    draft = generation_set(locked=False)
    with pytest.raises(UnusableFactorSetError, match="not locked"):
        figures_for([Quantity("electricity", Decimal(1), "kWh")], factor_sets=[draft], period=MARCH_2024)
    later = generation_set(edition="test edition 2", valid_from=date(2025, 1, 1))
    with pytest.raises(UnusableFactorSetError, match="does not apply"):
        figures_for([Quantity("electricity", Decimal(1), "kWh")], factor_sets=[later], period=MARCH_2024)
    with pytest.raises(AmbiguousFactorError, match="several calorific factors"):
        figures_for([Quantity("electricity", Decimal(1), "kWh")], period=(date(2025, 3, 1), date(2025, 4, 1)),
                    factor_sets=[later, shipped(COMMON_TABLE)])


def test_a_locked_set_cannot_be_changed():
    common = shipped(COMMON_TABLE)
    common.notes = "changed"
    with pytest.raises(ValidationError, match="已锁定"):
        common.full_clean()
    factor = common.factors.get(energy_type="electricity")
    factor.value = Decimal("0.2")
    with pytest.raises(ValidationError, match="已锁定"):
        factor.full_clean()
    common.refresh_from_db()
    common.is_default = False  # which set is the default is not part of the published data
    common.full_clean()


# --- the admin -------------------------------------------------------------------------------------


def add_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "上海市电网排放因子", "kind": "grid_co2", "source": "上海市生态环境局",
        "edition": "2025 试行",
        "confidence": "medium", "notes": "", "valid_from": "", "valid_to": "",
        "factors-TOTAL_FORMS": "1", "factors-INITIAL_FORMS": "0", "factors-MIN_NUM_FORMS": "0",
        "factors-MAX_NUM_FORMS": "1000",
        "factors-0-energy_type": "electricity", "factors-0-variant": "", "factors-0-unit": "kWh",
        "factors-0-basis": "co2", "factors-0-value": "0.42", "factors-0-scope": "2", "factors-0-year": "2024",
        "factors-0-region_code": "310000", "factors-0-confidence": "", "factors-0-note": "",
    }
    data.update(overrides)
    return data


def test_platform_admin_adds_a_set_in_the_admin(client, world):
    login(client, world.user("platform_admin"))
    url = reverse("admin:monitoring_factorset_add")
    assert client.get(url).status_code == 200
    response = client.post(url, add_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    added = FactorSet.objects.get(name="上海市电网排放因子")
    assert not added.locked
    assert added.factors.get().value == Decimal("0.42")
    assert AuditEntry.objects.filter(object_type="monitoring.FactorSet", object_id=str(added.pk),
                                     actor=world.user("platform_admin")).exists()
    # Locked through the admin action, it is usable and no longer changeable.
    changelist = reverse("admin:monitoring_factorset_changelist")
    client.post(changelist, {"action": "lock_selected", "_selected_action": [added.pk]})
    added.refresh_from_db()
    assert added.locked
    change = reverse("admin:monitoring_factorset_change", args=[added.pk])
    response = client.post(change, add_form(name="改名"))
    assert response.status_code == 403
    added.refresh_from_db()
    assert added.name == "上海市电网排放因子"


def test_platform_admin_makes_another_locked_set_the_default(client, world):
    market = FactorSet.objects.get(name="全国电网平均排放因子（碳市场）")
    kwh = [Quantity("electricity", Decimal(1000), "kWh")]
    assert figures_for(kwh, period=MARCH_2024).lines[0].co2_t == Decimal("0.5366")  # statistical, 2022
    changelist = reverse("admin:monitoring_factorset_changelist")
    login(client, world.user("henan_officer"))
    client.post(changelist, {"action": "make_default", "_selected_action": [market.pk]})
    assert shipped(STATISTICAL_GRID).is_default
    login(client, world.user("platform_admin"))
    response = client.post(changelist, {"action": "make_default", "_selected_action": [market.pk]})
    assert response.status_code == 302
    market.refresh_from_db()
    assert market.is_default and market.locked
    assert not shipped(STATISTICAL_GRID).is_default
    figures = figures_for(kwh, period=MARCH_2024)
    assert figures.lines[0].co2_t == Decimal("0.5703")
    assert market.label in figures.factor_sets
    # Both changes of the default are in the audit trail (one by audited_update).
    assert AuditEntry.objects.filter(object_type="monitoring.FactorSet", action="update",
                                     actor=world.user("platform_admin")).count() == 2


def test_a_draft_set_cannot_be_the_default():
    with pytest.raises(UnusableFactorSetError, match="尚未锁定"):
        factor_set_make_default(factor_set=generation_set(locked=False))


@pytest.mark.parametrize("role_key", ["henan_officer", "zhengzhou_reviewer"])
def test_officials_view_factor_sets_but_cannot_add_or_change(client, world, role_key):
    login(client, world.user(role_key))
    changelist = reverse("admin:monitoring_factorset_changelist")
    response = client.get(changelist)
    assert response.status_code == 200
    assert COMMON_TABLE in response.content.decode()
    assert client.get(reverse("admin:monitoring_factorset_add")).status_code == 403
    assert client.post(reverse("admin:monitoring_factorset_add"), add_form()).status_code == 403
    assert not FactorSet.objects.filter(name="上海市电网排放因子").exists()
    common = shipped(COMMON_TABLE)
    change = reverse("admin:monitoring_factorset_change", args=[common.pk])
    assert client.get(change).status_code == 200  # view only
    assert client.post(change, add_form(name="改名")).status_code == 403
    common.refresh_from_db()
    assert common.name == COMMON_TABLE


@pytest.mark.parametrize("role_key", ["a_admin", "expert"])
def test_enterprise_users_and_experts_have_no_factor_set_admin(client, world, role_key):
    login(client, world.user(role_key))
    response = client.get(reverse("admin:monitoring_factorset_changelist"))
    assert response.status_code in (302, 403)
