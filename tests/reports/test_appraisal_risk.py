"""The appraisal learning curve uses the configured risk model (risk-adjusted CUSUM), and the Bernoulli CUSUM
otherwise; the model's c-statistic and calibration are in the appraisal PDF and on the methods page."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from pdva.outcomes.load import analyse
from pdva.outcomes.risk import outcome, registry_model
from pdva.registry.models import Operator
from pdva.reports.services.appraisal import appraisal_report
from tests.factories import DeathFactory, ProcedureFactory
from tests.reports._pdf import pdf_text
from tests.reports.conftest import CUTOFF

BUILT_IN = "pdva.outcomes.risk:registry_logistic"


def _busiest_operator() -> Operator:
    ops = Operator.objects.filter(site__ods_code__startswith="ZZ")
    return max(ops, key=lambda op: op.procedures.count())


def test_risk_adjusted_chart_when_the_setting_names_the_model(cohort, tmp_path):  # type: ignore[no-untyped-def]
    op = _busiest_operator()
    with override_settings(PDVA_RISK_MODEL=BUILT_IN):
        learning = appraisal_report(op, cutoff=CUTOFF)["learning"]
        out = tmp_path / "appraisal.pdf"
        call_command(
            "report", "appraisal", "--operator", str(op.pk), "--cutoff", "2026-01-01", "--out", str(out)
        )
    assert learning["kind"] == "risk-adjusted" and learning["method"].startswith("Risk-adjusted CUSUM")
    # Expected failures = the sum of this model's predicted risks over the operator's cases with known status.
    model = registry_model(CUTOFF)
    t = analyse([op.site_id], CUTOFF, operator_id=op.pk, strata=["all"]).derived.table
    y, known = outcome(t)
    assert learning["expected"] == f"{model.predict(t[known]).sum():.1f}"
    assert learning["observed"] == int(y[known].sum())
    assert learning["risk_model"]["c_statistic"] == f"{model.c_statistic:.3f}"
    text = " ".join(pdf_text(out).split())
    assert "Learning curve: risk-adjusted CUSUM" in text
    assert f"Risk model: {BUILT_IN}" in text and "c-statistic" in text and "Fifth of predicted risk" in text
    assert "Dialysis dependent" in text and "Missing covariates." in text


def test_bernoulli_cusum_without_a_risk_model(cohort):  # type: ignore[no-untyped-def]
    with override_settings(PDVA_RISK_MODEL=""):
        learning = appraisal_report(_busiest_operator(), cutoff=CUTOFF)["learning"]
    assert learning["kind"] == "bernoulli" and learning["method"].startswith("Bernoulli CUSUM")
    assert learning["risk_model"] is None


@pytest.mark.django_db
def test_a_model_that_cannot_be_fitted_falls_back_and_says_why(site_a):  # type: ignore[no-untyped-def]
    p = ProcedureFactory(patient__site=site_a)  # 10 Mar 2025
    DeathFactory(patient=p.patient, date_of_death=dt.date(2025, 4, 1))  # one case, one event: too few
    with override_settings(PDVA_RISK_MODEL=BUILT_IN):
        learning = appraisal_report(p.operator, cutoff=CUTOFF)["learning"]
    assert learning["kind"] == "bernoulli"
    assert learning["method"].startswith(f"The configured risk model ({BUILT_IN}) could not be used")
    assert "need at least 30" in learning["method"]


def test_methods_page_reports_the_configured_model(cohort, alice, login):  # type: ignore[no-untyped-def]
    with override_settings(PDVA_RISK_MODEL=BUILT_IN):
        html = login(alice).get(reverse("reports:sap")).content.decode()
    assert f"Configured: <code>{BUILT_IN}</code>" in html
    assert "c-statistic" in html and "risk-calibration" in html
    with override_settings(PDVA_RISK_MODEL=""):
        html = login(alice).get(reverse("reports:sap")).content.decode()
    assert "No risk model is configured" in html
    assert np.isfinite(registry_model(CUTOFF).c_statistic)
