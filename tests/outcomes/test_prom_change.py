"""PROM change from baseline and PROM completion, pinned on hand-built histories (pure: no database).

Values are stored scores (what pdva.proms writes) unless a test is about scoring; each expected figure is
worked out in the test from the history it describes.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from pdva.outcomes.derive import derive
from pdva.outcomes.endpoints import endpoint_table, value
from pdva.outcomes.frames import RegistryFrames
from pdva.outcomes.proms import CompletionTarget, administration_values, measure_values
from pdva.outcomes.suppress import suppress_table
from pdva.proms.lib import eq5d, scoring

CUTOFF = dt.date(2026, 6, 1)
T0 = dt.date(2025, 1, 1)
TARGETS = [
    CompletionTarget("m3", "3 months", 91, 120, "vascuqol6"),
    CompletionTarget("m12", "12 months", 365, 639, "vascuqol6"),
]


def day(n: int) -> dt.date:
    return T0 + dt.timedelta(days=n)


def proc(pid: int, patient: int, **kw):  # type: ignore[no-untyped-def]
    row = {
        "procedure_id": pid,
        "patient_id": patient,
        "site": "AAA",
        "operator": "OP1",
        "index_limb": "right",
        "procedure_date": T0,
        "technical_success": "yes",
        "dialysis_dependent": "no",
        "age_at_procedure": 72,
        "sex": "male",
    }
    return row | kw


def vq6(patient: int, procedure: int | None, n: int, timepoint: str, total: float | None, **kw):  # type: ignore[no-untyped-def]
    return {
        "patient_id": patient,
        "procedure_id": procedure,
        "instrument": "vascuqol6",
        "timepoint": timepoint,
        "completed_date": day(n),
        "completion_status": "complete",
        "vq6_total": total,
    } | kw


def derived(procedures, proms, **tables):  # type: ignore[no-untyped-def]
    frames = RegistryFrames.from_records(procedures=procedures, proms=proms, **tables)
    d = derive(frames, CUTOFF, prom_targets=TARGETS)
    return d, d.table.set_index("procedure_id")


def test_pre_procedure_baseline_wins_over_discharge_and_change_is_follow_up_minus_baseline() -> None:
    d, t = derived(
        [proc(1, 10)],
        [
            vq6(10, None, -200, "unscheduled", 8),  # outside the 90-day look-back: ignored
            vq6(10, None, -30, "unscheduled", 10),  # pre-procedure, not linked to a procedure
            vq6(10, 1, -2, "unscheduled", 11),  # the latest pre-procedure one: the baseline
            vq6(10, 1, 3, "discharge", 9),  # discharge: only a fallback
            vq6(10, 1, 95, "m3", 15),
            vq6(10, 1, 200, "m6", 17),
            vq6(10, 1, 370, "m12", 20),
        ],
    )
    assert t.loc[1, "prom_vq6_total_base"] == 11
    assert t.loc[1, "prom_vq6_total_base_source"] == "pre-procedure"
    assert [t.loc[1, f"prom_vq6_total_{tp}_change"] for tp in ("m3", "m6", "m12")] == [
        15 - 11,
        17 - 11,
        20 - 11,
    ]


def test_discharge_is_the_baseline_when_nothing_was_completed_before_the_procedure() -> None:
    d, t = derived(
        [proc(1, 10), proc(2, 11)],
        [
            vq6(10, 1, 2, "discharge", 9),
            vq6(10, 1, 100, "m3", 14),
            vq6(11, 2, 100, "m3", 14),  # no baseline at all: no change
        ],
    )
    assert t.loc[1, "prom_vq6_total_base_source"] == "discharge"
    assert t.loc[1, "prom_vq6_total_m3_change"] == 5
    assert t.loc[2, "prom_vq6_total_base_source"] == ""
    assert np.isnan(t.loc[2, "prom_vq6_total_m3_change"])


def test_other_limb_administrations_and_unscored_ones_are_not_a_baseline() -> None:
    # Patient 10 had the left limb treated at day -60 (procedure 1) and the right at day 0 (procedure 2).
    d, t = derived(
        [proc(1, 10, index_limb="left", procedure_date=day(-60)), proc(2, 10)],
        [
            vq6(10, 1, -10, "m3", 12),  # the left limb's follow-up: not a baseline for procedure 2
            vq6(10, None, -5, "unscheduled", None),  # refused/unscored: no value
            vq6(10, None, -20, "unscheduled", 13),  # unlinked and in the look-back: procedure 2's baseline
            vq6(10, 2, 95, "m3", 16),
        ],
    )
    assert t.loc[2, "prom_vq6_total_base"] == 13
    assert t.loc[2, "prom_vq6_total_m3_change"] == 3
    # Procedure 1 (day -60): its m3 administration at day -10 is 50 days after it; the unlinked one at
    # day -20 is after procedure 1 too, so procedure 1 has no baseline.
    assert np.isnan(t.loc[1, "prom_vq6_total_base"])


def test_administrations_after_death_are_excluded() -> None:
    d, t = derived(
        [proc(1, 10)],
        [vq6(10, 1, 2, "discharge", 10), vq6(10, 1, 100, "m3", 14)],
        deaths=[{"patient_id": 10, "date_of_death": day(60)}],
    )
    assert np.isnan(t.loc[1, "prom_vq6_total_m3_change"])
    assert "PROM" in set(d.issues["record"])


def test_summary_is_mean_with_t_interval_and_median_overall_and_by_stratum() -> None:
    procs = [proc(i, 10 + i, dialysis_dependent="yes" if i <= 3 else "no") for i in range(1, 7)]
    changes = {1: 2, 2: 4, 3: 6, 4: -1, 5: 0, 6: 7}
    proms = []
    for i, c in changes.items():
        proms += [vq6(10 + i, i, 2, "discharge", 10), vq6(10 + i, i, 95, "m3", 10 + c)]
    d, _ = derived(procs, proms)
    table = endpoint_table(d, strata=["all", "dialysis"])
    # Dialysis group: changes 2, 4, 6 -> mean 4, SD 2, SE 2/sqrt(3), t(0.975, 2 df) = 4.302653.
    dial = value(table, "prom_change_vq6_total", "3 months", "dialysis", "Dialysis")
    half = 4.302653 * 2 / math.sqrt(3)
    assert dial["n"] == 3 and dial["estimate"] == pytest.approx(4)
    assert (dial["lower"], dial["upper"]) == pytest.approx((4 - half, 4 + half), abs=1e-5)
    assert dial["median"] == 4
    # All six: changes 2, 4, 6, -1, 0, 7 -> mean 3, median (2 + 4) / 2 = 3.
    overall = value(table, "prom_change_vq6_total", "3 months")
    assert overall["n"] == 6 and overall["estimate"] == pytest.approx(3) and overall["median"] == 3
    sd = float(np.std([2, 4, 6, -1, 0, 7], ddof=1))
    half6 = 2.570582 * sd / math.sqrt(6)  # t(0.975, 5 df)
    assert overall["upper"] == pytest.approx(3 + half6, abs=1e-5)
    # Outside a site, three pairs are a small number: the whole row is hidden.
    hidden = suppress_table(table)
    row = hidden[(hidden["endpoint"] == "prom_change_vq6_total") & (hidden["group"] == "Dialysis")].iloc[0]
    assert row["suppressed"] and row["estimate"] is None and row["median"] is None and row["n"] is None
    shown = hidden[(hidden["endpoint"] == "prom_change_vq6_total") & (hidden["group"] == "All")].iloc[0]
    assert not shown["suppressed"] and shown["estimate"] == pytest.approx(3)


def test_completion_counts_closed_windows_of_patients_alive_at_the_close() -> None:
    # 3-month window closes on day 120; 12-month window on day 639 (after the cut-off, day 516).
    procs = [
        proc(1, 11),  # completed at 3 months
        proc(2, 12),  # alive, window closed, nothing recorded: missed
        proc(3, 13),  # died on day 100, before the window closed: not expected
        proc(4, 14, procedure_date=day(450)),  # 3-month window still open at the cut-off: not yet expected
        proc(5, 15, procedure_date=day(450)),  # ... but completed already: counts
        proc(6, 16),  # a refused questionnaire is not a completed one
    ]
    proms = [
        vq6(11, 1, 95, "m3", 14),
        vq6(15, 5, 450 + 62, "m3", 14),
        vq6(16, 6, 95, "m3", None, completion_status="refused"),
    ]
    d, t = derived(procs, proms, deaths=[{"patient_id": 13, "date_of_death": day(100)}])
    assert list(t["prom_vascuqol6_m3_due"]) == [True, True, False, False, True, True]
    assert list(t["prom_vascuqol6_m3_done"]) == [True, False, False, False, True, False]
    assert not t["prom_vascuqol6_m12_due"].any()
    row = value(endpoint_table(d, strata=["all"]), "prom_completion_vascuqol6", "3 months")
    assert (row["events"], row["n"]) == (2, 4) and row["estimate"] == pytest.approx(0.5)
    assert row["label"] == "VascuQoL-6 completed"


def test_stored_scores_are_used_and_unscored_administrations_are_scored_with_pdva_proms() -> None:
    responses = {"MO": 2, "SC": 1, "UA": 3, "PD": 4, "AD": 1, "VAS": 40}
    stored = {
        "instrument": "eq5d5l",
        "completion_status": "complete",
        "responses": responses,
        "score": "0.321",
        "score_method": eq5d.VALUE_SETS[eq5d.PRIMARY_VALUE_SET].info.method,
        "age": 70,
        "sex": "female",
    }
    values, here = measure_values(stored)
    assert values["eq5d_index"] == pytest.approx(0.321) and values["eq5d_vas"] == 40 and not here
    raw = stored | {"score": None, "score_method": ""}
    values, here = measure_values(raw)
    expected = eq5d.index(eq5d.PRIMARY_VALUE_SET, "21341", age=70, sex="female")
    assert values["eq5d_index"] == pytest.approx(expected) and here
    # A stored index from another value set is not the primary one: rescored with the primary set.
    other = stored | {"score_method": "england_5l_devlin_2018@x"}
    assert measure_values(other)[0]["eq5d_index"] == pytest.approx(expected)
    # Without the age the DSU mapping cannot score the index; the VAS still counts.
    values, _ = measure_values(raw | {"age": None})
    assert values["eq5d_index"] is None and values["eq5d_vas"] == 40
    vq = {"instrument": "vascuqol6", "completion_status": "partial", "score": None, "score_method": ""}
    frame = administration_values(
        [
            vq | {"responses": {"VQ1": 1, "VQ2": 2, "VQ3": 3, "VQ4": 4, "VQ5": 2, "VQ6": 3}},
            vq | {"responses": {"VQ1": 1}},  # every item is needed
            vq | {"responses": {"VQ1": 1}, "completion_status": "refused"},
            {"instrument": "pain_nrs", "completion_status": "complete", "responses": {"NRS": 7}},
        ]
    )
    assert frame["vq6_total"].tolist()[:1] == [1 + 2 + 3 + 4 + 2 + 3]
    assert pd.isna(frame["vq6_total"][1]) and pd.isna(frame["vq6_total"][2])
    assert frame["pain_nrs"][3] == 7
    assert frame["scored_here"].tolist() == [True, False, False, True]
    assert scoring.VQ6_VERIFIED is False  # the report labels the VQ-6 total as an unverified rule
