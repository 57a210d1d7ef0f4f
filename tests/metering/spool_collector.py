"""A stand-in collector process for the database-outage test (tests/metering/test_spool.py).

It runs like a real collector: one long-lived process with its own Django connection to the
database in DATABASE_URL, reading what to do as JSON lines on stdin and answering one JSON line
per command on stdout. When the ingest raises, whatever the exception, it puts the batch into its
spool and answers the exception's class, exactly as the MQTT and Modbus collectors do.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django_scopes import scopes_disabled

    from metering.ingest.services import (
        ResolvedReading,
        readings_ingest,
        readings_ingest_resolved,
    )
    from metering.ingest.spool import Spool
    from metering.models import EnergyType, Meter
    from portal.credit_code import make_credit_code
    from portal.models import Enterprise, Region

    spool = Spool("outage-test")
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        reply: dict = {"op": op}
        if op == "setup":
            call_command("migrate", verbosity=0, interactive=False)
            with scopes_disabled():  # test setup of a fresh database
                enterprise = Enterprise.objects.create(
                    name="停库测试企业",
                    credit_code=make_credit_code("9141010599990001X"),
                    region=Region.objects.get(code="410105"),
                    kind=Enterprise.Kind.INDUSTRIAL,
                    status=Enterprise.Status.APPROVED,
                )
                meters = [
                    Meter.objects.create(
                        enterprise=enterprise,
                        code=f"M-{n}",
                        name=f"表{n}",
                        level=1,
                        energy_type=EnergyType.ELECTRICITY,
                        unit="kWh",
                    )
                    for n in range(3)
                ]
            reply.update(enterprise_id=enterprise.pk, meter_ids=[m.pk for m in meters])
        elif op == "collect":
            try:
                reply["result"] = readings_ingest(
                    enterprise_id=command["enterprise_id"],
                    items=command["items"],
                    source="mqtt",
                    channel="outage-test",
                ).as_dict()
            except Exception as exc:  # any failure to write keeps the batch, as the collectors do
                spool.put(
                    "items",
                    {
                        "enterprise_id": command["enterprise_id"],
                        "items": command["items"],
                        "source": "mqtt",
                        "channel": "outage-test",
                    },
                )
                reply["spooled"] = exc.__class__.__name__
        elif op == "collect_resolved":
            rows = [ResolvedReading(meter_id, ts, value) for meter_id, ts, value in command["rows"]]
            try:
                reply["result"] = readings_ingest_resolved(rows=rows, source="modbus").as_dict()
            except Exception as exc:
                spool.put("resolved", {"rows": rows, "source": "modbus"})
                reply["spooled"] = exc.__class__.__name__
        elif op == "drain":
            reply.update(drained=spool.drain(), waiting=len(spool))
        elif op == "quit":
            print(json.dumps(reply), flush=True)
            return
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
