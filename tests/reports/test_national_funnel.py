"""Funnel construction: exact-binomial flags, over-dispersion, and small sites hidden from the plot."""

from __future__ import annotations

import pandas as pd

from pdva.reports.services.national import INDICATORS, funnel


def test_outlier_flagged_and_small_site_not_plotted() -> None:
    counts = pd.DataFrame(
        {
            "site": ["S1", "S2", "S3", "S4", "LOW", "TINY"],
            "x": [70, 66, 140, 68, 20, 2],
            "n": [100, 100, 200, 100, 100, 3],
        }
    )
    f = funnel(INDICATORS[0], counts)
    rows = {r["site"]: r for r in f["rows"]}
    # Target = 366/603 = 60.7%; 20/100 is far below the 99.8% limit.
    assert f["target"] == "60.7%"
    assert rows["LOW"]["flag_998"] == "low" and rows["LOW"]["outlier"]
    assert rows["S1"]["flag_95"] == "within"
    assert rows["TINY"]["x"] == "<5" and rows["TINY"]["value"] == "suppressed"
    assert "1 site(s) not plotted" in f["note"]
    assert f["svg"].startswith("<svg") and "TINY" not in f["svg"] and "LOW" in f["svg"]
    assert f["overdispersion"]["phi"] != "-"


def test_target_of_one_has_no_funnel() -> None:
    f = funnel(INDICATORS[1], pd.DataFrame({"site": ["A", "B"], "x": [10, 12], "n": [10, 12]}))
    assert f["svg"] == "" and "no funnel" in f["note"]
