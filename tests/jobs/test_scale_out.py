"""Scale-out on PostgreSQL: two `pdva serve` instances and two `pdva worker` processes on one database.
Clinical records are saved through both servers while the workers run jobs, and one worker is killed with
SIGKILL in the middle of a job. No save is lost or doubled (each has its one audit entry, the chain
verifies), every job still completes exactly once (the killed one is retried by the other worker), and a
scheduled job is deferred once per period although both workers schedule it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.capture.forms import records as capture_forms
from pdva.jobs import services
from pdva.jobs.models import Job
from pdva.registry import models as m
from tests.capture.conftest import post_data
from tests.conftest import verified_client
from tests.core.test_serve import fetch, pdva_serve
from tests.factories import ProcedureFactory
from tests.jobs.conftest import TRANSACTIONAL

JOBS = 6
SAVES = 8  # follow-up visits saved through the two servers, half through each, at the same time
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PROBE_SECONDS = 2.0
CLEANUP_EVERY = 4  # seconds: a scheduled job with a short period, to watch several periods go by


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _wait(what: str, check: Callable[[], Any], timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pdva", "worker"],
        env=env,
        cwd=os.getcwd(),  # the same var/ (development keys) as this test process
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _save_visit(port: int, session_cookie: str, case: m.Procedure) -> int:
    """Save a new follow-up visit of ``case`` through the server on ``port`` as a browser does: open the
    form (CSRF token and cookie), post it. Returns the POST's status (302 when saved)."""
    url = f"/cases/visit/new/{case.uuid}/"
    status, headers, body = fetch(port, url, {"Cookie": session_cookie})
    assert status == 200, (status, body[:500])
    token = CSRF_INPUT.search(body.decode()).group(1)
    csrf_cookie = re.search(r"csrftoken=([^;]+)", headers.get("set-cookie", "")).group(1)
    form = capture_forms.VisitForm(instance=m.FollowUpVisit(procedure=case), parent=case)
    data = post_data(form)
    data.update(
        {
            form.add_prefix("visit_date"): (case.procedure_date + dt.timedelta(days=20)).isoformat(),
            form.add_prefix("timepoint"): "unscheduled",
            form.add_prefix("contact_mode"): "telephone",
            "csrfmiddlewaretoken": token,
        }
    )
    body = urllib.parse.urlencode(data, doseq=True)
    status, _, answer = fetch(
        port,
        url,
        {
            "Cookie": f"{session_cookie}; csrftoken={csrf_cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(len(body)),
        },
        method="POST",
        body=body,
    )
    assert status == 302, (status, answer[:2000])
    return status


@TRANSACTIONAL
def test_two_servers_two_workers_one_killed_mid_job_nothing_lost_or_doubled(
    queue_mode, settings, tmp_path, alice, site_a
):
    cases = [ProcedureFactory(patient__site=site_a) for _ in range(SAVES)]
    client = verified_client(alice)
    session_cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    env = {
        **os.environ,
        "PDVA_ENV": "test",
        "PDVA_DATABASE_URL": _database_url(),
        "PDVA_JOBS_RUN": "queue",
        "PDVA_JOBS_DIR": str(settings.PDVA_JOBS_DIR),
        "PDVA_JOBS_STALLED_SECONDS": "3",  # heartbeat every second; silent for 3 s = presumed dead
        "PDVA_JOBS_SWEEP_CRON": "* * * * * */2",
        "PDVA_JOBS_CRON": f"jobs.cleanup=* * * * * */{CLEANUP_EVERY}",
        "PDVA_JOBS_RETRY_SECONDS": "1",
    }
    logs = [
        tmp_path / "worker-a.log",
        tmp_path / "worker-b.log",
        tmp_path / "serve-1.log",
        tmp_path / "serve-2.log",
    ]
    a, b = _start_worker(env, logs[0]), _start_worker(env, logs[1])
    saved: list[int] = []
    with contextlib.ExitStack() as servers:
        ports = [
            servers.enter_context(pdva_serve(env, log, "--workers", "1", "--no-collectstatic")).port
            for log in logs[2:]
        ]
        try:
            _wait(
                "both workers to register",
                lambda: _rows("SELECT count(*) FROM procrastinate_workers")[0][0] >= 2,
                90,
                logs,
            )
            started = time.time()
            jobs = [services.enqueue("jobs.probe", seconds=PROBE_SECONDS) for _ in range(JOBS)]
            writers = [
                threading.Thread(
                    target=lambda port=ports[n % 2], case=case: saved.append(
                        _save_visit(port, session_cookie, case)
                    )
                )
                for n, case in enumerate(cases)
            ]
            for writer in writers:
                writer.start()

            def running_on_a() -> Job | None:
                return Job.objects.filter(
                    pk__in=[j.pk for j in jobs], state=Job.RUNNING, runner__endswith=f":{a.pid}"
                ).first()

            victim = _wait("worker A to be in the middle of a job", running_on_a, 60, logs)
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=10)
            for writer in writers:
                writer.join(timeout=120)

            def all_done() -> bool:
                return Job.objects.filter(pk__in=[j.pk for j in jobs], state=Job.SUCCEEDED).count() == JOBS

            _wait("every job to complete on worker B", all_done, 90, logs)
            # let the schedule run a few periods with worker B (and, before the kill, both)
            _wait(
                "several scheduled periods",
                lambda: Job.objects.filter(kind="jobs.cleanup").count() >= 3,
                60,
                logs,
            )
            periods_seen = time.time() - started
        finally:
            _stop(b)
            if a.poll() is None:
                a.kill()
                a.wait(timeout=10)

    # every save through either server is there once, with its one audit entry, in an intact chain
    assert saved == [302] * SAVES
    visits = m.FollowUpVisit.objects.filter(procedure__in=cases)
    assert sorted(v.procedure_id for v in visits) == sorted(c.pk for c in cases)
    created = AuditEntry.objects.filter(
        object_type="registry.followupvisit", object_id__in=[str(v.pk) for v in visits]
    )
    assert created.count() == SAVES and {e.actor_id for e in created} == {alice.pk}
    assert verify_chain() == AuditEntry.objects.count()  # raises ChainBreak naming a bad entry

    # every job completed exactly once; only the killed one needed a second attempt, by worker B
    done = {j.pk: Job.objects.get(pk=j.pk) for j in jobs}
    assert {j.state for j in done.values()} == {Job.SUCCEEDED}
    assert done[victim.pk].attempts == 2 and done[victim.pk].result["pid"] == b.pid
    assert sorted(j.attempts for pk, j in done.items() if pk != victim.pk) == [1] * (JOBS - 1)
    for job in done.values():
        assert services.result_file(job).read_text().startswith(f"probe {job.pk} finished")
    events = dict(
        _rows(
            "SELECT j.id, array_agg(e.type::text ORDER BY e.id) FROM procrastinate_jobs j "
            "JOIN procrastinate_events e ON e.job_id = j.id WHERE j.task_name = 'pdva:run_job' GROUP BY j.id"
        )
    )
    assert len(events) == JOBS
    assert all(types.count("succeeded") == 1 for types in events.values()), events
    assert events[done[victim.pk].queue_job_id].count("started") == 2  # killed, then retried

    # the scheduled job: one procrastinate job per period, however many workers deferred it
    per_period = _rows(
        "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
        "WHERE task_name = 'pdva:run_periodic' AND args->>'kind' = 'jobs.cleanup' GROUP BY 1"
    )
    assert len(per_period) >= 3 and all(n == 1 for _, n in per_period), per_period
    assert len(per_period) <= periods_seen / CLEANUP_EVERY + 3  # no period invented either
    cleanup_jobs = Job.objects.filter(kind="jobs.cleanup")
    assert cleanup_jobs.count() == len(set(cleanup_jobs.values_list("dedupe_key", flat=True)))
