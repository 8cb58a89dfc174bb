"""Locust journeys for bench/bench_load.py: each simulated user is one of the bench's signed-in staff
(session cookies made by the bench, never a login bypass) and opens the pages that role opens.

Configuration comes from ``BENCH_LOAD_CONFIG`` (a JSON file the bench writes): sessions, site ids and the
patient/case to open. Page names are the URL patterns, so per-page statistics group across ids.
"""

from __future__ import annotations

import json
import os

from locust import HttpUser, between, task

CONFIG = json.loads(open(os.environ["BENCH_LOAD_CONFIG"], encoding="utf-8").read())
THINK = float(os.environ.get("BENCH_LOAD_THINK_MIN", "1")), float(os.environ.get("BENCH_LOAD_THINK_MAX", "3"))


ROLES = sorted(CONFIG["sessions"])  # alice (site clinician), auditor, datamanager


class Staff(HttpUser):
    """Each journey is one role's round of pages; the roles take turns (each simulated user starts at a
    different one), so even a single user's phase times every page."""

    wait_time = between(*THINK)
    started = 0  # simulated users started so far (class-wide): where each one's turn begins

    def on_start(self) -> None:
        self.turn = Staff.started
        Staff.started += 1

    def page(self, url: str, name: str, **headers: str) -> None:
        with self.client.get(
            url, name=name, headers=headers or None, allow_redirects=False, catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"{self.who}: HTTP {resp.status_code}")

    @task
    def journey(self) -> None:
        c = CONFIG
        site = c["site_id"]
        self.who = ROLES[self.turn % len(ROLES)]
        self.turn += 1
        self.client.cookies.set(c["cookie_name"], c["sessions"][self.who])
        self.page("/", "home")
        if self.who == "auditor":
            self.page("/reports/national/", "reports national")
            self.page(f"/reports/site/{site}/", "reports site dashboard")
            self.page("/reports/", "reports index")
            return
        self.page("/cases/", "capture patients")
        self.page("/cases/?q=smith", "capture patients search")
        self.page("/cases/worklist/", "capture worklist")
        self.page(f"/cases/patients/{c['patient']}/", "patient page")
        self.page(f"/cases/case/{c['case']}/", "case page")
        self.page("/followup/", "followup worklist")
        self.page("/followup/compliance/", "followup compliance")
        self.page(f"/reports/site/{site}/", "reports site dashboard")
        self.page("/prom/", "prom index")
        self.page("/jobs/", "jobs")
        if self.who == "datamanager":
            self.page("/exports/", "exports")
            self.page("/prom/reports/", "prom reports")
        else:  # the clinician's systems read the API with her token (no session cookie)
            self.client.cookies.clear()
            bearer = {"Authorization": f"Bearer {c['api_token']}"}
            self.page("/api/v1/patients", "api patients", **bearer)
            self.page("/api/v1/procedures", "api procedures", **bearer)
            self.page("/api/v1/worklists/followups", "api followup worklist", **bearer)
