"""The PROM section of the site governance dashboard: counts at the site, small counts hidden for national
viewers."""

from __future__ import annotations

import re

from django.urls import reverse

from pdva.outcomes.load import analyse
from tests.factories import grant


def _prom_rows(html: str) -> list[list[str]]:
    table = re.search(r'<table class="prom-change">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]


def test_site_sees_pairs_and_national_viewer_sees_small_counts_hidden(cohort, gina, nora, login):  # type: ignore[no-untyped-def]
    site = cohort[0]
    grant(gina, "site_governance_lead", site)
    a = analyse([site.pk], None, strata=["all"])
    expected = a.table[(a.table["kind"] == "change") & (a.table["stratum"] == "all")]
    own = _prom_rows(login(gina).get(reverse("reports:dashboard", args=[site.pk])).content.decode())
    assert len(own) == 12
    pairs = {(r[0].split(" (")[0], r[1]): r[2] for r in own}
    for r in expected.itertuples():
        label = r.label.removeprefix("Change in ").removesuffix(" from baseline").split(" (")[0]
        assert pairs[(label, r.timepoint)] == str(int(r.n))
    national = _prom_rows(login(nora).get(reverse("reports:dashboard", args=[site.pk])).content.decode())
    for row in national:
        n = row[2]
        assert n in ("0", "&lt;5") or int(n) >= 5, row
        if n == "&lt;5":
            assert row[3] == "suppressed (small numbers)" and row[4] == "suppressed"
    # Twelve patients per site: some time point has 1-4 pairs, and the seeded cohort is fixed.
    assert any(r[2] == "&lt;5" for r in national)
