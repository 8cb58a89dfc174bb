"""pdva worker [--until-idle] : run background jobs (report PDFs, exports, imports, emails, the schedule).

On PostgreSQL this is a procrastinate worker: run as many as you like, on any machines. On SQLite it runs the
Job rows of the local database. --until-idle runs what is queued (and the scheduled jobs whose period has
started) and exits: for cron, scripts and tests.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

POLL_SECONDS = 2.0


class Command(BaseCommand):
    help = "Run background jobs: forever (a service), or with --until-idle until the queue is empty."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--until-idle", action="store_true", help="run what is queued, then exit")
        parser.add_argument(
            "--no-schedule", action="store_true", help="do not start scheduled jobs (daily run, digests, ...)"
        )
        parser.add_argument(
            "--concurrency",
            type=int,
            default=1,
            help="jobs at once (PostgreSQL; default 1: jobs are CPU-bound)",
        )
        parser.add_argument(
            "--nice",
            type=int,
            default=10,
            help="scheduling niceness added to this process (default 10: on a machine shared with "
            "`pdva serve`, pages get the CPU before report computations; 0 keeps the current priority)",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from pdva.jobs.services import run_mode

        mode = run_mode()
        if opts["nice"]:
            os.nice(opts["nice"])
        periodic = not opts["no_schedule"]
        if mode == "queue":
            from pdva.jobs.tasks import run_worker

            self.stderr.write(
                f"pdva worker: procrastinate queue{' until idle' if opts['until_idle'] else ''}"
            )
            run_worker(
                until_idle=opts["until_idle"],
                periodic=periodic,
                concurrency=max(1, opts["concurrency"]),
                install_signal_handlers=not opts["until_idle"],
            )
            return
        if opts["until_idle"]:
            self._local_once(periodic)
        else:
            self._local_forever(periodic)

    def _local_once(self, periodic: bool) -> None:
        from pdva.jobs import runner, services

        created = services.queue_due_periodic() if periodic else []
        ran = runner.run_due_jobs()
        self.stdout.write(f"pdva worker: {ran} job(s) run, {len(created)} scheduled job(s) started")

    def _local_forever(self, periodic: bool) -> None:
        from django.db import close_old_connections

        from pdva.jobs import runner, services

        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Finish the job in hand, then stop (a job cut short is retried, but why waste it).
            signal.signal(sig, lambda *_: stop.set())
        self.stderr.write("pdva worker: running jobs from the local database (Ctrl-C to stop)")
        while not stop.is_set():
            if periodic:
                services.queue_due_periodic()
            while not stop.is_set() and runner.run_due_jobs(limit=1):
                pass
            close_old_connections()
            wait = runner.next_due_in()
            stop.wait(POLL_SECONDS if wait is None else min(max(wait, 0.1), POLL_SECONDS))
        self.stderr.write("pdva worker: stopped")
