"""Endpoint derivation pinned on small hand-built patient histories (pure: no database).

Each expected value is worked out in the test from the history it describes.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pdva.outcomes.derive import cif_input, derive, km_input, window_status
from pdva.outcomes.endpoints import endpoint_table, value
from pdva.outcomes.frames import RegistryFrames

CUTOFF = dt.date(2026, 1, 1)
T0 = dt.date(2025, 1, 1)


def day(n: int) -> dt.date:
    return T0 + dt.timedelta(days=n)


def proc(pid: int, patient: int, limb: str = "right", **kw):  # type: ignore[no-untyped-def]
    row = {
        "procedure_id": pid,
        "patient_id": patient,
        "site": "AAA",
        "operator": "OP1",
        "index_limb": limb,
        "procedure_date": T0,
        "technical_success": "yes",
        "dialysis_dependent": "no",
        "wound_at_baseline": True,
        "age_at_procedure": 72,
        "sex": "male",
    }
    row.update(kw)
    return row


def visit(pid: int, n: int, **kw):  # type: ignore[no-untyped-def]
    return {"procedure_id": pid, "visit_date": day(n), "circuit_patency": "not_assessed", **kw}


def derived_for(**tables):  # type: ignore[no-untyped-def]
    d = derive(RegistryFrames.from_records(**tables), CUTOFF)
    return d, d.table.set_index("procedure_id")


def test_censoring_at_death_ends_follow_up_and_is_an_afs_event() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10)],
        visits=[visit(1, 30)],
        deaths=[{"patient_id": 10, "date_of_death": day(100)}],
    )
    time, event, _ = km_input(d.table, "afs")
    assert (time[0], event[0]) == (100, 1)  # death at day 100 is an AFS event
    time, cause, _ = cif_input(d.table, "major_amputation")
    assert (time[0], cause[0]) == (100, 2)  # competing risk for amputation
    time, event, _ = km_input(d.table, "freedom_from_amputation_km")
    assert (time[0], event[0]) == (100, 0)  # censored in the literature-only 1-KM


def test_amputation_on_day_zero_is_an_event_at_time_zero() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10), proc(2, 11)],
        amputations=[{"patient_id": 10, "limb": "right", "date": day(0), "is_major": True}],
        visits=[visit(1, 200), visit(2, 200)],
    )
    time, cause, _ = cif_input(d.table, "major_amputation")
    assert list(time) == [0, 200] and list(cause) == [1, 0]
    table = endpoint_table(d, strata=["all"])
    row = value(table, "major_amputation", "30 days")
    # Aalen-Johansen at 30 days: one of two limbs amputated at t = 0.
    assert row["estimate"] == pytest.approx(0.5)
    assert row["events"] == 1


def test_events_after_death_are_excluded_and_listed() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10)],
        deaths=[{"patient_id": 10, "date_of_death": day(50)}],
        amputations=[{"patient_id": 10, "limb": "right", "date": day(80), "is_major": True}],
        visits=[visit(1, 120)],
        reinterventions=[
            {
                "procedure_id": 1,
                "date": day(90),
                "planned": "unplanned",
                "is_major": True,
                "indication": "occlusion",
            }
        ],
    )
    assert np.isnan(t.loc[1, "amp_day"])  # the amputation 30 days after death is not an event
    assert np.isnan(t.loc[1, "major_reint_day"])
    assert t.loc[1, "end_day"] == 50
    problems = set(d.issues["record"])
    assert problems == {"amputation", "follow-up visit", "reintervention"}
    assert all("after the patient's death" in p for p in d.issues["problem"])


def test_two_limbs_in_one_patient_are_two_analysis_units() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10, "right"), proc(2, 10, "left", procedure_date=day(30))],
        amputations=[{"patient_id": 10, "limb": "left", "date": day(130), "is_major": True}],
        visits=[visit(1, 300)],
    )
    assert len(t) == 2
    assert np.isnan(t.loc[1, "amp_day"])  # the right limb was never amputated
    assert t.loc[2, "amp_day"] == 100  # left limb: 100 days after its own procedure
    # Both limbs share the patient's last contact (day 300 from the first procedure).
    assert t.loc[1, "end_day"] == 300 and t.loc[2, "end_day"] == 270


def test_contralateral_amputation_is_not_an_index_limb_event() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10, "right")],
        amputations=[{"patient_id": 10, "limb": "left", "date": day(40), "is_major": True}],
        visits=[visit(1, 200)],
    )
    assert np.isnan(t.loc[1, "amp_day"])
    time, event, _ = km_input(d.table, "afs")
    assert (time[0], event[0]) == (200, 0)  # the amputation still proves contact but is no event


def test_syme_counts_as_major_and_toe_does_not() -> None:
    # is_major is derived on the model from the level (Syme = ankle level = major); see also the DB test.
    from pdva.registry.choices import MAJOR_AMPUTATION_LEVELS

    assert "syme_ankle" in MAJOR_AMPUTATION_LEVELS and "toe" not in MAJOR_AMPUTATION_LEVELS
    d, t = derived_for(
        procedures=[proc(1, 10), proc(2, 11)],
        amputations=[
            {"patient_id": 10, "limb": "right", "date": day(20), "is_major": True},  # Syme
            {"patient_id": 11, "limb": "right", "date": day(20), "is_major": False},  # toe
        ],
        visits=[visit(1, 100), visit(2, 100)],
    )
    assert t.loc[1, "amp_day"] == 20
    assert np.isnan(t.loc[2, "amp_day"])
    assert t.loc[2, "end_day"] == 100


def test_loss_to_follow_up_censors_at_last_known_contact() -> None:
    # Last visit day 90; a PROM at day 120 and a medication stop at day 150 are later contacts.
    d, t = derived_for(
        procedures=[proc(1, 10), proc(2, 11), proc(3, 12)],
        visits=[visit(1, 90), visit(2, 90), visit(3, 90)],
        proms=[
            {
                "patient_id": 11,
                "procedure_id": 2,
                "instrument": "pain_nrs",
                "timepoint": "m3",
                "completed_date": day(120),
            }
        ],
        medications=[
            {"patient_id": 12, "drug_class": "antiplatelet", "start_date": day(0), "stop_date": day(150)}
        ],
    )
    assert list(t["end_day"]) == [90, 120, 150]
    assert not t["dead"].any()
    time, event, _ = km_input(d.table, "survival")
    assert list(event) == [0, 0, 0]
    # 6-month safety status is unknown for all three (no event, no death, follow-up ended early).
    occurred, known = window_status(d.table, np.full(3, np.nan), 183)
    assert not known.any()


def test_male_mixes_amputation_and_major_reintervention() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10), proc(2, 11)],
        reinterventions=[
            {
                "procedure_id": 1,
                "date": day(40),
                "planned": "unplanned",
                "is_major": True,
                "indication": "occlusion",
            },
            {
                "procedure_id": 2,
                "date": day(10),
                "planned": "unplanned",
                "is_major": False,
                "indication": "surveillance_stenosis",
            },
        ],
        visits=[visit(1, 400), visit(2, 400)],
    )
    assert t.loc[1, "male_day"] == 40
    assert np.isnan(t.loc[2, "male_day"])  # angioplasty is not a major reintervention
    assert t.loc[1, "n_unplanned_reint"] == 1 and t.loc[2, "n_unplanned_reint"] == 1


def test_wound_healing_competes_with_amputation_and_needs_a_baseline_wound() -> None:
    d, t = derived_for(
        procedures=[proc(1, 10), proc(2, 11), proc(3, 12, wound_at_baseline=False)],
        visits=[
            visit(1, 150, wound_status="healed", complete_healing_date=day(140)),
            visit(2, 60),
            visit(3, 150, wound_status="no_wound"),
        ],
        amputations=[{"patient_id": 11, "limb": "right", "date": day(80), "is_major": True}],
    )
    time, cause, mask = cif_input(d.table, "wound_healing")
    assert list(mask) == [True, True, False]
    assert (time[0], cause[0]) == (140, 1)
    assert (time[1], cause[1]) == (80, 2)


def test_patency_primary_assisted_secondary() -> None:
    # Reintervention at 30 on a patent circuit, occluded at 90, restored (patent) at 180, occluded again at 300.
    d, t = derived_for(
        procedures=[proc(1, 10)],
        visits=[
            visit(1, 14, circuit_patency="patent"),
            visit(1, 90, circuit_patency="occluded"),
            visit(1, 180, circuit_patency="patent"),
            visit(1, 300, circuit_patency="occluded"),
        ],
        reinterventions=[
            {
                "procedure_id": 1,
                "date": day(30),
                "planned": "unplanned",
                "is_major": False,
                "indication": "surveillance_stenosis",
            }
        ],
    )
    assert t.loc[1, "primary_loss_day"] == 30
    assert t.loc[1, "assisted_loss_day"] == 90
    assert t.loc[1, "secondary_loss_day"] == 300


def test_antithrombotic_days_merge_overlapping_episodes_of_one_class() -> None:
    # Aspirin days 0-100 and clopidogrel days 50-150 overlap: 150 antiplatelet days, not 200.
    d, t = derived_for(
        procedures=[proc(1, 10)],
        visits=[visit(1, 400)],
        medications=[
            {"patient_id": 10, "drug_class": "antiplatelet", "start_date": day(0), "stop_date": day(100)},
            {"patient_id": 10, "drug_class": "antiplatelet", "start_date": day(50), "stop_date": day(150)},
            {"patient_id": 10, "drug_class": "anticoagulant", "start_date": day(0), "stop_date": day(90)},
        ],
    )
    assert t.loc[1, "antiplatelet_days"] == 150
    assert t.loc[1, "anticoagulant_days"] == 90


def test_followup_compliance_window() -> None:
    # Due: both procedures are 21+ months before the cut-off; one had a visit at 12 months, one at 8 months.
    old = dt.date(2023, 1, 1)
    d, t = derived_for(
        procedures=[proc(1, 10, procedure_date=old), proc(2, 11, procedure_date=old)],
        visits=[
            {
                "procedure_id": 1,
                "visit_date": old + dt.timedelta(days=365),
                "circuit_patency": "not_assessed",
            },
            {
                "procedure_id": 2,
                "visit_date": old + dt.timedelta(days=240),
                "circuit_patency": "not_assessed",
            },
        ],
    )
    assert list(t["fu12_due"]) == [True, True]
    assert list(t["fu12_done"]) == [True, False]
