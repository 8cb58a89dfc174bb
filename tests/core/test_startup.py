"""Start-up stays light: loading the apps and the URLconf (what every pdva command, job and test process does)
imports none of the heavy analysis and document libraries. They are imported where they are used, so
`pdva check` does not pay seconds of CPU for pandas, scipy, matplotlib or WeasyPrint it never calls.

Checked by module presence in a fresh interpreter, not by timing (timings flake on a busy machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "matplotlib",
    "weasyprint",
    "statsmodels",
    "fhir",
    "openpyxl",
    "pyarrow",
    "lxml",
)

# Runs in a fresh interpreter: the test process itself has long since imported everything.
PROBE = """
import importlib, io, json, sys
from contextlib import redirect_stdout
import django
from django.conf import settings
django.setup()
importlib.import_module(settings.ROOT_URLCONF)
from django.urls import get_resolver
get_resolver().url_patterns
from pdva.cli import main
with redirect_stdout(io.StringIO()):
    main(["pdva", "help"])
    main(["pdva", "check"])
{extra}
heavy = {heavy!r}
print(json.dumps({{
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy),
    "urlconf_views_loaded": "pdva.reports.views" in sys.modules and "pdva.proms.views" in sys.modules,
}}))
"""


def _probe(extra: str = "") -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "pdva.settings"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(extra=extra, heavy=HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,  # generous: only a hang should trip it, never a busy machine
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_apps_urlconf_and_check_import_no_heavy_library():
    found = _probe()
    assert found["urlconf_views_loaded"], "the probe did not load the URLconf's views"
    tops = sorted({m.split(".")[0] for m in found["heavy"]})
    assert tops == [], f"imported at start-up (import them inside the function that uses them): {tops}"


def test_the_probe_sees_a_heavy_import_when_one_happens():
    # The check of the check: a report service does import pandas, and the probe reports it.
    found = _probe(extra="import pdva.reports.services.site")
    assert "pandas" in found["heavy"]
