"""`manage.py run_collectors`: the embedded collector loop, for a run without Celery worker and beat.

Every second it finds due Modbus devices, claims them and polls each in its own thread (a
bounded pool), so one dead device never delays another. A thread of its own drains the readings
spools in bounded passes, so devices keep being polled while a long backlog drains. It stops
cleanly on SIGTERM or SIGINT: no new polls start, and the ones in flight finish (each is
bounded by its device's timeout budget), as does the drain pass under way.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection
from django_scopes import scopes_disabled

from metering.collectors.modbus.polling import modbus_device_claim, modbus_device_poll, modbus_devices_due
from metering.ingest.services import is_database_unavailable
from metering.ingest.spool import DRAIN_PASS_BUDGET_S, drain_spools
from portal.access import enterprise_scope

logger = logging.getLogger(__name__)

LOOP_INTERVAL_S = 1.0
# Polls in flight at once; each waits mostly on the network, so threads are cheap, but a
# bound keeps a plant of hundreds of dead devices from opening hundreds of sockets at once.
DEFAULT_MAX_POLLS = 16
# On stop, how long the drain pass under way may take to finish (a pass is bounded by its budget).
DRAIN_STOP_WAIT_S = 2 * DRAIN_PASS_BUDGET_S


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
        drainer = threading.Thread(target=self._drain_loop, args=(options["interval"],), name="spool-drain",
                                   daemon=True)
        if not options["once"]:
            drainer.start()
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
        if options["once"]:
            self._drain_pass()
        else:
            self.stop.set()
            drainer.join(DRAIN_STOP_WAIT_S)
            if drainer.is_alive():
                logger.warning("run_collectors: the spool drain did not finish within %.0f s",
                               DRAIN_STOP_WAIT_S)
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
        self.stdout.write("run_collectors stopped")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        logger.info("run_collectors: signal %s, stopping after the polls in flight", signum)
        self.stop.set()

    def _drain_loop(self, interval_s: float) -> None:
        """Drain pass after pass while batches settle; when none did, wait `interval_s`."""
        try:
            while not self.stop.is_set():
                if not self._drain_pass():
                    self.stop.wait(interval_s)
        finally:
            connection.close()  # this thread's own connection

    def _drain_pass(self) -> int:
        try:
            return drain_spools()
        except Exception:  # the loop outlives a bad pass; the batches stay in their spool
            logger.exception("spool drain pass failed")
            return 0
        finally:
            close_old_connections()

    def _cycle(self, pool: ThreadPoolExecutor, max_polls: int) -> None:
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

