"""Load the factor sets the portal ships (metering/monitoring/factor_data.py) into every database."""

from typing import Any

from django.db import migrations


def load(apps: Any, schema_editor: Any) -> None:
    from metering.monitoring.factor_data import load_shipped_factor_sets

    load_shipped_factor_sets(apps.get_model("monitoring", "FactorSet"), apps.get_model("monitoring", "Factor"))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_factor_sets")]

    # Reversing leaves the rows: unapplying 0002 drops the tables anyway.
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
