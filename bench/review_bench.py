"""Review benchmark: `python -m bench.review_bench [--rounds N] [--no-write] [--keep] [--profile]`.

10,000 submissions of 60 enterprises in Zhengzhou (a Henan city) across the three programs
(Henan 2023, Shanghai 2024, the Henan 2025 contest) in the states of each program's workflow, and
100,000 activity rows (ten transitions each). Timed server-side through Django's test Client (in
process, no network), median and p95 over rounds after one warm-up, each against the 200 ms
target:

- the reviewer's admin list (`admin:applications_submission_changelist`, reviews/admin.py) as
  Zhengzhou's municipal reviewer; on a tree without the Submission admin, the nearest page is
  timed instead, the portal's submission list (`applications:submission_list`) as the same
  reviewer, and the result says which one ran;
- `GET /api/v1/submissions/` (first page, with `available_actions` and, for reviewers, the
  assignments and combined score) as the municipal reviewer and as Henan's provincial officer.

The rows are bulk-inserted (`bulk_create`), not taken through reviews.services.transition_perform:
a bench of the lists needs their number, not 100,000 audited transitions. So the activity rows
are written directly: each submission's path through its workflow (submit → … → its state),
repeated to ten rows. A program whose definition has no workflow would be loaded with the core
workflow of tests/applications/core_definition.py (the results name the definitions used).

Uses its own database `nengtan_bench_review` on the PostgreSQL of DATABASE_URL (created and
migrated if missing; the bench rows are rebuilt each run unless --keep finds them). Prints the
figures and their ratio to the target; writes bench/review_results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "bench" / "review_results.json"
TARGET_MS = 200.0
SUBMISSIONS = 10_000
ACTIVITY_PER_SUBMISSION = 10
ENTERPRISES = 60
PROGRAM_FILES = ("henan_dcmc_2023.yaml", "shanghai_emc_2024.yaml", "henan_contest_2025.yaml")
CITY, PROVINCE = "410100", "410000"
BENCH_PREFIX = "bench_review"
ADMIN_LIST = "admin:applications_submission_changelist"
NEAREST_LIST = "applications:submission_list"


def _definitions() -> list[tuple[dict[str, Any], str]]:
    from applications.services import program_definition_read

    sys.path.insert(0, str(ROOT))
    from tests.applications.core_definition import core_workflow

    found = []
    for name in PROGRAM_FILES:
        definition = program_definition_read(ROOT / "applications" / "programs" / name)
        source = f"applications/programs/{name}"
        if not definition.get("workflow"):
            definition = {**definition, "workflow": core_workflow()}
            source += " + core_workflow()"
        found.append((definition, source))
    return found


def _paths(workflow: Any) -> list[list[Any]]:
    """Chains of transitions from draft through the workflow, each ending in a different state."""
    chains: list[list[Any]] = []
    frontier: list[tuple[str, list[Any]]] = [("draft", [])]
    seen_targets: set[str] = set()
    while frontier:
        state, chain = frontier.pop(0)
        for transition in workflow.transitions_from(state):
            if transition.target in seen_targets or transition.target == "draft":
                continue
            seen_targets.add(transition.target)
            longer = [*chain, transition]
            chains.append(longer)
            frontier.append((transition.target, longer))
    return chains


def prepare(*, keep: bool) -> dict[str, Any]:
    """Programs, the city's enterprises, the reviewer and the officer, the submissions and activity."""
    from django.core.management import call_command
    from django.db import connection
    from django_scopes import scopes_disabled

    from applications.definitions import definition_of
    from applications.models import Submission
    from applications.services import program_load
    from portal.credit_code import make_credit_code
    from portal.models import Authority, Enterprise, Region, Role, User
    from reviews.models import Activity

    call_command("migrate", verbosity=0, interactive=False)
    sources = []
    with scopes_disabled():  # bench set-up acts for nobody: it builds its own tenants
        programs = []
        for definition, source in _definitions():
            program, _outcome = program_load(definition=definition, source=source)
            programs.append(program)
            sources.append(source)
        city = Authority.objects.get_or_create(name="郑州市工业和信息化局（基准）", defaults={
            "region": Region.objects.get(code=CITY), "level": Authority.Level.MUNICIPAL})[0]
        province = Authority.objects.get_or_create(name="河南省工业和信息化厅（基准）", defaults={
            "region": Region.objects.get(code=PROVINCE), "level": Authority.Level.PROVINCIAL})[0]
        reviewer = User.objects.get_or_create(username=f"{BENCH_PREFIX}_city", defaults={
            "role": Role.MUNICIPAL_REVIEWER, "authority": city, "is_staff": True,
            "first_name": "郑州初审员"})[0]
        officer = User.objects.get_or_create(username=f"{BENCH_PREFIX}_province", defaults={
            "role": Role.PROVINCIAL_OFFICER, "authority": province, "is_staff": True,
            "first_name": "省厅处员"})[0]
        enterprises = list(Enterprise.objects.filter(credit_code__startswith="91410100BR").order_by("id"))
        present = Submission.objects.filter(enterprise__in=enterprises).count()
        if keep and present == SUBMISSIONS:
            return {"reviewer": reviewer, "officer": officer, "sources": sources, "built": False}
        Activity.objects.filter(submission__enterprise__in=enterprises).delete()
        Submission.objects.filter(enterprise__in=enterprises).delete()
        if len(enterprises) < ENTERPRISES:
            districts = list(Region.objects.filter(parent__code=CITY).order_by("code"))
            Enterprise.objects.bulk_create([
                Enterprise(name=f"郑州基准{number:03d}号能源有限公司", credit_code=make_credit_code(
                    f"91410100BR{number:07d}"[:17]), kind=Enterprise.Kind.INDUSTRIAL,
                    region=districts[number % len(districts)], status=Enterprise.Status.APPROVED,
                    industry="钢铁冶炼")
                for number in range(len(enterprises), ENTERPRISES)])
            enterprises = list(Enterprise.objects.filter(credit_code__startswith="91410100BR").order_by("id"))
        applicants = {}
        for enterprise in enterprises:
            applicants[enterprise.pk] = User.objects.get_or_create(
                username=f"{BENCH_PREFIX}_{enterprise.pk}",
                defaults={"role": Role.ENTERPRISE_ADMIN, "enterprise": enterprise,
                          "first_name": f"{enterprise.name[:8]}管理员"})[0]
        now = dt.datetime.now(dt.UTC)
        plans = []
        for program in programs:
            version = program.versions.get(version=program.version)
            definition = definition_of(version.definition)
            track = definition.tracks[0].key if definition.tracks else ""
            variant = "" if track else (definition.variants[0].key if definition.variants else "")
            plans.append((program, version, variant, track, _paths(definition.workflow)))
        rows = []
        for number in range(SUBMISSIONS):
            program, version, variant, track, chains = plans[number % len(plans)]
            chain = chains[(number // len(plans)) % len(chains)]
            enterprise = enterprises[number % len(enterprises)]
            started = now - dt.timedelta(days=400) + dt.timedelta(minutes=number * 50)
            rows.append(Submission(
                program=program, program_version=version, enterprise=enterprise, variant=variant,
                track=track, title=f"{enterprise.name}{program.name[:10]}申报{number:05d}",
                state=chain[-1].target, data={}, created_by=applicants[enterprise.pk],
                created_at=started, updated_at=started + dt.timedelta(days=len(chain)),
                submitted_at=started + dt.timedelta(hours=1), submitted_by=applicants[enterprise.pk],
                additions_due=(started + dt.timedelta(days=30)).date()
                if chain[-1].needs_deadline else None))
        submissions = Submission.objects.bulk_create(rows, batch_size=2000)
        activity = []
        for number, submission in enumerate(submissions):
            chain = plans[number % len(plans)][4][(number // len(plans)) % len(plans[number % len(plans)][4])]
            steps = [chain[index % len(chain)] for index in range(ACTIVITY_PER_SUBMISSION)]
            for index, transition in enumerate(steps):
                actor = applicants[submission.enterprise_id] if "applicant" in transition.actors else (
                    officer if "provincial" in transition.actors else reviewer)
                activity.append(Activity(
                    submission=submission, action=transition.key, from_state=transition.sources[0],
                    to_state=transition.target, actor=actor,
                    actor_name=actor.get_full_name() or actor.username,
                    actor_kind=transition.actors[0], reason="基准理由" if transition.needs_reason else "",
                    deadline=submission.additions_due if transition.needs_deadline else None,
                    created_at=submission.created_at + dt.timedelta(hours=index + 1)))
            if len(activity) >= 20_000:
                Activity.objects.bulk_create(activity, batch_size=5000)
                activity = []
        Activity.objects.bulk_create(activity, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE applications_submission; ANALYZE reviews_activity; ANALYZE portal_enterprise")
    return {"reviewer": reviewer, "officer": officer, "sources": sources, "built": True}


def timed(call: Callable[[], Any], rounds: int) -> dict[str, Any]:
    call()  # warm-up: definitions parsed, templates compiled, connections open
    samples, cpu = [], []
    for _round in range(rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        call()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    samples.sort()
    median = statistics.median(samples)
    p95 = samples[min(len(samples) - 1, max(0, round(0.95 * len(samples)) - 1))]
    return {"rounds": rounds, "median_ms": round(median, 1), "p95_ms": round(p95, 1),
            "best_ms": round(samples[0], 1), "target_ms": TARGET_MS,
            # This process's CPU (Django, DRF, the serializers): what a request costs when it does not
            # wait for a shared core; PostgreSQL's own time is in the wall figures only.
            "median_cpu_ms": round(statistics.median(cpu), 1),
            "median_to_target": round(median / TARGET_MS, 2), "p95_to_target": round(p95 / TARGET_MS, 2)}


def measure(setup: dict[str, Any], rounds: int) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    try:
        list_url, list_name = reverse(ADMIN_LIST), ADMIN_LIST
    except NoReverseMatch:  # the Submission admin lives on another branch until it lands
        list_url, list_name = reverse(NEAREST_LIST), NEAREST_LIST
    cases = [(f"reviewer's list ({list_name}) as the municipal reviewer", setup["reviewer"], list_url,
              "text/html"),
             ("GET /api/v1/submissions/ as the municipal reviewer", setup["reviewer"], "/api/v1/submissions/",
              "application/json"),
             ("GET /api/v1/submissions/ as the provincial officer", setup["officer"], "/api/v1/submissions/",
              "application/json")]
    results = []
    for label, user, url, accept in cases:
        client = Client()
        client.force_login(user)

        def get(client: Client = client, url: str = url, accept: str = accept) -> Any:
            response = client.get(url, HTTP_ACCEPT=accept)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
            return response

        figures = timed(get, rounds)
        with CaptureQueriesContext(connection) as captured:
            response = get()
        is_json = accept == "application/json"
        rows = (len(response.json()["results"]), response.json()["count"]) if is_json else None
        results.append({"case": label, "url": url, **figures, "queries": len(captured.captured_queries),
                        **({"rows_on_page": rows[0], "rows_in_reach": rows[1]} if rows else {})})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-write", action="store_true", help="print only; keep bench/review_results.json")
    parser.add_argument("--keep", action="store_true", help="reuse the bench rows when they are all there")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one API list as the reviewer")
    args = parser.parse_args(argv)
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/nengtan_bench_review"
    os.environ["NENGTAN_ENV"] = "development"
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))

    from bench import ingest_bench

    ingest_bench.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    started = time.perf_counter()
    setup = prepare(keep=args.keep)
    built_s = time.perf_counter() - started
    if args.profile:
        import cProfile
        import pstats

        from django.test import Client

        client = Client()
        client.force_login(setup["reviewer"])
        client.get("/api/v1/submissions/")
        profiler = cProfile.Profile()
        profiler.enable()
        client.get("/api/v1/submissions/")
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    results = measure(setup, args.rounds)
    meta = {"run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
            "python": platform.python_version(), "load_average": [round(v, 2) for v in os.getloadavg()],
            "submissions": SUBMISSIONS, "activity_rows": SUBMISSIONS * ACTIVITY_PER_SUBMISSION,
            "enterprises": ENTERPRISES, "programs": setup["sources"],
            "data_built_s": round(built_s, 1) if setup["built"] else None,
            "note": "server time in-process (Django test Client, no network); rows bulk-inserted, "
                    "not through the transition service; one machine runs PostgreSQL and the bench"}
    print(f"Review bench: {SUBMISSIONS:,} submissions, "
          f"{SUBMISSIONS * ACTIVITY_PER_SUBMISSION:,} activity rows "
          f"({ENTERPRISES} enterprises in Zhengzhou; load {meta['load_average'][0]})")
    for result in results:
        print(f"  {result['case']}: median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms "
              f"(CPU {result['median_cpu_ms']:.1f} ms) over {result['rounds']} rounds, "
              f"{result['queries']} queries; {result['median_to_target']:.2f}× "
              f"(p95 {result['p95_to_target']:.2f}×) the {TARGET_MS:.0f} ms target")
    if not args.no_write:
        RESULTS_FILE.write_text(json.dumps({**meta, "results": results}, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {RESULTS_FILE}")
    return 0 if all(result["median_ms"] <= TARGET_MS for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
