"""Registry rows -> one row per index procedure with everything the endpoints need (pure pandas/numpy).

Vectorised over the whole registry (group-bys, no Python loop per patient), so the same code serves a site
report from the database and the 50,000-procedure benchmark. Rules are in ``definitions.DATA_RULES``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pdva.outcomes.frames import RegistryFrames
from pdva.outcomes.proms import CompletionTarget, completion_targets, prom_columns

MACE = ("mace_mi", "mace_stroke", "mace_cv_death")
SAFETY_CATEGORIES = ("pain", "bleeding", "infection", "worsening_perfusion", "steal_syndrome", "mace")
ANTITHROMBOTIC_CLASSES = ("antiplatelet", "anticoagulant")
FU_WINDOW = (274, 639)  # 9 to 21 months, in days
NOT_KNOWN = "Not known"

ETHNIC_GROUP = {
    **dict.fromkeys("ABC", "White"),
    **dict.fromkeys("DEFG", "Mixed"),
    **dict.fromkeys("HJKL", "Asian"),
    **dict.fromkeys("MNP", "Black"),
    **dict.fromkeys("RS", "Other"),
    "Z": "Not stated",
}


@dataclass
class Derived:
    """Per-procedure endpoint inputs plus the records that were set aside, with the reason."""

    table: pd.DataFrame  # one row per index procedure
    issues: pd.DataFrame  # columns: procedure_id, patient_id, record, date, problem
    cutoff: dt.date
    notes: dict = field(default_factory=dict)  # e.g. how many PROM administrations were scored here


def _default_targets() -> list[CompletionTarget]:
    from pdva.followup.lib.schedule import load_schedule

    return completion_targets(load_schedule())


def _days(dates: pd.Series, t0: pd.Series) -> np.ndarray:
    diff = dates.to_numpy(dtype="datetime64[ns]") - t0.to_numpy(dtype="datetime64[ns]")
    return np.floor(diff / np.timedelta64(1, "D"))  # NaT gives NaN


def _first(index: pd.Index, keys: pd.Series, days: np.ndarray, how: str = "min") -> np.ndarray:
    """Per procedure (index), the min/max of ``days`` over rows keyed by procedure id; NaN where none."""
    if len(keys) == 0:
        return np.full(len(index), np.nan)
    s = pd.Series(days, index=keys.to_numpy()).groupby(level=0)
    agg = s.min() if how == "min" else s.max()
    return agg.reindex(index).to_numpy(dtype=float)


def _strata(p: pd.DataFrame) -> pd.DataFrame:
    age = pd.to_numeric(p["age_at_procedure"], errors="coerce")
    age_band = pd.cut(age, [0, 60, 70, 80, 200], right=False, labels=["<60", "60-69", "70-79", "80+"])
    imd = pd.to_numeric(p["imd_decile"], errors="coerce")
    quint = ((imd + 1) // 2).map(lambda q: f"Q{int(q)}" if q == q else NOT_KNOWN)
    rutherford = pd.to_numeric(p["rutherford"], errors="coerce")
    wifi = pd.to_numeric(p["wifi_stage"], errors="coerce")
    return pd.DataFrame(
        {
            "site": p["site"].astype(str),
            "operator": p["operator"].astype(str),
            "dialysis": p["dialysis_dependent"]
            .map({"yes": "Dialysis", "no": "No dialysis"})
            .fillna(NOT_KNOWN),
            "technique": p["technique_family"].fillna("not_known").astype(str),
            "rutherford": rutherford.map(lambda r: f"R{int(r)}" if r == r else NOT_KNOWN),
            "wifi_stage": wifi.map(lambda s: f"Stage {int(s)}" if s == s else NOT_KNOWN),
            "sex": p["sex"].fillna("not_known").astype(str),
            "age_band": age_band.astype(object).where(age_band.notna(), NOT_KNOWN).astype(str),
            "ethnicity": p["ethnicity"].map(ETHNIC_GROUP).fillna(NOT_KNOWN),
            "imd_quintile": quint,
        },
        index=p.index,
    )


def covered_days_vectorised(unit: np.ndarray, cls: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> pd.Series:
    """Length of the union of intervals [lo, hi) per (unit, class): each interval adds only the part beyond
    the running maximum end of the earlier-starting intervals of its group (one sort, no loop)."""
    df = pd.DataFrame({"unit": unit, "cls": cls, "lo": lo, "hi": hi})
    df = df[df["hi"] > df["lo"]].sort_values(["unit", "cls", "lo"], kind="stable")
    if df.empty:
        return pd.Series(dtype=float)
    prev = df.groupby(["unit", "cls"], sort=False)["hi"].cummax()
    prev = prev.groupby([df["unit"], df["cls"]], sort=False).shift(1).fillna(-np.inf)
    gain = np.maximum(0.0, df["hi"].to_numpy() - np.maximum(df["lo"].to_numpy(), prev.to_numpy()))
    return pd.Series(gain, index=df.index).groupby([df["unit"], df["cls"]]).sum()


def derive(
    frames: RegistryFrames, cutoff: dt.date, *, prom_targets: list[CompletionTarget] | None = None
) -> Derived:
    """``prom_targets``: the (time point, instrument) pairs the follow-up schedule expects; default: the
    default schedule of pdva.followup."""
    cut = pd.Timestamp(cutoff)
    p = frames.procedures[frames.procedures["procedure_date"] <= cut]
    # Deaths after the cut-off are not yet known to this analysis.
    deaths = frames.deaths[frames.deaths["date_of_death"] <= cut].drop_duplicates("patient_id")
    death_by_patient = deaths.set_index("patient_id")["date_of_death"]
    after_death = (p["procedure_date"] > p["patient_id"].map(death_by_patient)).to_numpy()
    issues: list[pd.DataFrame] = []
    if after_death.any():
        bad = p[after_death]
        issues.append(
            pd.DataFrame(
                {
                    "procedure_id": bad["procedure_id"].to_numpy(),
                    "patient_id": bad["patient_id"].to_numpy(),
                    "record": "procedure",
                    "date": bad["procedure_date"].dt.date.to_numpy(),
                    "problem": "procedure dated after the patient's death: excluded",
                }
            )
        )
    p = p[~after_death].reset_index(drop=True)
    pid = pd.Index(p["procedure_id"].to_numpy())
    t0 = p["procedure_date"]
    t0_by_proc = pd.Series(t0.to_numpy(), index=pid)
    patient_by_proc = pd.Series(p["patient_id"].to_numpy(), index=pid)
    cutoff_day = _days(pd.Series(cut, index=p.index), t0)

    def note(df: pd.DataFrame, mask: np.ndarray, record: str, date_col: str, problem: str) -> None:
        if mask.any():
            bad = df[mask]
            issues.append(
                pd.DataFrame(
                    {
                        "procedure_id": bad["procedure_id"].to_numpy() if "procedure_id" in bad else pd.NA,
                        "patient_id": bad["patient_id"].to_numpy(),
                        "record": record,
                        "date": bad[date_col].dt.date.to_numpy(),
                        "problem": problem,
                    }
                )
            )

    # Death: the end of follow-up.
    death_day = _days(p["patient_id"].map(death_by_patient), t0)

    def clean(df: pd.DataFrame, date_col: str, record: str, *, by_procedure: bool) -> pd.DataFrame:
        """Keep rows of known procedures dated within [procedure date, cut-off] and not after death."""
        if by_procedure:
            df = df[df["procedure_id"].isin(pid)].copy()
            df["patient_id"] = df["procedure_id"].map(patient_by_proc).to_numpy()
        else:
            df = df.copy()
        df = df[df[date_col].notna() & (df[date_col] <= cut)]
        died = df["patient_id"].map(death_by_patient)
        after = (died.notna() & (df[date_col] > died)).to_numpy()
        note(df, after, record, date_col, "dated after the patient's death: excluded")
        return df[~after]

    visits = clean(frames.visits, "visit_date", "follow-up visit", by_procedure=True)
    aes = clean(frames.adverse_events, "onset_date", "adverse event", by_procedure=True)
    reints = clean(frames.reinterventions, "date", "reintervention", by_procedure=True)
    amps = clean(frames.amputations, "date", "amputation", by_procedure=False)
    meds = clean(frames.medications, "start_date", "medication", by_procedure=False)
    proms = clean(frames.proms, "completed_date", "PROM", by_procedure=False)

    # Last known contact per patient (any record that shows the patient was alive and in contact).
    contacts = pd.concat(
        [
            visits[["patient_id", "visit_date"]].set_axis(["patient_id", "date"], axis=1),
            aes[["patient_id", "onset_date"]].set_axis(["patient_id", "date"], axis=1),
            reints[["patient_id", "date"]],
            amps[["patient_id", "date"]],
            meds[["patient_id", "start_date"]].set_axis(["patient_id", "date"], axis=1),
            meds[["patient_id", "stop_date"]].set_axis(["patient_id", "date"], axis=1),
            proms[["patient_id", "completed_date"]].set_axis(["patient_id", "date"], axis=1),
            p[["patient_id", "procedure_date"]].set_axis(["patient_id", "date"], axis=1),
        ],
        ignore_index=True,
    ).dropna()
    contacts = contacts[contacts["date"] <= cut]
    last_contact = p["patient_id"].map(contacts.groupby("patient_id")["date"].max())
    contact_day = np.maximum(_days(last_contact, t0), 0.0)
    dead = ~np.isnan(death_day)
    end_day = np.where(dead, death_day, np.minimum(contact_day, cutoff_day))

    # Major amputation of the index limb, on or after the procedure date.
    major = amps[amps["is_major"].astype(bool)]
    j = p[["procedure_id", "patient_id", "index_limb", "procedure_date"]].merge(
        major[["patient_id", "limb", "date"]],
        left_on=["patient_id", "index_limb"],
        right_on=["patient_id", "limb"],
    )
    j = j[j["date"] >= j["procedure_date"]]
    amp_day = _first(pid, j["procedure_id"], _days(j["date"], j["procedure_date"]))

    def proc_days(df: pd.DataFrame, col: str) -> np.ndarray:
        return _days(df[col], df["procedure_id"].map(t0_by_proc))

    r_day = proc_days(reints, "date")
    major_reint_day = _first(
        pid,
        reints["procedure_id"][reints["is_major"].astype(bool).to_numpy()],
        r_day[reints["is_major"].astype(bool).to_numpy()],
    )
    planned_mask = (reints["planned"] == "planned").to_numpy()
    planned_day = _first(pid, reints["procedure_id"][planned_mask], r_day[planned_mask])
    unplanned_day = _first(pid, reints["procedure_id"][~planned_mask], r_day[~planned_mask])
    n_planned = reints[planned_mask].groupby("procedure_id").size().reindex(pid).fillna(0).to_numpy()
    n_unplanned = reints[~planned_mask].groupby("procedure_id").size().reindex(pid).fillna(0).to_numpy()

    # Wound healing (only limbs with a wound at baseline are at risk).
    v_day = proc_days(visits, "visit_date")
    heal_date = visits["complete_healing_date"].where(
        visits["complete_healing_date"].notna(), visits["visit_date"]
    )
    healed = (visits["wound_status"] == "healed").to_numpy() | visits[
        "complete_healing_date"
    ].notna().to_numpy()
    heal_days = _days(heal_date, visits["procedure_id"].map(t0_by_proc))
    healing_day = _first(pid, visits["procedure_id"][healed], heal_days[healed])

    # Circuit patency from assessed visits and reinterventions.
    assessed = visits["circuit_patency"].isin(["patent", "stenosis", "occluded"]).to_numpy()
    occluded = (visits["circuit_patency"] == "occluded").to_numpy()
    open_ = assessed & ~occluded
    first_occlusion = _first(pid, visits["procedure_id"][occluded], v_day[occluded])
    not_staged = (reints["indication"] != "staged_completion").to_numpy() & ~planned_mask
    first_reint = _first(pid, reints["procedure_id"][not_staged], r_day[not_staged])
    primary_loss = np.fmin(first_occlusion, first_reint)
    last_open = _first(pid, visits["procedure_id"][open_], v_day[open_], how="max")
    occ = pd.DataFrame({"procedure_id": visits["procedure_id"][occluded].to_numpy(), "day": v_day[occluded]})
    occ["last_open"] = occ["procedure_id"].map(pd.Series(last_open, index=pid))
    occ = occ[~(occ["day"] <= occ["last_open"])]  # occlusions never followed by a patent assessment
    secondary_loss = _first(pid, occ["procedure_id"], occ["day"].to_numpy())
    last_assessed = np.fmax(
        _first(pid, visits["procedure_id"][assessed], v_day[assessed], how="max"),
        _first(pid, reints["procedure_id"], r_day, how="max"),
    )
    patency_censor = np.fmin(
        np.nan_to_num(last_assessed, nan=0.0), np.where(np.isnan(amp_day), np.inf, amp_day)
    )

    # Adverse events by NICE safety category (MACE pooled); worsening perfusion also from visits.
    ae_cat = aes["category"].where(~aes["category"].isin(MACE), "mace")
    ae_day = proc_days(aes, "onset_date")
    safety: dict[str, np.ndarray] = {}
    for cat in SAFETY_CATEGORIES:
        m = (ae_cat == cat).to_numpy()
        day = _first(pid, aes["procedure_id"][m], ae_day[m])
        if cat == "worsening_perfusion":
            wv = (visits["worsening_perfusion"] == "yes").to_numpy()
            day = np.fmin(day, _first(pid, visits["procedure_id"][wv], v_day[wv]))
        safety[f"ae_{cat}_day"] = day

    # Antithrombotic days per class, episodes merged, from the procedure to death or the cut-off.
    at = meds[meds["drug_class"].isin(ANTITHROMBOTIC_CLASSES)]
    k = p[["procedure_id", "patient_id", "procedure_date"]].reset_index().merge(at, on="patient_id")
    stop_end = np.where(dead, death_day, cutoff_day)[k["index"].to_numpy()] if len(k) else np.array([])
    lo = np.maximum(_days(k["start_date"], k["procedure_date"]), 0.0)
    hi_raw = _days(k["stop_date"], k["procedure_date"])
    hi = np.fmin(np.where(np.isnan(hi_raw), np.inf, hi_raw), stop_end)
    covered = covered_days_vectorised(k["index"].to_numpy(), k["drug_class"].to_numpy(), lo, hi)
    at_days = {}
    for cls in ANTITHROMBOTIC_CLASSES:
        s = (
            covered.xs(cls, level=1)
            if len(covered) and cls in covered.index.get_level_values(1)
            else pd.Series(dtype=float)
        )
        at_days[f"{cls}_days"] = s.reindex(p.index).to_numpy(dtype=float)

    # 12-month follow-up compliance (visit 9-21 months after, among those alive and due at 21 months).
    due = (cutoff_day >= FU_WINDOW[1]) & (~dead | (death_day > FU_WINDOW[1]))
    in_window = (v_day >= FU_WINDOW[0]) & (v_day <= FU_WINDOW[1])
    done = pid.isin(visits["procedure_id"][in_window].unique())

    targets = _default_targets() if prom_targets is None else prom_targets
    prom = prom_columns(
        p,
        proms.assign(completion_status=proms["completion_status"].fillna("complete")),
        cutoff_day=cutoff_day,
        dead=dead,
        death_day=death_day,
        targets=targets,
    )

    ts = p["technical_success"].map({"yes": 1.0, "no": 0.0}).astype(float)
    wound = p["wound_at_baseline"].map(lambda w: bool(w) if w is not pd.NA and w == w else False)

    table = pd.concat(
        [
            p[["procedure_id", "patient_id", "procedure_date"]],
            _strata(p),
            pd.DataFrame(
                {
                    "dead": dead,
                    "death_day": death_day,
                    "end_day": end_day,
                    "amp_day": amp_day,
                    "major_reint_day": major_reint_day,
                    "male_day": np.fmin(amp_day, major_reint_day),
                    "planned_reint_day": planned_day,
                    "unplanned_reint_day": unplanned_day,
                    "n_planned_reint": n_planned,
                    "n_unplanned_reint": n_unplanned,
                    "wound_at_baseline": wound.to_numpy(dtype=bool),
                    "heart_failure": p["heart_failure"].fillna("not_known").astype(str).to_numpy(),
                    "healing_day": healing_day,
                    "primary_loss_day": primary_loss,
                    "assisted_loss_day": first_occlusion,
                    "secondary_loss_day": secondary_loss,
                    "patency_censor_day": patency_censor,
                    **safety,
                    **at_days,
                    "technical_success": ts.to_numpy(),
                    "length_of_stay": pd.to_numeric(p["length_of_stay_days"], errors="coerce").to_numpy(
                        dtype=float
                    ),
                    "fu12_due": due,
                    "fu12_done": done & due,
                },
                index=p.index,
            ),
            prom,
        ],
        axis=1,
    )
    issue_cols = ["procedure_id", "patient_id", "record", "date", "problem"]
    issue_table = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(columns=issue_cols)
    scored_here = int((proms["scored_here"] == True).sum())  # noqa: E712  (NA-safe)
    return Derived(
        table=table,
        issues=issue_table,
        cutoff=cutoff,
        notes={"prom_scored_here": scored_here, "prom_targets": targets},
    )


# --- endpoint inputs: (time, event) for KM, (time, cause) for cumulative incidence ----------------------


def _time_event(event_day: np.ndarray, end_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    has = ~np.isnan(event_day) & (event_day <= end_day)
    return np.where(has, event_day, end_day), has.astype(np.int8)


def _time_cause(
    event_day: np.ndarray, competing_day: np.ndarray, end_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cause 1 = the event, 2 = a competing event strictly before it (ties go to the event), 0 = censored."""
    ev = np.where(np.isnan(event_day) | (event_day > end_day), np.inf, event_day)
    comp = np.where(np.isnan(competing_day) | (competing_day > end_day), np.inf, competing_day)
    cause = np.where(ev <= comp, np.where(np.isfinite(ev), 1, 0), 2).astype(np.int8)
    time = np.where(cause == 1, ev, np.where(cause == 2, comp, end_day))
    return time, cause


def km_input(t: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, event, row mask) for a Kaplan-Meier endpoint."""
    end = t["end_day"].to_numpy(dtype=float)
    death = t["death_day"].to_numpy(dtype=float)
    amp = t["amp_day"].to_numpy(dtype=float)
    all_rows = np.ones(len(t), dtype=bool)
    if key == "afs":
        return (*_time_event(np.fmin(amp, death), end), all_rows)
    if key == "survival":
        return (*_time_event(death, end), all_rows)
    if key == "freedom_from_amputation_km":
        return (*_time_event(amp, end), all_rows)
    if key.startswith("patency_"):
        col = {
            "patency_primary": "primary_loss_day",
            "patency_assisted": "assisted_loss_day",
            "patency_secondary": "secondary_loss_day",
        }[key]
        loss = t[col].to_numpy(dtype=float)
        censor = t["patency_censor_day"].to_numpy(dtype=float)
        return (*_time_event(loss, censor), all_rows)
    raise KeyError(key)


def cif_input(t: pd.DataFrame, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time, cause, row mask) for a cumulative-incidence endpoint."""
    end = t["end_day"].to_numpy(dtype=float)
    death = t["death_day"].to_numpy(dtype=float)
    amp = t["amp_day"].to_numpy(dtype=float)
    all_rows = np.ones(len(t), dtype=bool)
    if key == "major_amputation":
        return (*_time_cause(amp, death, end), all_rows)
    if key == "male":
        return (*_time_cause(t["male_day"].to_numpy(dtype=float), death, end), all_rows)
    if key == "reintervention_planned":
        return (*_time_cause(t["planned_reint_day"].to_numpy(dtype=float), death, end), all_rows)
    if key == "reintervention_unplanned":
        return (*_time_cause(t["unplanned_reint_day"].to_numpy(dtype=float), death, end), all_rows)
    if key == "wound_healing":
        healing = t["healing_day"].to_numpy(dtype=float)
        competing = np.fmin(amp, death)
        # A competing event on the healing day wins: a foot amputated that day did not heal.
        heal = np.where(~np.isnan(competing) & (competing <= healing), np.nan, healing)
        time, cause = _time_cause(heal, competing, end)
        return time, cause, t["wound_at_baseline"].to_numpy(dtype=bool)
    raise KeyError(key)


def window_status(t: pd.DataFrame, event_day: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(occurred, known) for 'an event within ``window`` days': known if it occurred, follow-up reached the
    end of the window, or the patient died within it."""
    occurred = ~np.isnan(event_day) & (event_day <= window)
    end = t["end_day"].to_numpy(dtype=float)
    died_in = t["dead"].to_numpy(dtype=bool) & (t["death_day"].to_numpy(dtype=float) <= window)
    known = occurred | (end >= window) | died_in
    return occurred, known
