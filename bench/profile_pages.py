"""Per-page timing and SQL query counts for the pages bench/bench_load.py opens (issue 12), in-process.

    PDVA_ENV=test PDVA_DATABASE_URL=postgres://postgres@127.0.0.1:5432/pdva_x PDVA_VAR_DIR=/tmp/xvar \\
        python bench/profile_pages.py [-n 20] [--only "case page"] [--profile "case page"] [--top 40]

Runs against an existing, seeded database (it never migrates or seeds). It makes (or reuses) the bench's
three staff users, signed in with Django's test client and a verified second factor the way the tests and
bench_load's MAKE_USERS do, plus an API token for the clinician, then requests every page ``n`` times
(after one warm-up request) and prints p50/p95 in ms, the median CPU time of this process (the Python work;
wall time on a busy machine includes waiting for a core) and the SQL queries per request. ``--profile PAGE``
prints a cProfile of ``n`` requests to that page, sorted by cumulative time. The numbers come without
gunicorn or the network, so they are a little lower than locust's; the query counts are the same.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pdva.settings")
os.environ.setdefault("PDVA_AXES_ENABLED", "false")
# Jobs (report snapshots among them) wait for a worker as in production; PDVA_ENV=test would otherwise run
# them inside the request that queued them. Build snapshots first: `pdva snapshots --pending` (or --all).
os.environ.setdefault("PDVA_JOBS_RUN", "worker")


@dataclass(frozen=True)
class Page:
    name: str
    who: str  # alice (site clinician), datamanager, auditor, or api (alice's bearer token)
    url: str


def pages(site_id: int, patient: str, case: str) -> list[Page]:
    return [
        Page("home", "alice", "/"),
        Page("capture patients", "alice", "/cases/"),
        Page("capture patients search", "alice", "/cases/?q=smith"),
        Page("capture worklist", "alice", "/cases/worklist/"),
        Page("patient page", "alice", f"/cases/patients/{patient}/"),
        Page("case page", "alice", f"/cases/case/{case}/"),
        Page("followup worklist", "alice", "/followup/"),
        Page("followup compliance", "alice", "/followup/compliance/"),
        Page("reports site dashboard", "alice", f"/reports/site/{site_id}/"),
        Page("reports national", "auditor", "/reports/national/"),
        Page("reports index", "auditor", "/reports/"),
        Page("prom index", "alice", "/prom/"),
        Page("prom reports", "datamanager", "/prom/reports/"),
        Page("jobs", "alice", "/jobs/"),
        Page("exports", "datamanager", "/exports/"),
        Page("api patients", "api", "/api/v1/patients"),
        Page("api procedures", "api", "/api/v1/procedures"),
        Page("api followups", "api", "/api/v1/followups"),
        Page("api followup worklist", "api", "/api/v1/worklists/followups"),
    ]


def setup():  # type: ignore[no-untyped-def]
    """Users, signed-in clients and the ids to open (the bench's first site, its first procedure)."""
    import django

    django.setup()
    logging.getLogger("pdva.request").setLevel(logging.WARNING)  # one JSON line per request otherwise
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from pdva.accounts.models import Membership
    from pdva.api.models import ApiToken
    from pdva.audit.context import audit_context
    from pdva.registry.models import Procedure, Site

    site = Site.objects.order_by("pk").first()
    if site is None:
        raise SystemExit("the database has no site: seed it first (pdva seed)")
    roles = {
        "alice": ("site_clinician", site),
        "datamanager": ("site_data_manager", site),
        "auditor": ("national_auditor", None),
    }
    clients = {}
    with audit_context(label="system:bench", reason="benchmark: page profile users"):
        for name, (role, where) in roles.items():
            user, made = get_user_model().objects.get_or_create(username="profile-" + name)
            if made:
                Membership(user=user, role=role, site=where).save()
            client = Client()
            client.force_login(user)
            device = TOTPDevice.objects.filter(user=user, name="profile").first()
            if device is None:
                device = TOTPDevice.objects.create(user=user, name="profile", confirmed=True)
            session = client.session
            session["otp_device_id"] = device.persistent_id
            session.save()
            clients[name] = client
            if name == "alice":
                _, raw = ApiToken.issue(user, "page profile", days=1)
                clients["api"] = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    procedure = Procedure.objects.filter(patient__site=site).order_by("pk").first()
    if procedure is None:
        raise SystemExit(f"site {site} has no procedure")
    return clients, pages(site.pk, str(procedure.patient.uuid), str(procedure.uuid))


def measure(client, page: Page, n: int) -> tuple[list[float], list[float], int, int]:  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(page.url)  # warm-up: templates, caches, the first query plans
    times: list[float] = []
    cpu: list[float] = []  # this process's CPU only: the Python work, apart from waiting for the database
    queries = 0
    for _ in range(n):
        with CaptureQueriesContext(connection) as ctx:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(page.url)
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
        queries = len(ctx.captured_queries)
    return times, cpu, queries, response.status_code


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--only", action="append", default=[], help="page name to time (repeatable)")
    parser.add_argument("--profile", help="page name to cProfile (n requests)")
    parser.add_argument("--top", type=int, default=40, help="cProfile lines to print")
    parser.add_argument("--sql", action="store_true", help="print the SQL of the last request of each page")
    parser.add_argument(
        "--explain",
        type=float,
        metavar="MS",
        help="with --sql: EXPLAIN ANALYZE (PostgreSQL) each query of the page that took at least MS ms",
    )
    args = parser.parse_args()

    clients, all_pages = setup()
    chosen = [p for p in all_pages if not args.only or p.name in args.only]
    if args.profile:
        page = next((p for p in all_pages if p.name == args.profile), None)
        if page is None:
            raise SystemExit(f"no page {args.profile!r}: one of {', '.join(p.name for p in all_pages)}")
        clients[page.who].get(page.url)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            clients[page.who].get(page.url)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.top)
        return
    print(f"{'page':<26} {'status':>6} {'p50 ms':>8} {'p95 ms':>8} {'cpu p50':>8} {'queries':>8}")
    for page in chosen:
        if args.sql:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as ctx:
                clients[page.who].get(page.url)
            print(f"--- {page.name}")
            for q in ctx.captured_queries:
                print(f"  {q['time']}s {q['sql'][:300]}")
                if args.explain is not None and float(q["time"]) * 1000 >= args.explain:
                    with connection.cursor() as cursor:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
                        for (line,) in cursor.fetchall():
                            print(f"      {line}")
        times, cpu, queries, status = measure(clients[page.who], page, args.n)
        p50, p95, cpu50 = statistics.median(times), percentile(times, 0.95), statistics.median(cpu)
        print(f"{page.name:<26} {status:>6} {p50:8.1f} {p95:8.1f} {cpu50:8.1f} {queries:>8}", flush=True)


if __name__ == "__main__":
    main()
