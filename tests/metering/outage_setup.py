"""Prepare a fresh database for the outage test (tests/metering/test_database_outage.py).

Run as `python -m tests.metering.outage_setup` with DATABASE_URL naming an empty database: it
migrates, creates one enterprise with two meters, an enterprise admin with an API token and a
gateway token, and prints what the test needs as one JSON line.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django_scopes import scopes_disabled
    from rest_framework.authtoken.models import Token

    from metering.models import EnergyType, Meter
    from metering.registry.tokens import gateway_token_create
    from portal.credit_code import make_credit_code
    from portal.models import Enterprise, Region, Role, User

    call_command("migrate", verbosity=0, interactive=False)
    with scopes_disabled():  # test setup of a fresh database
        enterprise = Enterprise.objects.create(
            name="停库应答测试企业",
            credit_code=make_credit_code("9141010599990002X"),
            region=Region.objects.get(code="410105"),
            kind=Enterprise.Kind.INDUSTRIAL,
            status=Enterprise.Status.APPROVED,
        )
        for code in ("HTTP-1", "MQTT-1"):
            Meter.objects.create(
                enterprise=enterprise, code=code, name=code, level=1,
                energy_type=EnergyType.ELECTRICITY, unit="kWh",
            )
        admin = User.objects.create_user(
            username="outage-admin", password="outage-pass-2026", role=Role.ENTERPRISE_ADMIN,
            enterprise=enterprise,
        )
        user_token = Token.objects.create(user=admin).key
        _token, gateway_token = gateway_token_create(actor=admin, enterprise=enterprise, name="停库网关")
    print(json.dumps({"credit_code": enterprise.credit_code, "user_token": user_token,
                      "gateway_token": gateway_token}), flush=True)


if __name__ == "__main__":
    main()
