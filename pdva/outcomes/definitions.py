"""Endpoint definitions, time points, strata and published comparators (pure data: no Django, no numpy).

This module is the statistical analysis plan (SAP). The in-app SAP page and every report's methods section are
rendered from it, so what a report says it did and what the code does cannot drift apart.
Sources: research/clinical.md §3.4 (definitions), §7.12 (derived metrics), §1.2 (published figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SAP_VERSION = "2026.1"
SMALL_NUMBER_THRESHOLD = 5  # counts 1-4 are hidden in any output that leaves a site

# Landmark time points in days after the index procedure (day 0 = procedure date).
TIMEPOINTS: dict[str, int] = {
    "30 days": 30,
    "6 months": 183,
    "12 months": 365,
    "2 years": 730,
    "3 years": 1096,
    "5 years": 1826,
}
SHORT_TIMEPOINTS = ("30 days", "6 months", "12 months")

# Stratification variables: the review strata first, then the equity-review strata (where recorded).
STRATA: dict[str, str] = {
    "site": "Site",
    "operator": "Operator",
    "dialysis": "Dialysis dependence",
    "technique": "Technique family",
    "rutherford": "Rutherford category",
    "wifi_stage": "WIfI clinical stage",
    "sex": "Sex",
    "age_band": "Age band",
    "ethnicity": "Ethnic group",
    "imd_quintile": "Deprivation (IMD quintile)",
}
EQUITY_STRATA = ("sex", "age_band", "ethnicity", "imd_quintile")


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    kind: str  # "km" (survival), "cif" (cumulative incidence), "proportion", "rate", "summary"
    definition: str
    estimator: str
    censoring: str = ""
    timepoints: tuple[str, ...] = ("30 days", "6 months", "12 months", "2 years")
    literature_only: bool = False  # 1-KM shown only for comparison with published studies
    competing: tuple[str, ...] = field(default_factory=tuple)


CENSOR_RULE = (
    "Censored at the last known contact: the latest of any follow-up visit (including records-only and "
    "linkage contacts), adverse event, reintervention, amputation, PROM or medication record, capped at the "
    "data cut-off. A recorded death ends follow-up."
)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "afs",
        "Amputation-free survival",
        "km",
        "Freedom from major (ankle-level or above, Syme included) amputation of the index limb or death "
        "from any cause (PROMISE II).",
        "Kaplan-Meier with Greenwood standard errors; 95% CI on the log scale.",
        CENSOR_RULE,
    ),
    Endpoint(
        "survival",
        "Overall survival",
        "km",
        "Freedom from death from any cause.",
        "Kaplan-Meier with Greenwood standard errors; 95% CI on the log scale.",
        CENSOR_RULE,
    ),
    Endpoint(
        "major_amputation",
        "Major amputation (death as competing risk)",
        "cif",
        "Cumulative incidence of the first major amputation of the index limb. Limb salvage = 1 - this. "
        "An amputation of the other limb is not an index-limb event.",
        "Aalen-Johansen cumulative incidence with death as a competing risk; Aalen variance; log-log CI.",
        CENSOR_RULE,
        competing=("death",),
    ),
    Endpoint(
        "freedom_from_amputation_km",
        "Freedom from major amputation (1-KM, for comparison with literature only)",
        "km",
        "Kaplan-Meier freedom from major index-limb amputation with deaths censored. Over-states the risk "
        "when many patients die; shown only because published pDVA studies report it this way.",
        "Kaplan-Meier; deaths treated as censoring (biased upwards for amputation risk).",
        CENSOR_RULE + " Deaths censor (this is what makes it a literature-only figure).",
        literature_only=True,
    ),
    Endpoint(
        "wound_healing",
        "Complete wound healing",
        "cif",
        "Cumulative incidence of complete (100% epithelialised) healing of all index-limb wounds, among "
        "limbs with a wound at baseline (wound count > 0 or WIfI W grade > 0). Date = recorded healing "
        "date, else the first visit recording 'completely healed'.",
        "Aalen-Johansen with major amputation and death as competing risks.",
        CENSOR_RULE,
        timepoints=("6 months", "12 months"),
        competing=("major amputation", "death"),
    ),
    Endpoint(
        "male",
        "Major adverse limb event (MALE)",
        "cif",
        "Major amputation of the index limb or major reintervention (new bypass, open circuit revision, "
        "thrombectomy or thrombolysis; SVS/Conte definition).",
        "Aalen-Johansen with death as a competing risk.",
        CENSOR_RULE,
        timepoints=("30 days", "12 months"),
        competing=("death",),
    ),
    Endpoint(
        "male_pod_30",
        "MALE or perioperative death (30 days)",
        "proportion",
        "MALE or death from any cause within 30 days of the procedure (SVS safety composite).",
        "Proportion with Wilson 95% CI among procedures whose 30-day status is known (event, death or "
        "follow-up reaching day 30).",
        timepoints=("30 days",),
    ),
    Endpoint(
        "technical_success",
        "Technical success",
        "proportion",
        "Arteriovenous connection with completion opacification of the foot veins, outflow reached and no "
        "conversion to open surgery (derived on the procedure record). 'Not known' is excluded and counted.",
        "Proportion with Wilson 95% CI.",
        timepoints=("procedure",),
    ),
    Endpoint(
        "reintervention_planned",
        "Planned (staged) reintervention",
        "cif",
        "First planned or staged reintervention on the index limb.",
        "Aalen-Johansen with death as a competing risk; rate per patient-year (all reinterventions counted) "
        "with an exact Poisson (Garwood) 95% CI.",
        CENSOR_RULE,
        timepoints=("12 months",),
        competing=("death",),
    ),
    Endpoint(
        "reintervention_unplanned",
        "Unplanned reintervention",
        "cif",
        "First unplanned reintervention (or of unknown planning status) on the index limb.",
        "Aalen-Johansen with death as a competing risk; rate per patient-year with exact Poisson CI.",
        CENSOR_RULE,
        timepoints=("12 months",),
        competing=("death",),
    ),
    Endpoint(
        "patency_primary",
        "Primary circuit patency",
        "km",
        "Patent with no reintervention: lost at the first recorded occlusion or the first reintervention "
        "that is not a planned staged completion.",
        "Kaplan-Meier; censored at the last patency assessment (duplex or clinical), at major amputation "
        "or at death.",
        "Censored at the last visit with an assessed circuit status or reintervention.",
        timepoints=("30 days", "6 months", "12 months"),
    ),
    Endpoint(
        "patency_assisted",
        "Assisted-primary circuit patency",
        "km",
        "Patent, with any reintervention done before occlusion allowed: lost at the first occlusion.",
        "Kaplan-Meier; censoring as for primary patency.",
        "Censored at the last visit with an assessed circuit status or reintervention.",
        timepoints=("30 days", "6 months", "12 months"),
    ),
    Endpoint(
        "patency_secondary",
        "Secondary circuit patency",
        "km",
        "Patency including restoration after occlusion: lost at the first occlusion of the final run of "
        "occluded assessments (never restored afterwards).",
        "Kaplan-Meier; censoring as for primary patency.",
        "Censored at the last visit with an assessed circuit status or reintervention.",
        timepoints=("30 days", "6 months", "12 months"),
    ),
)

SAFETY_OUTCOMES: dict[str, str] = {
    "pain": "Pain",
    "bleeding": "Bleeding",
    "infection": "Infection",
    "worsening_perfusion": "Worsening perfusion",
    "steal_syndrome": "Steal syndrome",
    "mace": "MACE (MI, stroke, cardiovascular death)",
}
SAFETY_WINDOWS = {"30 days": 30, "12 months": 365}
SAFETY_METHOD = (
    "Proportion of procedures with at least one adverse event of the category (onset day 0 to the end of the "
    "window; worsening perfusion also from follow-up visits) with a Wilson 95% CI. A procedure counts in the "
    "denominator when its status is known: the event occurred, follow-up reached the end of the window, or "
    "the patient died within it."
)
# PROM change from baseline (clinical.md §7.12): measure -> (instrument, label, higher score = better).
PROM_MEASURES: dict[str, tuple[str, str, bool]] = {
    "eq5d_index": ("eq5d5l", "EQ-5D-5L index", True),
    "eq5d_vas": ("eq5d5l", "EQ VAS (0-100)", True),
    "vq6_total": ("vascuqol6", "VascuQoL-6 total (6-24, unverified rule)", True),
    "pain_nrs": ("pain_nrs", "Pain NRS (0-10, lower = less pain)", False),
}
PROM_INSTRUMENTS = {"eq5d5l": "EQ-5D-5L", "vascuqol6": "VascuQoL-6", "pain_nrs": "Pain NRS"}
# Follow-up time points for the change (schedule code -> report label, target day).
PROM_CHANGE_TIMEPOINTS: dict[str, tuple[str, int]] = {
    "m3": ("3 months", 91),
    "m6": ("6 months", 182),
    "m12": ("12 months", 365),
}
PROM_BASELINE_LOOKBACK_DAYS = 90
PROM_BASELINE_RULE = (
    f"Baseline value: the latest scored administration of the patient completed in the "
    f"{PROM_BASELINE_LOOKBACK_DAYS} days up to and including the procedure date (linked to this procedure or "
    "to no procedure); if there is none, the first scored administration labelled 'discharge' linked to the "
    "procedure. Each measure takes its own baseline (a partial EQ-5D-5L can give a VAS but no index)."
)

OTHER_SUMMARIES: dict[str, str] = {
    "antithrombotic_days": (
        "Days on each antithrombotic class (antiplatelet, anticoagulant) from the procedure to death, last "
        "contact or cut-off; overlapping or back-to-back episodes of the same class are merged. Median and IQR "
        "among procedures with any episode of the class."
    ),
    "prom_change": (
        "Change in PROM score from baseline to the 3-, 6- and 12-month administrations, per index procedure: "
        "EQ-5D-5L index (the primary value set of pdva.proms), EQ VAS (0-100), VascuQoL-6 total (6-24; scoring "
        "rule unverified) and pain NRS (0-10, lower = less pain). "
        + PROM_BASELINE_RULE
        + " Follow-up value: the "
        "first scored administration labelled with the time point (3, 6 or 12 months) linked to the procedure. "
        "Scores are those stored by pdva.proms; an administration it has not scored yet is scored with its "
        "scoring functions at analysis time. Summary: number of pairs, mean change with a 95% t interval, and "
        "the median change."
    ),
    "prom_completion": (
        "PROM completion per time point: a complete administration of the instrument labelled with the time "
        "point and linked to the procedure, among procedures for which the follow-up schedule expects it, "
        "whose time-point window closed before the cut-off (or that already have one) and whose patient was "
        "alive at the window's close. Wilson 95% CI."
    ),
    "length_of_stay": "Days from admission to discharge for the index procedure: median and IQR.",
    "followup_12m": (
        "12-month follow-up compliance: a follow-up contact 9-21 months after the procedure, among procedures "
        "whose patient was alive 21 months after the procedure and whose 21-month window closed before the "
        "cut-off."
    ),
}
DATA_RULES = (
    "Time zero is the index procedure date; each limb treated is its own analysis unit (two limbs in one "
    "patient are two procedures).",
    "Major amputation = ankle level or above (Syme included), on the index limb, dated on or after the "
    "procedure. Amputations of the other limb are not index-limb events.",
    "Records dated after the patient's death or after the data cut-off are excluded from the analysis and "
    "listed as data issues (the registry refuses new ones on entry).",
    "Events on day 0 (the procedure date) count as events at time 0.",
    "Counts from 1 to 4 (and the estimates they determine) are hidden in any output that leaves a site.",
)


@dataclass(frozen=True)
class PublishedFigure:
    study: str
    outcome: str
    timepoint: str
    value: float  # proportion 0-1
    n: int | None
    note: str = ""


# External comparators (clinical.md §1.2). Always labelled as published, never mixed with registry data.
PUBLISHED: tuple[PublishedFigure, ...] = (
    PublishedFigure("PROMISE II (NEJM 2023)", "Amputation-free survival", "6 months", 0.661, 105),
    PublishedFigure("PROMISE II (NEJM 2023)", "AFS performance goal", "6 months", 0.54, None, "goal"),
    PublishedFigure("PROMISE II (NEJM 2023)", "Technical success", "procedure", 0.990, 105),
    PublishedFigure("PROMISE II (NEJM 2023)", "Limb salvage (KM)", "6 months", 0.760, 105),
    PublishedFigure("PROMISE II (NEJM 2023)", "Complete wound healing", "6 months", 0.25, 63),
    PublishedFigure("PROMISE II subgroup", "AFS, dialysis dependent", "6 months", 0.37, None),
    PublishedFigure("PROMISE II subgroup", "AFS, not on dialysis", "6 months", 0.73, None),
    PublishedFigure("Meta-analysis, Biomedicines 2024", "Amputation-free survival", "12 months", 0.656, 208),
    PublishedFigure("Meta-analysis, Biomedicines 2024", "Limb salvage", "pooled", 0.772, 208),
    PublishedFigure("Meta-analysis, Biomedicines 2024", "Complete wound healing", "pooled", 0.534, 208),
    PublishedFigure("Meta-analysis, Biomedicines 2024", "Reintervention", "pooled", 0.467, 208),
    PublishedFigure(
        "Systematic review, Ann Vasc Surg 2024", "Major amputation", "median 12 months", 0.218, 233
    ),
    PublishedFigure(
        "Systematic review, Ann Vasc Surg 2024", "Reintervention", "median 12 months", 0.374, 233
    ),
)
PROMISE_II_AFS_GOAL = 0.54
PROMISE_II_AFS_6M = 0.661
PROMISE_II_BAYES_THRESHOLD = 0.977

CASE_MIX_STATEMENT = (
    "Registry patients are not a trial population: PROMISE II enrolled 105 selected 'no-option' patients "
    "(Rutherford 5-6, stable dialysis patients eligible) with independent adjudication, whereas the registry "
    "includes every patient treated, with different shares on dialysis, with WIfI stage 4 limbs and with "
    "off-the-shelf techniques. Differences between registry and published figures may reflect case mix, not "
    "quality of care. Site comparisons in the funnel plots are not risk adjusted."
)


def endpoint(key: str) -> Endpoint:
    for e in ENDPOINTS:
        if e.key == key:
            return e
    raise KeyError(f"unknown endpoint {key!r}; known: {[e.key for e in ENDPOINTS]}")
