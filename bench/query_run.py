"""Run the query benchmark: `python -m bench.query_run [--no-write]`.

Uses its own database `nengtan_bench_query` on the PostgreSQL of DATABASE_URL (created if missing;
its readings and rollups are rebuilt each run, see bench/query_bench.py). Prints each query's median
server time with rollups and from raw readings at 1.75 M and 17.5 M readings, and writes
bench/query_results.json. Targets: every board and indicator request under 200 ms, ≥ 20× raw.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "bench" / "query_results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print only; keep bench/query_results.json")
    args = parser.parse_args(argv)
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/nengtan_bench_query"
    os.environ["NENGTAN_ENV"] = "development"
    # The rollups are built by the bench itself; no task queue is needed (tasks run eagerly).
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))

    from bench import ingest_bench

    ingest_bench.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from bench import query_bench

    results = query_bench.run(os.environ["DATABASE_URL"])
    slow = [r for r in results if r["rollup_ms"] > query_bench.TARGET_MS]
    wrong = [r for r in results if not r["agrees"]]
    meta = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "note": "server time in-process (Django test client); one machine runs PostgreSQL and the bench",
    }
    if not args.no_write:
        RESULTS_FILE.write_text(json.dumps({**meta, "queries": results}, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {RESULTS_FILE}")
    if wrong:
        print(f"{len(wrong)} answer(s) from rollups DISAGREE with the raw readings", file=sys.stderr)
        return 1
    if slow:
        print(f"{len(slow)} quer(ies) over the {query_bench.TARGET_MS:.0f} ms target", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
