"""A private PostgreSQL 15 cluster on a free loopback port, for tests that stop the database.

The shared PostgreSQL on 5432 is used by everyone; a test that needs the database to go away
starts its own with initdb + pg_ctl (as the `postgres` OS user when running as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PrivatePostgres:
    directory: Path
    port: int
    # Extra environment for the server and its tools, e.g. what an archive_command reads.
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / args[0]), *args[1:]]),
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S + 30,
            env={**os.environ, **self.environment},
        )

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"
        )

    def configure(self, lines: str) -> None:
        """Append settings to postgresql.conf (before start, or followed by a restart)."""
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n" + lines + "\n")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "-t",
            str(START_TIMEOUT_S),
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        result = subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "status"]), capture_output=True
        )
        return result.returncode == 0


@contextmanager
def private_postgres(directory: Path) -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(directory=directory, port=free_port())
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        if cluster.is_running():
            cluster.stop()
