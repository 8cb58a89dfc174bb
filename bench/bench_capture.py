"""Benchmark the capture pages that grow with the cohort: the site worklist and the patient page.

    python bench/bench_capture.py           # 600 patients
    python bench/bench_capture.py --quick   # 90 patients

Each page is rendered through the full Django stack (signed-in client with a verified second factor) on a
dedicated SQLite file. The baseline, measured in the same run, is reading the rows the page needs with
values() (the floor). Reported: wall time, SQL queries and the ratio to the floor. Targets: worklist within
10x of the floor at each size; each page's query count the same at both cohort sizes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import Report, Workspace, cli  # noqa: E402


def _setup(db_url: str) -> None:
    os.environ["PDVA_DATABASE_URL"] = db_url
    os.environ.setdefault("PDVA_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pdva.settings")
    os.environ.setdefault("PDVA_AXES_ENABLED", "false")
    import django

    django.setup()


def _timed(fn, repeat: int = 3):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main(quick: bool, report: Report) -> None:
    sizes = (30, 90) if quick else (150, 600)
    with Workspace("capture") as ws:
        _setup(ws.sqlite().url)
        import datetime as dt

        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from pdva.accounts.models import Membership
        from pdva.audit.context import audit_context
        from pdva.registry import models as m
        from pdva.registry.synthetic import seed_cohort

        call_command("migrate", verbosity=0)
        cutoff = dt.date(2026, 6, 1)
        seeded = 0
        user = None
        client = Client()
        results = []
        for size in sizes:
            started = time.perf_counter()
            seed_cohort(sites=3, patients=size - seeded, years=5, seed=size, cutoff=cutoff)
            seeded = size
            print(f"cohort {size} patients (seeded in {time.perf_counter() - started:.1f} s)")
            site = m.Site.objects.order_by("ods_code").first()
            if user is None:
                user = get_user_model().objects.create_user("bench", password="bench password 1")
                with audit_context(label="system:bench", reason="benchmark user"):
                    Membership(user=user, site=site, role="site_clinician").save()
                client.force_login(user)
                device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
                session = client.session
                session["otp_device_id"] = device.persistent_id
                session.save()

            def floor(site=site) -> int:  # type: ignore[no-untyped-def]
                procs = m.Procedure.objects.filter(patient__site=site)
                rows = list(procs.values("pk", "uuid", "procedure_date", "patient__registry_id"))
                for model in (
                    m.Baseline,
                    m.ConsentGovernance,
                    m.FollowUpVisit,
                    m.AdverseEvent,
                    m.Reintervention,
                ):
                    rows += list(model.objects.filter(procedure__patient__site=site).values())
                return len(rows)

            def page(url: str):  # type: ignore[no-untyped-def]
                def get() -> int:
                    response = client.get(url)
                    assert response.status_code == 200, response.status_code
                    return len(response.content)

                return get

            base, nrows = _timed(floor)
            busiest = (
                m.Patient.objects.filter(site=site, procedures__isnull=False)
                .order_by("-procedures__visits__visit_date")
                .first()
            )
            for name, url in (
                ("worklist", "/cases/worklist/"),
                ("patient page", f"/cases/patients/{busiest.uuid}/"),
            ):
                page(url)()  # warm
                elapsed, size_bytes = _timed(page(url))
                with CaptureQueriesContext(connection) as queries:
                    page(url)()
                results.append((size, name, len(queries)))
                print(
                    f"  {name}: {elapsed * 1000:.0f} ms, {len(queries)} queries, {size_bytes // 1024} KiB; "
                    f"floor {base * 1000:.0f} ms for {nrows} rows; ratio {elapsed / base:.1f}x"
                )
                if name == "worklist":
                    report.target(f"worklist at {size} patients / floor", elapsed / base, 10, "x")
        by_page: dict[str, set[int]] = {}
        for _, name, n in results:
            by_page.setdefault(name, set()).add(n)
        for name, counts in by_page.items():
            print(
                f"{name}: query count {'constant' if len(counts) == 1 else 'VARIES'} across cohorts {sorted(counts)}"
            )
            report.target(
                f"{name}: query count growth {sizes[0]} -> {sizes[-1]} patients",
                max(counts) - min(counts),
                0,
                "queries",
                "==",
            )


if __name__ == "__main__":
    cli(main, "capture", __doc__)
