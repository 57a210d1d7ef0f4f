"""`manage.py poll_modbus --once [--device ID]`: poll Modbus devices right away and show what was read.

For operators testing a new register map: per point it prints the address, data type, byte
order, the raw registers in hex, the decoded value and the meter it feeds.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django_scopes import scopes_disabled

from metering.collectors.modbus.polling import PollOutcome, modbus_device_claim, modbus_device_poll
from metering.models import ModbusDevice
from portal.access import enterprise_scope


class Command(BaseCommand):
    help = "Poll Modbus devices once, now, and print every point's registers and decoded value."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="poll once and exit (continuous polling is run_collectors or Celery beat)",
        )
        parser.add_argument(
            "--device",
            type=int,
            action="append",
            dest="devices",
            metavar="ID",
            help="poll only this device id (repeatable); default: every enabled device",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="read and decode only: store no readings and no device state",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["once"]:
            raise CommandError(
                "poll_modbus only polls once (--once); run_collectors or Celery beat poll continuously."
            )
        # scopes_disabled: an operator's command with no request edge; it only lists devices here,
        # and each device is then polled inside its own enterprise's scope.
        with scopes_disabled():
            queryset = ModbusDevice.objects.order_by("enterprise_id", "pk")
            if options["devices"]:
                queryset = queryset.filter(pk__in=options["devices"])
                missing = set(options["devices"]) - set(queryset.values_list("pk", flat=True))
                if missing:
                    raise CommandError(f"no Modbus device with id {', '.join(map(str, sorted(missing)))}")
            else:
                queryset = queryset.filter(enabled=True)
            devices = list(queryset.values_list("pk", "enterprise_id", "name"))
        if not devices:
            self.stdout.write("no Modbus devices to poll")
            return
        failures = 0
        for device_id, enterprise_id, name in devices:
            with enterprise_scope(enterprise_id):
                token = modbus_device_claim(device_id=device_id, force=True)
                if token is None:
                    self.stdout.write(
                        f"device {device_id} {name}: skipped, another collector is polling it now"
                    )
                    continue
                outcome = modbus_device_poll(
                    device_id=device_id, claim_token=token, write=not options["dry_run"]
                )
            self._print(device_id, name, outcome, dry_run=options["dry_run"])
            failures += not outcome.ok
        if failures:
            raise CommandError(f"{failures} device(s) had errors")

    def _print(self, device_id: int, name: str, outcome: PollOutcome, *, dry_run: bool) -> None:
        state = "ok" if outcome.ok else ("unreachable" if not outcome.reachable else "errors")
        self.stdout.write(f"device {device_id} {name}: {state}, {outcome.requests} request(s)")
        for result in outcome.points:
            point = result.point
            registers = (
                " ".join(f"{r:04X}" for r in result.registers) if result.registers is not None else "-"
            )
            value = f"{result.value:.6g}" if result.value is not None else f"ERROR {result.error}"
            self.stdout.write(
                f"  {point.register_type:<7} {point.address:>5}  {point.data_type:<7} {point.byte_order}  "
                f"[{registers}]  → {value}  meter {point.meter_code}"
            )
        if dry_run:
            self.stdout.write("  (dry run: nothing stored)")
        else:
            self.stdout.write(
                f"  readings written: {outcome.readings_written}, spooled: {outcome.readings_spooled}"
            )
        for error in outcome.errors:
            self.stderr.write(f"  error: {error}")
