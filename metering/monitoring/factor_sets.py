"""Factor sets: the services that write them, the selectors that pick them, and the conversion of
energy quantities into tce and CO₂ with them (`figures_for`).

Every figure names the sets (name and edition) it was computed with, and every factor it used
(its value, year and region), so a number on a report can always be traced to its source. A
missing factor is an error naming the energy type and unit, never a zero: a total that silently
left out an energy would be wrong while looking right.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from metering.models import EnergyType
from metering.monitoring.models import Factor, FactorSet
from portal import audit
from portal.models import Region

KG_PER_T = Decimal(1000)

# Units that name the same dimension at another scale, as the registry stores them ("m³") and as
# the sources state their factors ("10⁴m³", "t", "GJ"). A quantity is converted to its factor's
# unit exactly (Decimal). Metered gas volumes are taken as standard cubic metres (Nm³), which is
# what the guidelines' heating values refer to and what corrected gas meters report.
UNIT_SCALES: dict[str, tuple[str, Decimal]] = {
    "kWh": ("kWh", Decimal(1)),
    "MWh": ("kWh", Decimal(1000)),
    "kg": ("kg", Decimal(1)),
    "t": ("kg", Decimal(1000)),
    "m³": ("m³", Decimal(1)),
    "m3": ("m³", Decimal(1)),
    "Nm³": ("m³", Decimal(1)),
    "10⁴m³": ("m³", Decimal(10000)),
    "万m³": ("m³", Decimal(10000)),
    "MJ": ("MJ", Decimal(1)),
    "GJ": ("MJ", Decimal(1000)),
}

# Energy-carrying media (耗能工质) count towards tce, but their CO₂ is that of the electricity or
# fuel that made them, counted where that was used: they have no emission factor of their own.
NO_OWN_EMISSIONS = frozenset({EnergyType.WATER, EnergyType.COMPRESSED_AIR, EnergyType.OXYGEN,
                              EnergyType.NITROGEN})


class FactorError(Exception):
    """A figure cannot be computed with the factor sets given."""


class MissingFactorError(FactorError):
    def __init__(self, *, energy_type: str, unit: str, basis: str, variant: str = "", why: str = "",
                 factor_sets: Sequence[FactorSet] = ()) -> None:
        self.energy_type, self.unit, self.basis, self.variant = energy_type, unit, basis, variant
        what = f"{energy_type}" + (f" ({variant})" if variant else "") + f" in {unit}"
        sets = "; ".join(s.label for s in factor_sets) or "-"
        reason = f": {why}" if why else ""
        super().__init__(f"no {basis} factor for {what} in the factor sets [{sets}]{reason}")


class AmbiguousFactorError(FactorError):
    pass


class UnusableFactorSetError(FactorError):
    pass


# --- services -----------------------------------------------------------------------------------


@transaction.atomic
def factor_set_create(*, name: str, kind: str, source: str, edition: str,
                      factors: Iterable[Mapping[str, Any]], valid_from: date | None = None,
                      valid_to: date | None = None, confidence: str = "",
                      notes: str = "", is_default: bool = False, locked: bool = True) -> FactorSet:
    """Create a set with its factors; locked (usable, immutable) unless asked otherwise."""
    factor_set = FactorSet(name=name, kind=kind, source=source, edition=edition, valid_from=valid_from,
                           valid_to=valid_to, notes=notes, is_default=is_default, locked=False)
    if confidence:
        factor_set.confidence = confidence
    factor_set.full_clean()
    factor_set.save()
    for row in factors:
        factor = Factor(factor_set=factor_set, **row)
        factor.full_clean()
        factor.save()
    if locked:
        factor_set_lock(factor_set=factor_set)
    return factor_set


@transaction.atomic
def factor_set_lock(*, factor_set: FactorSet) -> FactorSet:
    """Lock a set: from now on it can be computed with and never changed."""
    factor_set.full_clean()
    if not factor_set.factors.exists():
        raise UnusableFactorSetError(_("系数集“%(set)s”没有系数，不能锁定。") % {"set": factor_set.label})
    factor_set.locked = True
    factor_set.save(update_fields=["locked"])
    return factor_set


@transaction.atomic
def factor_set_make_default(*, factor_set: FactorSet) -> FactorSet:
    """Make a locked set the one used for its kind when none is named (the previous one stops being)."""
    if not factor_set.locked:
        raise UnusableFactorSetError(
            _("系数集“%(set)s”尚未锁定，不能设为默认。") % {"set": factor_set.label})
    previous = FactorSet.objects.filter(kind=factor_set.kind, is_default=True).exclude(pk=factor_set.pk)
    audit.audited_update(previous, is_default=False)
    factor_set.is_default = True
    factor_set.full_clean()
    factor_set.save(update_fields=["is_default"])
    return factor_set


# --- selectors ----------------------------------------------------------------------------------


def default_factor_sets() -> list[FactorSet]:
    """The sets figures use when none are named: the default set of each kind."""
    return list(FactorSet.objects.filter(is_default=True, locked=True).order_by("kind"))


# --- conversion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quantity:
    """An amount of one energy type in a unit as the registry stores it ("kWh", "m³", "t")."""

    energy_type: str
    amount: Decimal
    unit: str
    variant: str = ""


@dataclass(frozen=True)
class FactorUse:
    """Which factor a figure used: its set, basis, value per unit, and the year and region it is for."""

    factor_set: str
    basis: str
    per_unit: Decimal
    unit: str
    year: int | None
    region_code: str


@dataclass(frozen=True)
class FigureLine:
    energy_type: str
    variant: str
    quantity: Decimal
    unit: str
    tce: Decimal  # 当量值
    tce_generation: Decimal | None  # 等价值, where the sets have it (electricity)
    co2_t: Decimal | None  # None: the energy has no emissions of its own (media)
    scope: int | None
    factors: tuple[FactorUse, ...]


@dataclass(frozen=True)
class Figures:
    lines: tuple[FigureLine, ...]
    total_tce: Decimal  # 当量值 basis throughout
    # 等价值 basis: electricity at its 等价值 factor, everything else at 当量值; None when no
    # 等价值 factor was configured for anything given.
    total_tce_generation: Decimal | None
    co2_t_by_scope: dict[str, Decimal] = field(default_factory=dict)  # keys "1" and "2"
    factor_sets: tuple[str, ...] = ()  # name and edition of every set a figure used

    @property
    def co2_t(self) -> Decimal:
        return sum(self.co2_t_by_scope.values(), Decimal(0))


def _scale(unit: str) -> tuple[str, Decimal]:
    return UNIT_SCALES.get(unit, (unit, Decimal(1)))


def _region_codes(region: Region | None) -> list[str]:
    """From the most specific code to the nation (""): '/410000/410100/' → 410100, 410000, ''."""
    codes = [code for code in (region.path.split("/") if region is not None else []) if code]
    return [*reversed(codes), ""]


def factor_rows(factor_sets: Sequence[FactorSet]) -> list[Factor]:
    """Every factor of the sets, as `figures_for` searches them: read once by a caller that converts
    many periods with the same sets (`figures_for(..., factors=...)`)."""
    return list(Factor.objects.filter(factor_set__in=list(factor_sets)).select_related("factor_set"))


class _Lookup:
    def __init__(self, factor_sets: Sequence[FactorSet], *, year: int, region: Region | None,
                 factors: Sequence[Factor] | None = None) -> None:
        self.factor_sets = factor_sets
        self.year = year
        self.region_codes = _region_codes(region)
        self.factors = list(factors) if factors is not None else factor_rows(factor_sets)

    def find(self, quantity: Quantity, basis: str, *, required: bool = True) -> Factor | None:
        def missing(why: str) -> Factor | None:
            if not required:
                return None
            raise MissingFactorError(energy_type=quantity.energy_type, unit=quantity.unit, basis=basis,
                                     variant=quantity.variant, why=why, factor_sets=self.factor_sets)

        base = _scale(quantity.unit)[0]
        rows = [f for f in self.factors if f.energy_type == quantity.energy_type and f.basis == basis]
        if not rows:
            return missing("")
        same_dimension = [f for f in rows if _scale(f.unit)[0] == base]
        if not same_dimension:
            return missing("factors are given per " + ", ".join(sorted({f.unit for f in rows})))
        rows = [f for f in same_dimension if f.variant == quantity.variant] or [
            f for f in same_dimension if f.variant == ""]
        if not rows:
            return missing("only for " + ", ".join(sorted({f.variant for f in same_dimension})))
        ranked = [f for f in rows if f.region_code in self.region_codes]
        if not ranked:
            return missing("no row for this region or the nation")
        best_region = min(self.region_codes.index(f.region_code) for f in ranked)
        rows = [f for f in ranked if self.region_codes.index(f.region_code) == best_region]
        # A year's factor is published a year or two later: the period's own year where there is
        # one, else the latest before it (the figure names the year used). Never a later year.
        dated = [f for f in rows if f.year is not None and f.year <= self.year]
        if dated:
            latest = max(f.year for f in dated if f.year is not None)
            rows = [f for f in dated if f.year == latest]
        else:
            rows = [f for f in rows if f.year is None]
            if not rows:
                return missing(f"no factor for {self.year} or earlier")
        if len(rows) > 1:
            exact = [f for f in rows if f.unit == quantity.unit]
            if len({f.factor_set_id for f in rows}) > 1 or len(exact) != 1:
                raise AmbiguousFactorError(
                    f"several {basis} factors for {quantity.energy_type} in {quantity.unit}: "
                    + "; ".join(f"{f.factor_set.label} /{f.unit}" for f in rows)
                    + ": name one set of each kind")
            rows = exact
        return rows[0]


def _amount_in(quantity: Quantity, factor: Factor) -> Decimal:
    return quantity.amount * _scale(quantity.unit)[1] / _scale(factor.unit)[1]


def _use(factor: Factor) -> FactorUse:
    return FactorUse(factor_set=factor.factor_set.label, basis=factor.basis, per_unit=factor.per_unit(),
                     unit=factor.unit, year=factor.year, region_code=factor.region_code)


def _check_usable(factor_sets: Sequence[FactorSet], start: date, last_day: date) -> None:
    for factor_set in factor_sets:
        if not factor_set.locked:
            raise UnusableFactorSetError(
                f"factor set {factor_set.label} is not locked: lock it before computing with it")
        if (factor_set.valid_from and start < factor_set.valid_from) or (
                factor_set.valid_to and last_day > factor_set.valid_to):
            raise UnusableFactorSetError(
                f"factor set {factor_set.label} does not apply to {start}–{last_day}")


def figures_for(quantities: Iterable[Quantity] | Mapping[str, tuple[Decimal, str]], *,
                period: tuple[date, date], factor_sets: Sequence[FactorSet] | None = None,
                region: Region | None = None, factors: Sequence[Factor] | None = None) -> Figures:
    """tce (当量值, and 等价值 where configured) and CO₂ by scope for the quantities used in `period`
    ([start, end), within one calendar year, since grid factors are annual), in `region` (grid
    factors by province; None: national). `factor_sets`: the sets to use, at most one providing
    each factor; None: the default set of each kind. `quantities`: `Quantity` rows, or a mapping
    energy type → (amount, unit). `factors`: `factor_rows(factor_sets)`, when the caller has read
    them already (they are read here otherwise)."""
    if isinstance(quantities, Mapping):
        quantities = [Quantity(energy_type, amount, unit)
                      for energy_type, (amount, unit) in quantities.items()]
    start, end = period
    last_day = end - timedelta(days=1)
    if last_day < start:
        raise ValueError("the period is empty")
    if last_day.year != start.year:
        raise ValueError("the period spans more than one calendar year: split it by year")
    sets = list(factor_sets) if factor_sets is not None else default_factor_sets()
    _check_usable(sets, start, last_day)
    lookup = _Lookup(sets, year=start.year, region=region, factors=factors)
    lines: list[FigureLine] = []
    used: dict[str, None] = {}  # insertion-ordered set of labels
    by_scope = {"1": Decimal(0), "2": Decimal(0)}
    total_tce = Decimal(0)
    total_generation = Decimal(0)
    any_generation = False
    for quantity in quantities:
        # A float amount is taken by its shortest repr (0.1 → 0.1), not its binary expansion.
        raw = quantity.amount
        amount = Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw)
        quantity = Quantity(quantity.energy_type, amount, quantity.unit, quantity.variant)
        calorific = lookup.find(quantity, Factor.Basis.CALORIFIC)
        assert calorific is not None
        factors = [calorific]
        tce = _amount_in(quantity, calorific) * calorific.per_unit() / KG_PER_T
        generation = lookup.find(quantity, Factor.Basis.GENERATION, required=False)
        tce_generation = None
        if generation is not None:
            factors.append(generation)
            tce_generation = _amount_in(quantity, generation) * generation.per_unit() / KG_PER_T
            any_generation = True
        co2_t = scope = None
        if quantity.energy_type not in NO_OWN_EMISSIONS:
            emission = lookup.find(quantity, Factor.Basis.CO2)
            assert emission is not None and emission.scope is not None
            factors.append(emission)
            co2_t = _amount_in(quantity, emission) * emission.per_unit() / KG_PER_T
            scope = emission.scope
            by_scope[str(scope)] += co2_t
        total_tce += tce
        total_generation += tce_generation if tce_generation is not None else tce
        for factor in factors:
            used[factor.factor_set.label] = None
        lines.append(FigureLine(energy_type=quantity.energy_type, variant=quantity.variant,
                                quantity=quantity.amount, unit=quantity.unit, tce=tce,
                                tce_generation=tce_generation, co2_t=co2_t, scope=scope,
                                factors=tuple(_use(f) for f in factors)))
    return Figures(lines=tuple(lines), total_tce=total_tce,
                   total_tce_generation=total_generation if any_generation else None,
                   co2_t_by_scope=by_scope, factor_sets=tuple(used))
