"""Locust journeys for bench/bench_load.py: each simulated user is one of the bench's signed-in staff
(session cookies made by the bench, never a login bypass) and opens the pages that role opens.

Configuration comes from ``BENCH_LOAD_CONFIG`` (a JSON file the bench writes): sessions, site ids and the
patient/case to open. Page names are the URL patterns, so per-page statistics group across ids.
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, task

CONFIG = json.loads(open(os.environ["BENCH_LOAD_CONFIG"], encoding="utf-8").read())
THINK = float(os.environ.get("BENCH_LOAD_THINK_MIN", "1")), float(os.environ.get("BENCH_LOAD_THINK_MAX", "3"))


class Staff(HttpUser):
    wait_time = between(*THINK)

    def on_start(self) -> None:
        self.who = random.choice(list(CONFIG["sessions"]))
        self.client.cookies.set(CONFIG["cookie_name"], CONFIG["sessions"][self.who])

    def page(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"{self.who}: HTTP {resp.status_code}")

    @task
    def journey(self) -> None:
        c = CONFIG
        site = c["site_id"]
        self.page("/", "home")
        if self.who == "auditor":
            self.page("/reports/national/", "reports national")
            self.page(f"/reports/site/{site}/", "reports site dashboard")
            self.page("/reports/", "reports index")
            return
        self.page("/cases/", "capture patients")
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
