"""`manage.py load_factor_sets`: create the shipped factor sets that are missing.

The data migration loads them on `migrate`; this command loads them again after a flush (or
shows that nothing is missing). Idempotent: a set already present (by name and edition) is
left untouched, because sets are locked once loaded.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from metering.monitoring.factor_data import load_shipped_factor_sets
from metering.monitoring.models import Factor, FactorSet


class Command(BaseCommand):
    help = ("Create the factor sets the portal ships (GB/T 2589, grid, fuel and heat CO₂ factors) "
            "where missing.")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            created = load_shipped_factor_sets(FactorSet, Factor)
        for label in created:
            self.stdout.write(f"created {label}")
        self.stdout.write(f"{len(created)} factor set(s) created, {FactorSet.objects.count()} in all")
