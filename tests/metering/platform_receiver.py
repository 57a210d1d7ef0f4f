"""A real local HTTP receiver standing in for a provincial platform (ThreadingHTTPServer on a free
loopback port, in a thread). It records every request it gets and answers as it is told: by
default 200 with {"ack": true}; `fail_next(n, status)` answers the next n with that status, and
`hang_next(n, seconds)` holds the next n past the client's timeout before answering."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class PlatformReceiver:
    def __init__(self, *, path: str = "/ingest") -> None:
        self.path = path
        self.received: list[Received] = []
        self._script: deque[tuple[str, Any, bytes]] = deque()
        self._lock = threading.Lock()
        self.default: tuple[int, bytes] = (200, b'{"ack": true}')
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(self.path, headers, body))
                    action = receiver._script.popleft() if receiver._script else None
                status, answer = receiver.default
                if action is not None:
                    kind, value, content = action
                    if kind == "hang":
                        time.sleep(value)
                    else:
                        status, answer = value, content
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up (the hang case)
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def fail_next(self, count: int, status: int = 500, body: bytes = b'{"error": "busy"}') -> None:
        with self._lock:
            self._script.extend(("status", status, body) for _ in range(count))

    def answer_next(self, count: int, status: int, body: bytes) -> None:
        self.fail_next(count, status, body)

    def hang_next(self, count: int, seconds: float) -> None:
        with self._lock:
            self._script.extend(("hang", seconds, b"") for _ in range(count))

    def bodies(self) -> list[Any]:
        with self._lock:
            return [item.json for item in self.received]

    def __enter__(self) -> PlatformReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
