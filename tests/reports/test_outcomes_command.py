"""`pdva outcomes --format json`: the endpoint table with strata; national scope is suppressed."""

from __future__ import annotations

import io
import json

from django.core.management import call_command


def _json(*args):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    call_command("outcomes", "--format", "json", "--cutoff", "2026-01-01", *args, stdout=out)
    return json.loads(out.getvalue())


def test_national_json_has_strata_provenance_and_no_small_counts(cohort):  # type: ignore[no-untyped-def]
    doc = _json()
    assert doc["scope"] == "national" and doc["small_number_suppression"] is True
    assert doc["provenance"]["data_cutoff"] == "2026-01-01" and doc["provenance"]["software_version"]
    assert doc["provenance"]["reference_tables"]["wifi_clinical_stage"]
    strata = {r["stratum"] for r in doc["rows"]}
    assert {
        "all",
        "site",
        "operator",
        "dialysis",
        "technique",
        "rutherford",
        "wifi_stage",
        "sex",
        "age_band",
        "ethnicity",
        "imd_quintile",
    } <= strata
    for r in doc["rows"]:
        for col in ("n", "events"):
            assert r[col] is None or r[col] == 0 or r[col] >= 5, r
        if r["kind"] != "rate":
            assert r["n_risk"] is None or r["n_risk"] == 0 or r["n_risk"] >= 5, r
        if r["suppressed"]:
            assert r["estimate"] is None
    assert any(r["suppressed"] for r in doc["rows"])


def test_site_json_is_not_suppressed(cohort):  # type: ignore[no-untyped-def]
    doc = _json("--site", "ZZA", "--strata", "all,dialysis")
    assert doc["scope"] == "site" and not doc["small_number_suppression"]
    assert {r["stratum"] for r in doc["rows"]} == {"all", "dialysis"}
    afs = [r for r in doc["rows"] if r["endpoint"] == "afs" and r["stratum"] == "all"]
    assert [r["timepoint"] for r in afs] == ["30 days", "6 months", "12 months", "2 years"]
    assert all(r["n_risk"] is not None for r in afs)


def test_json_has_prom_change_and_completion_by_stratum(cohort):  # type: ignore[no-untyped-def]
    doc = _json("--strata", "all,dialysis")
    change = [r for r in doc["rows"] if r["kind"] == "change"]
    assert {r["endpoint"] for r in change} == {
        "prom_change_eq5d_index",
        "prom_change_eq5d_vas",
        "prom_change_vq6_total",
        "prom_change_pain_nrs",
    }
    assert {r["timepoint"] for r in change} <= {"3 months", "6 months", "12 months"}
    assert {r["stratum"] for r in change} == {"all", "dialysis"}
    for r in change:
        if r["suppressed"]:
            assert r["estimate"] is None and r["median"] is None and r["n"] is None
        else:
            assert r["n"] >= 5 and r["lower"] <= r["estimate"] <= r["upper"] and r["median"] is not None
    overall = [r for r in change if r["stratum"] == "all" and not r["suppressed"]]
    assert overall, "the seeded cohort has PROM pairs"
    completion = [r for r in doc["rows"] if r["endpoint"].startswith("prom_completion_")]
    assert {r["timepoint"] for r in completion} >= {"3 months", "6 months", "12 months"}
    assert all(r["kind"] == "proportion" for r in completion)
