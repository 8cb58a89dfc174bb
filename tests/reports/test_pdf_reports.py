"""Each PDF report generated from the seeded cohort, rendered to PNG pages and checked for its sections."""

from __future__ import annotations

from django.core.management import call_command

from pdva.registry.models import Operator
from tests.reports._pdf import pdf_pngs, pdf_text


def _run(tmp_path, name, *args):  # type: ignore[no-untyped-def]
    out = tmp_path / name
    call_command("report", *args, "--out", str(out), "--cutoff", "2026-01-01")
    assert out.read_bytes()[:5] == b"%PDF-"
    pngs = pdf_pngs(out)
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    return " ".join(pdf_text(out).split())


def test_quarterly_governance_report(cohort, tmp_path):  # type: ignore[no-untyped-def]
    text = _run(tmp_path, "gov.pdf", "governance", "--site", "ZZA", "--period", "2025Q4")
    for heading in (
        "pDVA quarterly governance report",
        "1. Summary of outcomes",
        "2. Survival and cumulative-incidence curves",
        "3. Safety",
        "4. Patient-reported outcomes",
        "5. Outcomes by subgroup",
        "6. Governance, follow-up and data quality",
        "7. Comparison with published results (external)",
        "8. Methods and definitions",
        "9. Caveats on small numbers",
        "10. Reproducibility",
    ):
        assert heading in text, heading
    proms = text[text.index("4. Patient-reported outcomes") : text.index("5. Outcomes by subgroup")]
    for part in (
        "Change from baseline per index procedure",
        "EQ-5D-5L index",
        "EQ VAS (0-100)",
        "VascuQoL-6 total",
        "Pain NRS",
        "Mean change (95% CI)",
        "PROM completion per time point",
        "PROM change at 12 months by dialysis dependence",
        "Baseline value: the latest scored administration",
    ):
        assert part in proms, part
    assert "period 2025Q4" in text
    assert "Amputation-free survival" in text and "Open serious or device-related adverse events" in text
    assert "EXTERNAL: published results" in text and "PROMISE II" in text
    assert "Data cut-off 2026-01-01" in text and "pdva 0." in text


def test_national_report_suppresses_and_shows_funnels(cohort, tmp_path):  # type: ignore[no-untyped-def]
    text = _run(tmp_path, "national.pdf", "national")
    for heading in (
        "1. Performance goal (PROMISE II)",
        "2. Funnel plots",
        "3. Outliers",
        "4. Case mix by site",
    ):
        assert heading in text
    for indicator in (
        "6-month amputation-free survival",
        "Technical success",
        "30-day major adverse events",
        "12-month follow-up compliance",
    ):
        assert indicator in text
    assert "Bayesian" in text and "Frequentist" in text and "Over-dispersion" in text
    assert "counts under 5 are suppressed" in text
    assert "Registry ID" not in text  # no patient-level rows leave the sites


def test_appraisal_report_has_learning_curve(cohort, tmp_path):  # type: ignore[no-untyped-def]
    op = Operator.objects.filter(site=cohort[0]).order_by("pk").first()
    text = _run(tmp_path, "appraisal.pdf", "appraisal", "--operator", str(op.pk))
    assert "pDVA clinician appraisal report" in text and op.code in text
    assert "1. Outcomes against the site and the registry" in text
    assert "2. Learning curve" in text and "3. Cases" in text


def test_decision_aid_is_plain_language_and_labels_published_figures(cohort, tmp_path):  # type: ignore[no-untyped-def]
    text = _run(tmp_path, "aid.pdf", "decision-aid", "--site", "ZZA", "--dialysis")
    assert "what happens to 100 people like you" in text
    assert "People on kidney dialysis" in text and "People not on kidney dialysis" in text
    assert "Published results" in text and "PROMISE II" in text
    assert "out of 100" in text
