"""Tests run scoped, as production does (tests/scoping.py), and the type checker reads every body."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from django_scopes import ScopeError

from metering.models import Meter
from portal.access import enterprise_scope, reach_scope
from portal.models import Enterprise
from tests.metering.registry_factories import meter_for
from tests.scoping import unscoped

ROOT = Path(__file__).resolve().parents[1]
SCOPE_SWITCHES = {"scopes_disabled", "unscoped", "scope", "enterprise_scope", "reach_scope"}


@pytest.mark.django_db
def test_a_test_body_has_no_tenant_scope_even_after_the_world_is_built(world) -> None:  # type: ignore[no-untyped-def]
    meter_for(world.tenant_a)
    with pytest.raises(ScopeError):
        Enterprise.objects.count()
    with pytest.raises(ScopeError):
        list(Meter.objects.all())


@pytest.mark.django_db
def test_opting_out_is_explicit_and_ends_with_its_block(world) -> None:  # type: ignore[no-untyped-def]
    meter_for(world.tenant_a)
    meter_for(world.outsider)
    with unscoped():
        assert Meter.objects.count() == 2
    with enterprise_scope(world.tenant_a.pk):
        assert [m.enterprise_id for m in Meter.objects.all()] == [world.tenant_a.pk]
    with reach_scope(world.user("outsider_admin")):
        assert [m.enterprise_id for m in Meter.objects.all()] == [world.outsider.pk]
    with pytest.raises(ScopeError):
        Meter.objects.count()


def _switches_scope(function: ast.FunctionDef) -> bool:
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in SCOPE_SWITCHES:
                return True
    return False


def _is_autouse_fixture(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Call) and any(
        keyword.arg == "autouse" and isinstance(keyword.value, ast.Constant) and keyword.value.value
        for keyword in decorator.keywords
    )


def test_no_autouse_fixture_switches_a_scope_for_every_test() -> None:
    """An autouse fixture that disables (or sets) scopes would run every test unlike production."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(_is_autouse_fixture(d) for d in node.decorator_list):
                if _switches_scope(node):
                    offenders.append(f"{path.relative_to(ROOT)}::{node.name}")
    assert not offenders, f"autouse fixtures that switch the tenant scope for every test: {offenders}"


def test_mypy_checks_the_bodies_of_untyped_functions_too() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert config["check_untyped_defs"] is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        pytest.param(lambda: Meter.objects.exists(), id="exists"),
        pytest.param(lambda: Meter.objects.in_bulk(), id="in_bulk"),
        pytest.param(lambda: Meter.objects.explain(), id="explain"),
        pytest.param(lambda: Meter.objects.contains(Meter(pk=1)), id="contains"),
        pytest.param(lambda: Meter.objects.bulk_update([], ["name"]), id="bulk_update"),
        pytest.param(lambda: Enterprise.objects.exists(), id="enterprise-exists"),
    ],
)
def test_no_read_method_looks_across_tenants_without_a_scope(world, query) -> None:  # type: ignore[no-untyped-def]
    # django-scopes leaves these open on its disabled queryset; portal.scoping closes them.
    meter_for(world.outsider)
    with pytest.raises(ScopeError):
        query()
    with enterprise_scope(world.tenant_a.pk):
        assert not Meter.objects.exists()  # in a scope they work, filtered to it
    with unscoped():
        assert Meter.objects.exists()
