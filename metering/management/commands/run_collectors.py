"""`manage.py run_collectors`: the embedded collector loop, for a run without Celery worker and beat.

Every second it drains the readings spools, finds due Modbus devices, claims them and polls
each in its own thread (a bounded pool), so one dead device never delays another. It stops
cleanly on SIGTERM or SIGINT: no new polls start, and the ones in flight finish (each is
bounded by its device's timeout budget).
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection
from django_scopes import scopes_disabled

from metering.collectors.modbus.polling import modbus_device_claim, modbus_device_poll, modbus_devices_due
from metering.ingest.services import is_database_unavailable
from metering.ingest.spool import Spool
from portal.access import enterprise_scope

logger = logging.getLogger(__name__)

LOOP_INTERVAL_S = 1.0
# Polls in flight at once; each waits mostly on the network, so threads are cheap, but a
# bound keeps a plant of hundreds of dead devices from opening hundreds of sockets at once.
DEFAULT_MAX_POLLS = 16


class Command(BaseCommand):
    help = "Poll due Modbus devices and drain the readings spools in-process, until SIGTERM/SIGINT."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=LOOP_INTERVAL_S, help="seconds between cycles")
        parser.add_argument(
            "--max-polls", type=int, default=DEFAULT_MAX_POLLS, help="polls in flight at once"
        )
        parser.add_argument("--once", action="store_true", help="run one cycle, wait for its polls, and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] <= 0 or options["max_polls"] < 1:
            raise CommandError("--interval must be > 0 and --max-polls ≥ 1.")
        self.stop = threading.Event()
        self.in_flight: set[int] = set()
        self.lock = threading.Lock()
        previous_handlers = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        self.stdout.write(
            f"run_collectors: polling due Modbus devices every {options['interval']}s "
            f"(up to {options['max_polls']} at once)"
        )
        self.stdout.flush()
        with ThreadPoolExecutor(max_workers=options["max_polls"], thread_name_prefix="modbus-poll") as pool:
            while not self.stop.is_set():
                try:
                    self._cycle(pool, options["max_polls"])
                except Exception as exc:  # the loop outlives a bad cycle
                    if not is_database_unavailable(exc):
                        logger.exception("collector cycle failed")
                    else:
                        logger.warning("database unavailable, collector cycle skipped: %s", exc)
                close_old_connections()
                if options["once"]:
                    break
                self.stop.wait(options["interval"])
            # Leaving the with block waits for the polls in flight.
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
        self.stdout.write("run_collectors stopped")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("run_collectors: signal %s, stopping after the polls in flight", signum)
        self.stop.set()

    def _cycle(self, pool: ThreadPoolExecutor, max_polls: int) -> None:
        drain_spools()
        # scopes_disabled: the dispatcher looks across tenants for due devices on purpose; each
        # poll then runs inside its own enterprise's scope.
        with scopes_disabled():
            due = modbus_devices_due(limit=max_polls * 4)
        for device_id, enterprise_id in due:
            with self.lock:
                if device_id in self.in_flight or len(self.in_flight) >= max_polls:
                    continue
            with enterprise_scope(enterprise_id):
                token = modbus_device_claim(device_id=device_id)
            if token is None:
                continue
            with self.lock:
                self.in_flight.add(device_id)
            future: Future[None] = pool.submit(self._poll, device_id, enterprise_id, token)
            future.add_done_callback(functools.partial(self._done, device_id))

    def _poll(self, device_id: int, enterprise_id: int, token: str) -> None:
        try:
            with enterprise_scope(enterprise_id):
                modbus_device_poll(device_id=device_id, claim_token=token)
        except Exception:
            logger.exception("poll of Modbus device %s failed", device_id)
        finally:
            connection.close()  # each pool thread holds its own connection

    def _done(self, device_id: int, future: Future[None]) -> None:
        with self.lock:
            self.in_flight.discard(device_id)


def drain_spools() -> int:
    """Replay every collector's spool (Modbus, MQTT, …) found in SPOOL_DIR."""
    drained = 0
    for path in sorted(Path(settings.SPOOL_DIR).glob("*.sqlite3")):
        spool = Spool(path.stem)
        try:
            if len(spool):
                drained += spool.drain()
        finally:
            spool.close()
    return drained
