"""Load test (issue 12): ``pdva serve`` on PostgreSQL driven by locust, headless and on loopback only.

    python bench/bench_load.py           # 30 sites, 50,000 patients, 8 years (long: run it rarely)
    python bench/bench_load.py --quick   # 3 sites, 300 patients (also the "300 patients" comparison)
    BENCH_LOAD_SITES / BENCH_LOAD_PATIENTS / BENCH_LOAD_YEARS / BENCH_LOAD_USERS / BENCH_LOAD_SECONDS
    BENCH_LOAD_WEB_WORKERS / BENCH_LOAD_WEB_THREADS   # pdva serve's processes and threads (default: its own)
    BENCH_LOAD_TEMPLATE=pdva_seed50k BENCH_LOAD_TEMPLATE_KEYS=/its/var/dir   # copy a registry seeded
        earlier (with its keys) instead of seeding; then migrate

The run makes its own database (``pdva_bench_load_<pid>``), migrates and seeds it, creates three staff users
(a site clinician ``alice``, a site data manager, a national auditor) with a verified second factor the way
the tests do (a database session carrying the OTP device id, made in ``pdva shell``: no login bypass), starts
``pdva serve --bind 127.0.0.1:<free port>`` (its default workers) and one ``pdva worker`` (niced, as by default) (after checking bulk-loaded
cases' completeness and computing every report snapshot, as the worker keeps them in production), waits for
``/health/ready`` and runs
``bench/load/locustfile.py`` with locust in a subprocess, bounded by users, spawn rate and run time:

- single user (no think time): every page p95 < 150 ms;
- 50 users (1-3 s think time between page views): 0 errors and every page p95 < 500 ms;
- the quarterly PDF requested from the web (it enqueues a job): < 200 ms (slowest of 5);
- every follow-up visit the clinician's journey saved through the web form is a new, audited row.

The server is stopped and the database dropped at the end, also on failure. The machine has 2 shared cores:
locust itself runs on them, so concurrent numbers are inflated by the load generator.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import (  # noqa: E402
    Database,
    Report,
    Scale,
    Workspace,
    cli,
    pdva_command,
    pg_query,
    run_command,
)

LOCUSTFILE = ROOT / "bench" / "load" / "locustfile.py"
SINGLE_P95_MS = 150.0
CONCURRENT_P95_MS = 500.0
PDF_MS = 200.0
# Every page the journeys in bench/load/locustfile.py open (its request names): a page with no completed
# request in a phase (too slow to answer before the phase ended) is a MISS, not left out.
PAGES = (
    "home",
    "capture patients",
    "capture worklist",
    "patient page",
    "case page",
    "followup visit form",
    "save followup visit",
    "followup worklist",
    "followup compliance",
    "reports site dashboard",
    "reports national",
    "reports index",
    "prom index",
    "prom reports",
    "jobs",
    "exports",
    "capture patients search",
    "api patients",
    "api procedures",
    "api followup worklist",
)

MAKE_USERS = """
import datetime
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice
from pdva.accounts.models import Membership
from pdva.audit.context import audit_context
from pdva.registry.models import Patient, Procedure, Site

site = Site.objects.order_by("pk").first()
roles = {"alice": ("site_clinician", site), "datamanager": ("site_data_manager", site),
         "auditor": ("national_auditor", None)}
sessions = {}
with audit_context(label="system:bench", reason="benchmark: load-test users"):
    for name, (role, where) in roles.items():
        # "load-", not bench_ingest's "bench-": a registry that bench kept already has its users.
        user = get_user_model().objects.create_user("load-" + name)
        Membership(user=user, role=role, site=where).save()
        client = Client()
        client.force_login(user)
        device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
        sessions[name] = session.session_key
    from pdva.api.models import ApiToken
    _, api_token = ApiToken.issue(get_user_model().objects.get(username="load-alice"), "load test", days=1)
procedure = Procedure.objects.filter(patient__site=site).order_by("pk").first()
# Cases the clinician adds follow-up visits to: live cases of living patients at her site, done a month or
# more ago (so visit dates can vary), not the timed "case page" (its visit list would grow during the run).
visit_cases = []
candidates = (Procedure.objects.alive().filter(patient__site=site, patient__deleted_at__isnull=True,
              procedure_date__lte=datetime.date.today() - datetime.timedelta(days=30))
              .exclude(pk=procedure.pk).select_related("patient").order_by("pk"))
for case in candidates[:200]:
    if case.patient.date_of_death is None:
        visit_cases.append({"uuid": str(case.uuid), "procedure_date": case.procedure_date.isoformat()})
    if len(visit_cases) == 20:
        break
if not visit_cases:
    raise SystemExit("no live case of a living patient at the clinician's site to add follow-up visits to")
print("BENCH " + json.dumps({"cookie_name": settings.SESSION_COOKIE_NAME, "sessions": sessions,
      "api_token": api_token, "site_id": site.pk, "patient": str(procedure.patient.uuid),
      "case": str(procedure.uuid), "csrf_cookie_name": settings.CSRF_COOKIE_NAME,
      "visit_cases": visit_cases}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, server: subprocess.Popen[bytes], limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"pdva serve exited with {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(base + "/health/ready", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    raise RuntimeError(f"/health/ready not 200 within {limit_s:.0f} s")


def stop(server: subprocess.Popen[bytes]) -> None:  # or a worker
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    except ProcessLookupError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its live children (gunicorn's workers)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_cpu_seconds() -> float:
    """CPU seconds of the running PostgreSQL processes (backends that ended are not counted)."""
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "postmaster"):
            try:
                times = proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += times.user + times.system
    return total


def run_locust(
    ws: Workspace,
    base: str,
    config: Path,
    tag: str,
    users: int,
    seconds: int,
    think: tuple[float, float],
    report: Report | None = None,
    watch: dict[str, int] | None = None,
) -> list[dict[str, str]]:
    """Run one phase; with ``watch`` (name: pid), report each process tree's CPU use during it, with
    locust's own and PostgreSQL's: on 2 shared cores, where the time goes."""
    watch = watch or {}
    before = {name: cpu_seconds(pid) for name, pid in watch.items()}
    pg_before = postgres_cpu_seconds()
    prefix = ws.path(f"locust_{tag}")
    env = dict(os.environ, BENCH_LOAD_CONFIG=str(config))
    env.update(BENCH_LOAD_THINK_MIN=str(think[0]), BENCH_LOAD_THINK_MAX=str(think[1]))
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        LOCUSTFILE,
        "--headless",
        "-u",
        users,
        "-r",
        max(1, users // 10),
    ]
    argv += ["-t", f"{seconds}s", "--host", base, "--csv", prefix, "--only-summary", "--stop-timeout", "10"]
    started = time.perf_counter()
    run = run_command(argv, env=env, cwd=ROOT, timeout=seconds + 120)
    wall = time.perf_counter() - started
    if report is not None and watch:
        used = {name: cpu_seconds(pid) - before[name] for name, pid in watch.items()}
        used["locust"] = run.cpu_s
        used["postgresql"] = postgres_cpu_seconds() - pg_before
        shares = ", ".join(f"{name} {100 * cpu / wall:.0f}%" for name, cpu in used.items())
        report.info(f"CPU during the {tag} phase ({wall:.0f} s), % of one core: {shares}")
    failures = Path(f"{prefix}_failures.csv")
    if report is not None and failures.exists():
        with failures.open(encoding="utf-8") as fh:
            for row in sorted(csv.DictReader(fh), key=lambda r: -int(r["Occurrences"]))[:10]:
                report.info(
                    f"  failure x{row['Occurrences']}: {row['Method']} {row['Name']}: {row['Error'][:300]}"
                )
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust wrote no statistics ({run.why()})\n{run.stderr[-2000:]}")
    with stats.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def record_phase(
    report: Report, phase: str, rows: list[dict[str, str]], p95_limit: float, errors: bool
) -> None:
    report.info(f"\n{phase}: page, requests, failures, p50/p95/p99 ms, req/s")
    for row in rows:
        report.info(
            f"  {row['Name']:<26} {row['Request Count']:>6} {row['Failure Count']:>5} "
            f"{row['50%']:>6}/{row['95%']:>6}/{row['99%']:>6} {float(row['Requests/s']):7.2f}"
        )
    for row in rows:
        if row["Name"] == "Aggregated":
            if errors:
                report.target(f"{phase}: errors (all pages)", float(row["Failure Count"]), 0, "", "<=")
            continue
        p95 = float(row["95%"]) if int(row["Request Count"]) else None
        report.target(f"{phase}: {row['Name']} p95", p95, p95_limit, "ms", "<")
        if errors and int(row["Failure Count"]):  # noqa: SIM102
            report.info(f"  {row['Name']}: {row['Failure Count']} failures")
    answered = {row["Name"] for row in rows}
    for name in PAGES:
        if name not in answered:
            report.target(f"{phase}: {name} p95", None, p95_limit, "ms", "<", note="no request completed")


def saved_visits(rows: list[dict[str, str]]) -> int:
    return sum(
        int(r["Request Count"]) - int(r["Failure Count"]) for r in rows if r["Name"] == "save followup visit"
    )


def check_saved_visits(report: Report, db: Database, before_id: int, saved: int) -> None:
    """Every visit the journeys saved is a new row, and every new row has its audit entry (the web path,
    nothing bypassed). There may be more rows than counted saves: a journey stopped at the end of a phase
    after its POST was sent is never told the answer."""
    rows = pg_query(db, "SELECT count(*) FROM registry_followupvisit WHERE id > %s", [before_id])[0][0]
    audited = pg_query(
        db,
        "SELECT count(DISTINCT object_id) FROM audit_auditentry WHERE action = 'registry.followupvisit.created' "
        "AND object_id::bigint > %s",
        [before_id],
    )[0][0]
    report.info(
        f"follow-up visits saved by the journeys: {saved}; new rows {rows}; audited creations {audited}"
    )
    report.target("saved visits not stored", max(0, saved - rows), 0, "", "<=")
    report.target("new visits without an audit entry", rows - audited, 0, "", "<=")


def time_pdf_request(base: str, config: dict, repeats: int = 5) -> tuple[float, str]:
    """Slowest of ``repeats`` requests for the site's governance PDF (each should only enqueue a job), and
    the job page the last one pointed to."""
    cookie = f"{config['cookie_name']}={config['sessions']['alice']}"
    url = f"{base}/reports/site/{config['site_id']}/governance.pdf"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    worst, location = 0.0, ""
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            with opener.open(urllib.request.Request(url, headers={"Cookie": cookie}), timeout=60) as resp:
                status, location = resp.status, resp.headers.get("Location", "")
        except urllib.error.HTTPError as exc:
            status, location = exc.code, exc.headers.get("Location", "")
        elapsed = (time.perf_counter() - started) * 1000
        if status not in (200, 302, 303):
            raise RuntimeError(f"PDF request answered HTTP {status}")
        worst = max(worst, elapsed)
    return worst, location


def wait_pdf_ready(base: str, config: dict, job_page: str, limit_s: float = 600.0) -> float:
    """Seconds until the job's PDF downloads (the worker built it), polling as the job page does."""
    if "/jobs/" not in job_page:
        raise RuntimeError(f"the PDF request did not point to a job page (Location {job_page!r})")
    cookie = f"{config['cookie_name']}={config['sessions']['alice']}"
    download = urllib.parse.urljoin(base, job_page.rstrip("/") + "/download/")
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(download, headers={"Cookie": cookie}), timeout=30
            ) as resp:
                if resp.status == 200 and resp.read(5) == b"%PDF-":
                    return time.monotonic() - started
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404 until the job has a result; 410: its file is not where the web reads
                raise RuntimeError(f"PDF download answered HTTP {exc.code}") from None
        time.sleep(1)
    raise RuntimeError(f"the PDF job had no result after {limit_s:.0f} s")


def main(quick: bool, report: Report) -> None:
    scale = Scale.chosen("BENCH_LOAD", quick, Scale(3, 300, 8))
    users = int(os.environ.get("BENCH_LOAD_USERS", 50))
    seconds = int(os.environ.get("BENCH_LOAD_SECONDS", 60 if quick else 180))
    # pdva serve's own defaults (2 x cores + 1 sync workers) unless told: the configuration a site gets.
    web_workers = os.environ.get("BENCH_LOAD_WEB_WORKERS", "").strip()
    web_threads = os.environ.get("BENCH_LOAD_WEB_THREADS", "").strip()
    serve_options = [
        *(["--workers", web_workers] if web_workers else []),
        *(["--threads", web_threads] if web_threads else []),
    ]
    report.info(
        f"load: {scale.sites} sites, {scale.patients} patients, {scale.years} years; {users} users; "
        f"pdva serve {web_workers or 'default'} workers x {web_threads or 'default'} threads"
    )
    template = os.environ.get("BENCH_LOAD_TEMPLATE", "").strip()
    with Workspace("load") as ws:
        if template:
            # A registry seeded earlier (seeding 50,000 patients takes minutes), with its keys: copied, migrated.
            keys = Path(os.environ.get("BENCH_LOAD_TEMPLATE_KEYS", ""))
            if not keys.is_dir() or not list(keys.glob("*.key")):
                raise RuntimeError(
                    "BENCH_LOAD_TEMPLATE_KEYS must name the folder holding the template's keys (the PDVA_VAR_DIR "
                    "it was seeded with): without its identity key no identifier can be read"
                )
            var = ws.path("var")
            var.mkdir(parents=True, exist_ok=True)
            for key in keys.glob("*.key"):
                shutil.copy2(key, var / key.name)
            db: Database = ws.pg(template=template)
            report.info(f"copied from {template} (its own cohort size, not BENCH_LOAD_PATIENTS)")
            ws.pdva(["migrate", "--noinput"], db, timeout=900).check()
        else:
            db = ws.pg()
            ws.pdva(["migrate", "--noinput"], db, timeout=900).check()
            seeded = ws.pdva(
                ["seed", "--sites", scale.sites, "--patients", scale.patients, "--years", scale.years],
                db,
                timeout=3600,
            ).check()
            report.info(f"seeded in {seeded.wall_s:.1f} s")
        # What the worker keeps current in production: cases loaded in bulk checked for completeness, and
        # every report snapshot computed, so the pages are timed as users meet them (not a first computation).
        prepared = ws.pdva(["completeness", "--unchecked"], db, timeout=3600).check()
        report.info(f"case completeness in {prepared.wall_s:.1f} s")
        prepared = ws.pdva(["snapshots", "--all", "--stale"], db, timeout=3600).check()
        report.info(f"report snapshots in {prepared.wall_s:.1f} s")
        started = time.perf_counter()
        pg_query(db, "ANALYZE")  # planner statistics, as autovacuum keeps them on a registry in use
        report.info(f"ANALYZE in {time.perf_counter() - started:.1f} s")
        made = ws.pdva(["shell", "-c", MAKE_USERS], db, timeout=300).check()
        line = next(x for x in made.stdout.splitlines() if x.startswith("BENCH "))
        config = json.loads(line[len("BENCH ") :])
        config_path = ws.path("load.json")
        config_path.write_text(json.dumps(config), encoding="utf-8")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = ws.path("serve.log").open("wb")
        # The test settings run jobs inline, each process with its own results folder: here the queue, and one
        # folder the worker writes and the server reads (as on one machine, or a shared volume).
        jobs_env = ws.env(db, PDVA_JOBS_RUN="queue", PDVA_JOBS_DIR=str(ws.path("jobs")))
        server = subprocess.Popen(
            [
                pdva_command(),
                "serve",
                "--bind",
                f"127.0.0.1:{port}",
                *serve_options,
            ],
            env=jobs_env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker_log = ws.path("worker.log").open("wb")
        worker = subprocess.Popen(  # PDFs, emails and snapshot refreshes the pages queue
            [pdva_command(), "worker"],
            env=jobs_env,
            cwd=ROOT,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        visits_before = pg_query(db, "SELECT coalesce(max(id), 0) FROM registry_followupvisit")[0][0]
        saved = 0  # follow-up visits the clinician's journey saved (redirected to the case page)
        try:
            wait_ready(base, server)
            watch = {"pdva serve": server.pid, "pdva worker": worker.pid}
            rows = run_locust(
                ws, base, config_path, "single", 1, max(20, seconds // 3), (0.0, 0.0), report, watch
            )
            record_phase(report, "1 user", rows, SINGLE_P95_MS, errors=False)
            saved += saved_visits(rows)
            try:  # on the idle server, before the concurrent phase leaves a backlog behind
                pdf_ms, job_page = time_pdf_request(base, config)
                why = ""
            except (OSError, RuntimeError) as exc:
                pdf_ms, job_page, why = None, "", f"{type(exc).__name__}: {exc}"
            report.target("PDF request (slowest of 5)", pdf_ms, PDF_MS, "ms", "<", note=why)
            if pdf_ms is not None:
                try:
                    report.info(
                        f"PDF ready as a job {wait_pdf_ready(base, config, job_page):.1f} s after the request"
                    )
                except (OSError, RuntimeError) as exc:
                    note = f"{type(exc).__name__}: {exc}"
                    report.target("PDF ready as a job", None, 600, "s", "<", note=note)
                    worker_log.flush()
                    tail = ws.path("worker.log").read_text(encoding="utf-8", errors="replace")[-3000:]
                    report.info(f"worker log tail:\n{tail}")
            rows = run_locust(ws, base, config_path, "concurrent", users, seconds, (1.0, 3.0), report, watch)
            record_phase(report, f"{users} users", rows, CONCURRENT_P95_MS, errors=True)
            saved += saved_visits(rows)
            check_saved_visits(report, db, visits_before, saved)
        finally:
            stop(server)
            stop(worker)
            log.close()
            worker_log.close()
            tail = ws.path("serve.log").read_text(encoding="utf-8", errors="replace")[-1500:]
            if server.returncode not in (0, -signal.SIGTERM):
                report.info(f"pdva serve exit {server.returncode}; log tail:\n{tail}")


if __name__ == "__main__":
    cli(main, "load", __doc__)
