"""Locust journeys for bench/bench_load.py: each simulated user is one of the bench's signed-in staff
(session cookies made by the bench, never a login bypass) and opens the pages that role opens; the
clinician also saves a new follow-up visit through the capture form (a real, audited write).

Configuration comes from ``BENCH_LOAD_CONFIG`` (a JSON file the bench writes): sessions, site ids and the
patient/case to open. Page names are the URL patterns, so per-page statistics group across ids.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re

from locust import HttpUser, between, task

CONFIG = json.loads(open(os.environ["BENCH_LOAD_CONFIG"], encoding="utf-8").read())
THINK = float(os.environ.get("BENCH_LOAD_THINK_MIN", "1")), float(os.environ.get("BENCH_LOAD_THINK_MAX", "3"))


ROLES = sorted(CONFIG["sessions"])  # alice (site clinician), auditor, datamanager
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_ERROR = re.compile(r'<p class="error">(.*?)</p>', re.S)
SAVES = itertools.count()  # visits saved by this locust process: each gets its own case and date

# A face-to-face follow-up of a healing wound with a patent circuit (VisitForm's fields, its prefix).
VISIT = {
    "timepoint": "unscheduled",  # no time-point window, so any day after the procedure is free of warnings
    "contact_mode": "face_to_face",
    "alive": "yes",
    "index_limb_status": "intact",
    "rutherford": "5",
    "wifi_w": "1",
    "wifi_i": "1",
    "wifi_fi": "0",
    "wifi_i_basis": "toe_pressure",
    "wound_status": "healing",
    "wound_area_total_cm2": "3.5",
    "pain_nrs": "3",
    "oedema": "mild",
    "circuit_patency": "patent",
    "duplex_psv_max_cm_s": "180",
    "duplex_psv_ratio": "1.8",
    "duplex_volume_flow_ml_min": "350",
    "toe_pressure_mmhg": "45",
    "tcpo2_mmhg": "38",
    "worsening_perfusion": "no",
    "ambulatory_status": "with_aid",
    "new_events_since_last": "no",
    "notes": "Wound smaller than at the last visit; circuit patent on duplex.",
}


def next_visit() -> tuple[str, str]:
    """(case uuid, visit date) for the next save: the cases in turn, each date a different day after the
    procedure and before today (visits have no uniqueness rule; varied dates keep the data realistic)."""
    n = next(SAVES)
    cases = CONFIG["visit_cases"]
    case = cases[n % len(cases)]
    done = dt.date.fromisoformat(case["procedure_date"])
    span = (dt.date.today() - done).days  # >= 30: the bench picks cases done a month or more ago
    return case["uuid"], (done + dt.timedelta(days=1 + (n // len(cases)) * 7 % (span - 1))).isoformat()


class Staff(HttpUser):
    """Each journey is one role's round of pages, with the think time between pages; the roles take turns
    (each simulated user starts at a different one), so even a single user's phase times every page."""

    wait_time = between(*THINK)
    started = 0  # simulated users started so far (class-wide): where each one's turn begins

    def on_start(self) -> None:
        self.turn = Staff.started
        Staff.started += 1

    def think(self) -> None:
        """A person reads the page before the next click: the think time falls between page views (a
        journey of 15 pages fired back to back would make each user a busy client, not a person)."""
        self.wait()

    def page(self, url: str, name: str, **headers: str) -> None:
        with self.client.get(
            url, name=name, headers=headers or None, allow_redirects=False, catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"{self.who}: HTTP {resp.status_code}")
        self.think()

    def save_visit(self) -> None:
        """Open the new follow-up visit form of a case and save a visit through it, as the browser does
        (CSRF token from the page and its cookie): a real, audited visit; success is the redirect to the case page."""
        case, when = next_visit()
        url = f"/cases/visit/new/{case}/"
        with self.client.get(
            url, name="followup visit form", allow_redirects=False, catch_response=True
        ) as resp:
            token = CSRF_FIELD.search(resp.text) if resp.status_code == 200 else None
            if resp.status_code != 200:
                resp.failure(f"{self.who}: HTTP {resp.status_code}")
                return
            if token is None or CONFIG["csrf_cookie_name"] not in self.client.cookies:
                resp.failure(f"{self.who}: no CSRF token in the form page or no CSRF cookie")
                return
        self.think()  # filling in the form
        data = {"csrfmiddlewaretoken": token.group(1), "followupvisit-visit_date": when}
        data.update({f"followupvisit-{k}": v for k, v in VISIT.items()})
        with self.client.post(
            url, data=data, name="save followup visit", allow_redirects=False, catch_response=True
        ) as resp:
            where = resp.headers.get("Location", "").split("#")[0]
            if resp.status_code in (302, 303) and where != f"/cases/case/{case}/":
                resp.failure(f"{self.who}: HTTP {resp.status_code} to {where!r}, not the case page")
            elif resp.status_code not in (302, 303):  # 200: the form back with its errors
                errors = "; ".join(e.strip() for e in FORM_ERROR.findall(resp.text)[:3])
                resp.failure(
                    f"{self.who}: HTTP {resp.status_code} (visit {when} on case {case}) {errors}".strip()
                )

    @task
    def journey(self) -> None:
        c = CONFIG
        site = c["site_id"]
        self.who = ROLES[self.turn % len(ROLES)]
        self.turn += 1
        # A fresh cookie jar per journey: the server re-sends the session cookie (host-scoped) when it
        # saves the session, and a jar holding that beside the next role's cookie would send both, so a
        # journey could run as the previous role (seen as 403s on the clinician's visit form).
        self.client.cookies.clear()
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
        else:  # the clinician records a visit, then her systems read the API with her token (no cookie)
            self.save_visit()
            self.client.cookies.clear()
            bearer = {"Authorization": f"Bearer {c['api_token']}"}
            self.page("/api/v1/patients", "api patients", **bearer)
            self.page("/api/v1/procedures", "api procedures", **bearer)
            self.page("/api/v1/worklists/followups", "api followup worklist", **bearer)
