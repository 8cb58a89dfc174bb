"""The synthetic cohort is deterministic and calibrated to PROMISE II where that is possible."""

import datetime as dt

import numpy as np
import pytest

from pdva.audit.verify import verify_chain
from pdva.registry.models import (
    AdverseEvent,
    Amputation,
    Baseline,
    Death,
    FollowUpVisit,
    Medication,
    Procedure,
    PromAdministration,
    Reintervention,
)
from pdva.registry.synthetic import seed_cohort, synthetic_nhs_number
from pdva.stats import kaplan_meier

CUTOFF = dt.date(2026, 6, 30)


def afs_inputs(procedures):
    """Time to major amputation of the index limb or death, censored at last contact (days)."""
    times, events = [], []
    for p in procedures:
        death = p.patient.date_of_death
        amps = [
            a.date
            for a in p.patient.amputations.all()
            if a.is_major and a.limb == p.index_limb and a.date >= p.procedure_date
        ]
        contacts = [v.visit_date for v in p.visits.all()] + [p.discharge_date or p.procedure_date]
        event_dates = [d for d in (min(amps) if amps else None, death) if d]
        if event_dates:
            times.append((min(event_dates) - p.procedure_date).days)
            events.append(1)
        else:
            times.append((max(contacts) - p.procedure_date).days)
            events.append(0)
    return np.array(times, float), np.array(events)


@pytest.fixture(scope="module")
def cohort(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        seed_cohort(sites=3, patients=450, years=3, seed=11, cutoff=CUTOFF)
        procs = list(
            Procedure.objects.select_related("patient__death").prefetch_related(
                "patient__amputations", "visits", "baseline"
            )
        )
        yield procs
        from pdva.core.backup import wipe

        wipe()


@pytest.mark.django_db
def test_every_table_is_populated(cohort):
    for model in (
        Baseline,
        FollowUpVisit,
        AdverseEvent,
        Reintervention,
        Amputation,
        Death,
        Medication,
        PromAdministration,
    ):
        assert model.objects.exists(), model.__name__
    assert verify_chain() > 0


@pytest.mark.django_db
def test_dialysis_share_is_about_a_third(cohort):
    share = np.mean([p.baseline.dialysis_dependent == "yes" for p in cohort])
    assert 0.25 <= share <= 0.40


@pytest.mark.django_db
def test_mostly_rutherford_5_and_6(cohort):
    assert np.mean([p.baseline.rutherford >= 5 for p in cohort]) >= 0.8


@pytest.mark.django_db
def test_technical_success_near_98_percent(cohort):
    assert 0.95 <= np.mean([p.technical_success == "yes" for p in cohort]) <= 1.0


@pytest.mark.django_db
def test_six_month_afs_overall_and_by_dialysis(cohort):
    def afs6(procs):
        time, event = afs_inputs(procs)
        return float(kaplan_meier(time, event).at([182]).survival.iloc[0])

    overall = afs6(cohort)
    dialysis = afs6([p for p in cohort if p.baseline.dialysis_dependent == "yes"])
    other = afs6([p for p in cohort if p.baseline.dialysis_dependent == "no"])
    assert 0.56 <= overall <= 0.74
    assert 0.28 <= dialysis <= 0.55
    assert 0.65 <= other <= 0.85
    assert other - dialysis >= 0.2


@pytest.mark.django_db
def test_reinterventions_within_a_year_in_35_to_45_percent(cohort):
    eligible = [p for p in cohort if (CUTOFF - p.procedure_date).days >= 365]
    within = [any((r.date - p.procedure_date).days <= 365 for r in p.reinterventions.all()) for p in eligible]
    assert 0.28 <= np.mean(within) <= 0.50


@pytest.mark.django_db
def test_some_follow_ups_are_missed_and_some_data_missing(cohort):
    without_m6 = [
        p
        for p in cohort
        if (CUTOFF - p.procedure_date).days > 250
        and p.patient.date_of_death is None
        and not any(v.timepoint == "m6" for v in p.visits.all())
    ]
    assert without_m6
    assert Baseline.objects.filter(glass_fp_grade__isnull=True).exists()


def test_same_seed_same_numbers():
    a = [synthetic_nhs_number(np.random.default_rng(7)) for _ in range(3)]
    b = [synthetic_nhs_number(np.random.default_rng(7)) for _ in range(3)]
    assert a == b and all(n.startswith("999") and len(n) == 10 for n in a)


@pytest.mark.django_db
def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="sites must be"):
        seed_cohort(sites=0, patients=1)
    with pytest.raises(ValueError, match="years > 0"):
        seed_cohort(sites=2, patients=1, years=0)
