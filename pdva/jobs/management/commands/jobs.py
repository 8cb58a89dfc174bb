"""pdva jobs schedule | list | probe : the scheduled jobs, recent jobs, and a check that workers run jobs."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Background jobs: the schedule (when each runs next), recent jobs, or a probe job."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("schedule", help="Scheduled jobs: cron (UTC), next and last run")
        recent = sub.add_parser("list", help="Recent jobs, newest first")
        recent.add_argument("--limit", type=int, default=20)
        recent.add_argument("--state", choices=["queued", "running", "succeeded", "failed"])
        probe = sub.add_parser(
            "probe", help="Queue a job that waits SECONDS, and wait for a worker to run it"
        )
        probe.add_argument("--seconds", type=float, default=0.0)
        probe.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
        probe.add_argument("--no-wait", action="store_true", help="queue it and return its id")

    def handle(self, *args: Any, **opts: Any) -> None:
        getattr(self, "handle_" + opts["action"])(**opts)

    def handle_schedule(self, **_: Any) -> None:
        from django.conf import settings

        from pdva.jobs import schedule
        from pdva.jobs.models import Job
        from pdva.jobs.services import run_mode

        mode = run_mode()
        runs_by = {
            "queue": "procrastinate: every `pdva worker` defers each period once (database unique lock)",
            "thread": "`pdva worker` (or cron: `pdva worker --until-idle` every few minutes)",
            "worker": "`pdva worker` (or cron: `pdva worker --until-idle` every few minutes)",
            "inline": "`pdva worker --until-idle`",
        }[mode]
        self.stdout.write(f"Scheduled jobs (cron in UTC), started by {runs_by}:")
        now = time.time()
        for periodic in schedule.entries():
            last = (
                Job.objects.filter(kind=periodic.kind, dedupe_key__isnull=False)
                .order_by("-created_at")
                .first()
            )
            last_text = (
                f"last {last.created_at:%Y-%m-%d %H:%M} UTC {last.state}"
                if last is not None
                else "not run yet"
            )
            nxt = schedule.as_datetime(periodic.next_tick(now))
            self.stdout.write(
                f"  {periodic.kind:<22} {periodic.cron:<18} next {nxt:%Y-%m-%d %H:%M} UTC; {last_text}\n"
                f"      {periodic.description}"
            )
        if mode == "queue":
            self.stdout.write(
                f"  {'pdva:retry_stalled':<22} {settings.PDVA_JOBS_SWEEP_CRON:<18} puts back jobs of workers silent "
                f"for {settings.PDVA_JOBS_STALLED_SECONDS} s"
            )

    def handle_list(self, limit: int, state: str | None, **_: Any) -> None:
        from pdva.jobs.models import Job

        jobs = Job.objects.select_related("requested_by", "site")
        if state:
            jobs = jobs.filter(state=state)
        for job in jobs[:limit]:
            who = job.requested_by.get_username() if job.requested_by else "system"
            site = job.site.ods_code if job.site else "-"
            self.stdout.write(
                f"{job.pk:>6} {job.created_at:%Y-%m-%d %H:%M} {job.kind:<28} {job.state:<9} "
                f"attempts {job.attempts}/{job.max_attempts} {who} {site} {job.error[:80]}"
            )

    def handle_probe(self, seconds: float, timeout: float, no_wait: bool, **_: Any) -> None:
        from pdva.jobs.models import Job
        from pdva.jobs.services import enqueue, wait_for

        job = enqueue("jobs.probe", seconds=seconds)
        if no_wait:
            self.stdout.write(str(job.pk))
            return
        job = wait_for(job, timeout=timeout)
        if job.state != Job.SUCCEEDED:
            raise CommandError(
                f"probe job {job.pk} is {job.state} after {timeout:.0f} s: is a worker running?"
            )
        self.stdout.write(f"probe job {job.pk} done by {job.runner} after {job.attempts} attempt(s)")
