"""Deterministic synthetic pDVA cohort for demos, tests and benchmarks.

Calibrated to PROMISE II (NEJM 2023) where it is known: about a third dialysis dependent, mostly
Rutherford 5-6, technical success ~98%, 6-month amputation-free survival (AFS) ~66% overall and much
lower on dialysis. Note the published split (37% vs 73%) and a one-third dialysis share cannot both hold
with 66% overall (0.37/3 + 0.73*2/3 = 0.61), so the generator aims at 42% vs 75% (overall ~65%).

Event times are Weibull with decreasing hazards (most amputations happen early; deaths continue).
Everything comes from one numpy Generator, so the same seed and cut-off give the same cohort.
"""

from __future__ import annotations

import bisect
import datetime as dt
import inspect
import itertools
import math
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init

from pdva.audit.bulk import BulkWriter
from pdva.audit.context import audit_context
from pdva.registry import choices as c
from pdva.registry.models import (
    AdverseEvent,
    Amputation,
    Baseline,
    ConsentGovernance,
    Death,
    FollowUpVisit,
    Medication,
    Operator,
    Patient,
    PatientIdentity,
    Procedure,
    PromAdministration,
    Reintervention,
    Site,
    SiteGovernance,
)
from pdva.registry.models.patients import REGISTRY_ID_ALPHABET

SITE_NAMES = [
    ("ZZA", "Northgate University Hospitals (synthetic)", "north_west"),
    ("ZZB", "Riverside Teaching Hospitals (synthetic)", "london"),
    ("ZZC", "Moorland Vascular Network (synthetic)", "north_east_yorkshire"),
    ("ZZD", "Harbour City Hospitals (synthetic)", "south_west"),
    ("ZZE", "Vale Regional Arterial Centre (synthetic)", "midlands"),
    ("ZZF", "Fenland General (synthetic)", "east_of_england"),
]
# Beyond the six above (the small demos' sites, kept as they were), sites are made up from these.
PLACES = [
    "Ashford Vale",
    "Bramley",
    "Castlemoor",
    "Dunmere",
    "Eastholm",
    "Fairhaven",
    "Greystone",
    "Hollinwood",
    "Ironbridge Vale",
    "Kingsmere",
    "Larkhill",
    "Millbrook",
    "Newhurst",
    "Oakridge",
    "Pendle Cross",
    "Queensbury",
    "Redcastle",
    "Saltmarsh",
    "Thornbury Wells",
    "Upperton",
    "Westcliff",
    "Yarrow",
]
KINDS = [
    "University Hospitals",
    "Teaching Hospitals",
    "General Hospital",
    "Vascular Network",
    "Royal Infirmary",
    "Regional Vascular Centre",
]
# England's regions carry most of the volume; the devolved nations take part too.
REGION_CYCLE = [
    "london",
    "midlands",
    "north_west",
    "north_east_yorkshire",
    "south_east",
    "east_of_england",
    "south_west",
    "london",
    "midlands",
    "north_west",
    "scotland",
    "wales",
    "north_east_yorkshire",
    "south_east",
    "northern_ireland",
]
SITE_VOLUME_SIGMA = 0.8  # log-normal spread of site volumes: a few high-volume centres, many small ones
SITE_STREAM = 0x51735  # the site layout's own random stream, so it never shifts the patients' draws
FAMILY = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Khan",
    "Okafor",
    "Campbell",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Hughes",
    "Green",
    "Hall",
]
GIVEN = [
    "Alan",
    "Barbara",
    "Colin",
    "Doreen",
    "Edward",
    "Fatima",
    "George",
    "Helen",
    "Imran",
    "Joan",
    "Kwame",
    "Linda",
    "Mohammed",
    "Nora",
    "Owen",
    "Pauline",
    "Raj",
    "Susan",
    "Trevor",
    "Winston",
]

AFS_6M = {"dialysis": 0.42, "no_dialysis": 0.75}
AMPUTATION_SHARE = 0.6  # of the 6-month AFS hazard; the rest is death
SHAPE_AMPUTATION, SHAPE_DEATH = 0.55, 0.9
DAY_6M = 182
PATIENTS_PER_BATCH = 200  # about 6,000 records and their audit entries per transaction
WRITE_ORDER = [
    Site,
    SiteGovernance,
    Operator,
    Patient,
    PatientIdentity,
    Procedure,
    Baseline,
    ConsentGovernance,
    Medication,
    AdverseEvent,
    Reintervention,
    FollowUpVisit,
    PromAdministration,
    Amputation,
    Death,
]

# The coded device of each technique family in the synthetic cohort (drawn from no random number, so the
# cohort's other values are the same as before the field existed).
SYNTHETIC_DEVICE = {
    "dedicated_system": "limflow_system",
    "off_the_shelf_percutaneous": "off_the_shelf_reentry_stent_grafts",
    "hybrid_open": "hybrid_open_construction",
}


@dataclass
class Seeded:
    sites: int = 0
    patients: int = 0
    procedures: int = 0
    records: int = 0


def synthetic_nhs_number(rng: np.random.Generator) -> str:
    """A modulus-11-valid NHS number in the 999 range reserved for testing, never a real patient's."""
    while True:
        digits = [9, 9, 9, *rng.integers(0, 10, size=6).tolist()]
        total = sum(d * (10 - i) for i, d in enumerate(digits))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _weibull_scale(cum_hazard: float, t: float, shape: float) -> float:
    """Scale λ so that (t/λ)^k = H."""
    return t / cum_hazard ** (1 / shape)


def clip(value: Any, low: float, high: float) -> Any:
    """np.clip for one number (numpy's costs microseconds a call)."""
    return min(max(value, low), high)


@dataclass(frozen=True)
class SiteSpec:
    ods_code: str
    name: str
    region: str
    weight: float  # share of the cohort's patients
    operators: int


def synthetic_ods_codes() -> Iterator[str]:
    """ZZA, ZZB, ... ZZZ, ZYA, ... then four and five characters: never a real trust's code (none start Z)."""
    letters = string.ascii_uppercase
    for length in (3, 4, 5):
        for tail in itertools.product(letters[::-1], *[letters] * (length - 2)):
            yield "Z" + "".join(tail)


def site_layout(n: int, *, seed: int, varied: bool) -> list[SiteSpec]:
    """The synthetic sites: codes and names fixed by position; volumes and operators from the seed.

    Even (the small demos): equal shares, three operators each, patients dealt round-robin. Varied (a
    national audit): log-normal volumes, so funnel plots show spread, and 2-8 operators by volume.
    """
    codes = synthetic_ods_codes()
    specs = []
    for i in range(n):
        ods = next(codes)
        if i < len(SITE_NAMES):
            _, name, region = SITE_NAMES[i]
        else:
            k = i - len(SITE_NAMES)
            name = f"{PLACES[k % len(PLACES)]} {KINDS[k // len(PLACES) % len(KINDS)]}"
            if k >= len(PLACES) * len(KINDS):
                name += f" {k // (len(PLACES) * len(KINDS)) + 1}"
            name += " (synthetic)"
            region = REGION_CYCLE[k % len(REGION_CYCLE)]
        specs.append((ods, name, region))
    if not varied:
        return [SiteSpec(ods, name, region, 1 / n, 3) for ods, name, region in specs]
    rng = np.random.default_rng([seed, SITE_STREAM])
    raw = np.exp(np.clip(rng.normal(0, SITE_VOLUME_SIGMA, n), -2.5, 2.5))
    weights = raw / raw.sum()
    top = float(weights.max())
    return [
        SiteSpec(
            ods, name, region, float(w), int(min(8, max(2, round(2 + 6 * w / top + rng.normal(0, 0.7)))))
        )
        for (ods, name, region), w in zip(specs, weights, strict=True)
    ]


class FastNew:
    """``model(**kwargs)`` without Django's per-field ``__init__`` loop (the generator makes millions).

    The same object as the keyword call: fields not given get their defaults (callables called per
    record), related objects are assigned through their descriptors as the keyword path does, other
    names must be properties or fields. Fields in ``set_later`` (the builder always sets them before the
    record is queued) start as None instead of computing a default to throw away. With init signals
    connected it falls back to the model's own constructor.
    """

    def __init__(self, model: type[Any], set_later: tuple[str, ...] = ("uuid", "registry_id")) -> None:
        self.model = model
        fields = model._meta.concrete_fields
        self.plan = [(f.attname, _none if f.attname in set_later else f._get_default) for f in fields]
        self.relations = {f.name for f in fields if f.is_relation}

    def __call__(self, **kwargs: Any) -> Any:
        model = self.model
        if pre_init.receivers or post_init.receivers:
            return model(**kwargs)
        related = [(name, kwargs.pop(name)) for name in self.relations if name in kwargs]
        obj = model.__new__(model)
        obj._state = ModelState()
        values = obj.__dict__
        for attname, default in self.plan:
            values[attname] = kwargs.pop(attname) if attname in kwargs else default()
        for name, value in related:
            setattr(obj, name, value)
        meta = model._meta
        for name, value in kwargs.items():
            if name not in meta._property_names:
                meta.get_field(name)  # raises FieldDoesNotExist for a name the model does not have
            setattr(obj, name, value)
        return obj


def _none() -> None:
    return None


_MAKERS: dict[type[Any], FastNew] = {}


def new(model: type[Any], **kwargs: Any) -> Any:
    maker = _MAKERS.get(model)
    if maker is None:
        maker = _MAKERS[model] = FastNew(model)
    return maker(**kwargs)


class CohortBuilder:
    def __init__(
        self,
        *,
        seed: int,
        cutoff: dt.date,
        years: float,
        progress: Callable[..., None] | None,
        varied: bool | None = None,
    ):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.cutoff = cutoff
        self.years = years
        self.varied = varied
        self.progress = progress or (lambda done, total, **_: None)
        self.stats = Seeded()
        # Deaths last: their check reads the patient's other records, inserted earlier in the same flush.
        self.writer = BulkWriter(model_order=WRITE_ORDER)
        self._cdfs: dict[tuple[float, ...], list[float]] = {}

    # --- helpers ------------------------------------------------------------------------
    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def pick(self, options: list[Any], p: list[float] | None = None) -> Any:
        """The draw rng.choice(len(options), p=p) makes (same stream, same result), without its overhead."""
        if p is None:
            return options[int(self.rng.integers(0, len(options)))]
        key = tuple(p)
        cdf = self._cdfs.get(key)
        if cdf is None:
            if len(p) != len(options) or min(p) < 0 or not math.isclose(sum(p), 1.0, abs_tol=1e-8):
                raise ValueError(f"probabilities {p} do not fit the options {options}")
            cumulative = np.cumsum(np.asarray(p, dtype=np.float64))
            cdf = self._cdfs[key] = (cumulative / cumulative[-1]).tolist()
        return options[bisect.bisect_right(cdf, self.rng.random())]

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(
            int=int(self.rng.integers(0, 2**63)) << 64 | int(self.rng.integers(0, 2**63)), version=4
        )

    def registry_id(self) -> str:
        body = "".join(REGISTRY_ID_ALPHABET[i] for i in self.rng.integers(0, len(REGISTRY_ID_ALPHABET), 8))
        return f"PD-{body[:4]}-{body[4:]}"

    def yn(self, p_yes: float, p_unknown: float = 0.0) -> str:
        u = self.rng.random()
        return "not_known" if u < p_unknown else ("yes" if u < p_unknown + (1 - p_unknown) * p_yes else "no")

    def save(self, obj: Any) -> Any:
        """Queue a new record for the bulk path; build() flushes a batch of patients at a time."""
        if hasattr(obj, "uuid"):
            obj.uuid = self.uuid()
        if isinstance(obj, Patient) and not obj.registry_id:
            raise ValueError("a synthetic patient needs its registry id before it is queued")
        self.writer.add(obj)
        self.stats.records += 1
        return obj

    # --- sites --------------------------------------------------------------------------
    def make_sites(self, layout: list[SiteSpec]) -> list[tuple[Site, list[Operator]]]:
        made = []
        for spec in layout:
            ods = spec.ods_code
            site = Site.objects.filter(ods_code=ods).first()
            if site is None:
                site = self.save(new(Site, ods_code=ods, name=spec.name, region=spec.region))
                start = self.cutoff - dt.timedelta(days=int(self.years * 365) + 60)
                self.save(
                    new(
                        SiteGovernance,
                        site=site,
                        governance_lead_name=f"Dr Governance Lead {ods}",
                        governance_lead_email=f"governance.{ods.lower()}@example.nhs.uk",
                        governance_lead_informed_date=start if self.chance(0.85) else None,
                        local_approval_reference=f"CG-{ods}-{start.year}-01",
                        local_approval_date=start,
                        registry_participation_date=start,
                        audit_or_research="audit",
                    )
                )
                self.stats.sites += 1
            operators = [] if site.pk is None else list(site.operators.all())
            if not operators:
                for k in range(spec.operators):
                    role = (
                        c.OperatorRole.VASCULAR_SURGEON
                        if k % 3 == 1
                        else c.OperatorRole.INTERVENTIONAL_RADIOLOGIST
                    )
                    operators.append(
                        self.save(
                            new(
                                Operator,
                                site=site,
                                code=f"{ods}-OP{k + 1}",
                                display_name=f"Operator {k + 1} ({ods})",
                                role=role,
                                training_documented=self.chance(0.9),
                                training_date=self.cutoff - dt.timedelta(days=int(self.years * 365) + 90),
                                training_description="Manufacturer training and proctored cases",
                                prior_dva_experience_cases=int(self.rng.integers(0, 15)),
                            )
                        )
                    )
            made.append((site, operators))
        return made

    # --- one patient --------------------------------------------------------------------
    def make_patient(self, site: Site, operators: list[Operator]) -> None:
        rng = self.rng
        days_back = int(rng.uniform(14, self.years * 365))
        pdate = self.cutoff - dt.timedelta(days=days_back)
        age = int(clip(rng.normal(69, 11), 35, 96))
        dob = pdate - dt.timedelta(days=age * 365 + int(rng.integers(0, 365)))
        patient = new(
            Patient,
            site=site,
            sex=self.pick(["male", "female"], [0.68, 0.32]),
            ethnicity=self.pick(
                ["A", "M", "N", "H", "J", "C", "Z", "not_known"],
                [0.5, 0.1, 0.1, 0.08, 0.06, 0.06, 0.05, 0.05],
            ),
            imd_decile=int(rng.integers(1, 11)) if self.chance(0.9) else None,
            national_data_opt_out=self.chance(0.03),
        )
        patient.registry_id = self.registry_id()
        self.save(patient)
        identity = new(PatientIdentity, patient=patient)
        identity.nhs_number = synthetic_nhs_number(rng)
        identity.family_name = self.pick(FAMILY)
        identity.given_name = self.pick(GIVEN)
        identity.date_of_birth = dob
        identity.postcode = (
            f"ZZ99 {int(rng.integers(1, 10))}{self.pick(list('ABDEFGHJLN'))}{self.pick(list('PQRSTUWXYZ'))}"
        )
        self.save(identity)
        self.stats.patients += 1

        dialysis = self.chance(0.32)
        limb = self.pick(["left", "right"])
        self.make_case(patient, operators, pdate, limb, dialysis, age)
        # A few patients have the other limb treated later.
        if self.chance(0.04) and days_back > 200:
            second = pdate + dt.timedelta(days=int(rng.integers(60, min(days_back - 30, 500))))
            if second < self.cutoff and patient.date_of_death is None:
                self.make_case(
                    patient,
                    operators,
                    second,
                    "left" if limb == "right" else "right",
                    dialysis,
                    age,
                    second_limb=True,
                )

    def make_case(
        self,
        patient: Patient,
        operators: list[Operator],
        pdate: dt.date,
        limb: str,
        dialysis: bool,
        age: int,
        second_limb: bool = False,
    ) -> None:
        rng = self.rng
        rutherford = self.pick([4, 5, 6], [0.1, 0.55, 0.35])
        w = {4: 0, 5: self.pick([1, 2], [0.6, 0.4]), 6: self.pick([2, 3], [0.5, 0.5])}[rutherford]
        i = self.pick([2, 3], [0.25, 0.75])
        fi = self.pick([0, 1, 2], [0.6, 0.3, 0.1])
        technique = self.pick(
            ["dedicated_system", "off_the_shelf_percutaneous", "hybrid_open"], [0.75, 0.2, 0.05]
        )
        admission = pdate - dt.timedelta(days=int(rng.integers(0, 3)))
        los = int(rng.gamma(2.0, 2.5)) + 1
        success = self.chance(0.98)
        start = dt.datetime.combine(pdate, dt.time(9 + int(rng.integers(0, 5)), 0), tzinfo=dt.UTC)
        procedure = new(
            Procedure,
            patient=patient,
            index_limb=limb,
            procedure_date=pdate,
            admission_date=admission,
            discharge_date=pdate + dt.timedelta(days=los),
            referral_date=pdate - dt.timedelta(days=int(rng.integers(7, 60))),
            admission_type=self.pick(["elective", "non_elective"], [0.7, 0.3]),
            discharge_destination=self.pick(
                ["home", "home_with_care", "care_home", "rehabilitation"], [0.6, 0.25, 0.1, 0.05]
            ),
            operator=self.pick(operators),
            proctored=self.yn(0.15),
            technique_family=technique,
            device_code=SYNTHETIC_DEVICE.get(technique, "not_known"),
            device_manufacturer="LimFlow (synthetic)" if technique == "dedicated_system" else "Various",
            device_model="LimFlow System" if technique == "dedicated_system" else "",
            device_udi=f"(01)0{int(rng.integers(10**12, 10**13))}(17)2812(10)L{int(rng.integers(1000, 9999))}"
            if technique == "dedicated_system"
            else "",
            device_lot=f"L{int(rng.integers(1000, 9999))}" if technique == "dedicated_system" else "",
            anaesthesia=self.pick(["general", "regional", "local_sedation"], [0.6, 0.25, 0.15]),
            arterial_access=["cfa_antegrade"] if self.chance(0.85) else ["cfa_antegrade", "pedal"],
            venous_access=[self.pick(["pedal_vein_retrograde", "tibial_vein"], [0.7, 0.3])],
            donor_artery=self.pick(["pta", "ata", "peroneal", "tpt"], [0.45, 0.15, 0.2, 0.2]),
            target_vein=self.pick(["ptv", "atv", "peroneal_vein"], [0.6, 0.15, 0.25]),
            crossing_level=self.pick(["proximal_calf", "mid_calf", "distal_calf"], [0.5, 0.35, 0.15]),
            crossing_method="dedicated_catheter_ultrasound"
            if technique == "dedicated_system"
            else self.pick(["reentry_device", "snare_balloon_target", "needle"]),
            valvulotomy="reverse_valvulotome",
            valvulotomy_extent=self.pick(["ankle", "pedal_arch"]),
            stent_graft_count=int(rng.integers(2, 6)),
            stent_graft_total_length_mm=int(rng.integers(150, 450)),
            stent_graft_min_diameter_mm=Decimal("3.5"),
            stent_graft_max_diameter_mm=Decimal("5.5"),
            collateral_embolisation=self.yn(0.2),
            outflow_reached=self.pick(["plantar_veins", "venous_arch"]) if success else "none",
            completion_foot_opacification="yes" if success else "no",
            conversion_to_open="no",
            adjunct_inflow_treatment=["none"] if self.chance(0.7) else ["sfa_pta"],
            concomitant_minor_amputation=self.yn(0.15),
            concomitant_debridement=self.yn(0.2),
            contrast_volume_ml=int(rng.integers(60, 250)),
            fluoroscopy_time_min=Decimal(str(round(rng.uniform(20, 70), 1))),
            dose_area_product_gycm2=Decimal(str(round(rng.uniform(5, 60), 2))),
            intraprocedural_anticoagulant="ufh",
            intraprocedural_anticoagulant_dose="5000 IU",
            start_time=start,
            end_time=start + dt.timedelta(minutes=int(rng.integers(90, 240))),
        )
        procedure.uuid = self.uuid()
        self.save(procedure)
        self.stats.procedures += 1
        self.make_baseline(procedure, rutherford, w, i, fi, dialysis, age)
        self.make_consent(procedure)
        self.make_follow_up(patient, procedure, dialysis, rutherford, w, success, second_limb)

    def make_baseline(
        self, procedure: Procedure, rutherford: int, w: int, i: int, fi: int, dialysis: bool, age: int
    ) -> None:
        rng = self.rng
        missing_glass = self.chance(0.08)  # a data-quality gap to chase
        self.save(
            new(
                Baseline,
                procedure=procedure,
                assessment_date=procedure.procedure_date - dt.timedelta(days=int(rng.integers(0, 21))),
                rutherford=rutherford,
                wifi_w=w,
                wifi_i=i,
                wifi_fi=fi,
                wifi_i_basis=self.pick(["toe_pressure", "tcpo2", "abi"], [0.6, 0.2, 0.2]),
                unsalvageable=False,
                toe_pressure_mmhg=int(rng.integers(0, 30)),
                abi=Decimal(str(round(rng.uniform(0.2, 0.6), 2))),
                glass_fp_grade=None if missing_glass else int(rng.integers(0, 3)),
                glass_ip_grade=None if missing_glass else int(rng.integers(3, 5)),
                glass_im_modifier=self.pick(["P1", "P2"], [0.3, 0.7]),
                no_option_reasons=["no_distal_target"]
                + (["failed_prior_revasc"] if self.chance(0.6) else []),
                no_option_adjudication=self.pick(
                    ["mdt", "two_specialists", "single_clinician"], [0.8, 0.15, 0.05]
                ),
                imaging_reviewed=["dsa", "duplex"],
                prior_index_limb_revasc_count=int(rng.poisson(1.2)),
                prior_minor_amputation_index=self.yn(0.3),
                wound_count=0 if rutherford == 4 else int(rng.integers(1, 4)),
                largest_wound_area_cm2=None if rutherford == 4 else Decimal(str(round(rng.gamma(2, 2), 1))),
                wound_locations=[]
                if rutherford == 4
                else [self.pick(["toe", "forefoot", "heel", "midfoot"])],
                gangrene=self.pick(["none", "dry", "wet"], [0.5, 0.4, 0.1]) if rutherford == 6 else "none",
                rest_pain_nrs=int(rng.integers(3, 11)),
                diabetes=self.pick(["type2", "type1", "none"], [0.65, 0.05, 0.3]),
                hba1c_mmol_mol=int(rng.integers(40, 95)),
                ckd_stage="G5" if dialysis else self.pick(["G2", "G3a", "G3b", "G4"]),
                dialysis_dependent="yes" if dialysis else "no",
                dialysis_modality=self.pick(["hd", "pd"], [0.9, 0.1]) if dialysis else "",
                dialysis_start_date=procedure.procedure_date - dt.timedelta(days=int(rng.integers(100, 2500)))
                if dialysis
                else None,
                smoking=self.pick(["never", "ex", "current"], [0.3, 0.5, 0.2]),
                ihd=self.yn(0.5),
                heart_failure=self.yn(0.2),
                cerebrovascular=self.yn(0.15),
                copd=self.yn(0.15),
                hypertension=self.yn(0.8),
                asa_grade=self.pick(["II", "III", "IV"], [0.1, 0.6, 0.3]),
                frailty_cfs=int(clip(rng.normal(5, 1.3), 1, 9)),
                ambulatory_status=self.pick(["independent", "with_aid", "wheelchair"], [0.45, 0.4, 0.15]),
                living_status=self.pick(["home_independent", "home_with_care", "care_home"], [0.6, 0.3, 0.1]),
                albumin_g_l=Decimal(str(round(rng.normal(34, 5), 1))),
                haemoglobin_g_l=Decimal(str(round(rng.normal(112, 15), 1))),
                bmi=Decimal(str(round(rng.normal(27, 4), 1))),
            )
        )

    def make_consent(self, procedure: Procedure) -> None:
        rng = self.rng
        self.save(
            new(
                ConsentGovernance,
                procedure=procedure,
                nice_information_given=self.yn(0.93, 0.02),
                shared_decision_making_documented=self.yn(0.9, 0.04),
                uncertainties_discussed=self.yn(0.92, 0.03),
                alternatives_discussed=["primary_amputation", "conservative_palliative"],
                consent_date=procedure.procedure_date - dt.timedelta(days=int(rng.integers(1, 14))),
                consent_form_version="FORM-4 v2",
                registry_consent=self.pick(
                    ["consented", "lacks_capacity_consultee", "declined", "s251_or_other_basis"],
                    [0.9, 0.03, 0.02, 0.05],
                ),
                mdt_date=procedure.procedure_date - dt.timedelta(days=int(rng.integers(3, 30)))
                if self.chance(0.95)
                else None,
            )
        )

    # --- outcomes over time ---------------------------------------------------------------
    def make_follow_up(
        self,
        patient: Patient,
        procedure: Procedure,
        dialysis: bool,
        rutherford: int,
        w: int,
        success: bool,
        second_limb: bool,
    ) -> None:
        rng = self.rng
        pdate = procedure.procedure_date
        horizon = (self.cutoff - pdate).days
        h6 = -math.log(AFS_6M["dialysis" if dialysis else "no_dialysis"])
        risk = (1.25 if rutherford == 6 else 0.9) * (1.6 if not success else 1.0)
        amp_scale = _weibull_scale(h6 * AMPUTATION_SHARE * risk, DAY_6M, SHAPE_AMPUTATION)
        death_scale = _weibull_scale(h6 * (1 - AMPUTATION_SHARE) * risk, DAY_6M, SHAPE_DEATH)
        t_amp = amp_scale * rng.weibull(SHAPE_AMPUTATION)
        t_death = death_scale * rng.weibull(SHAPE_DEATH)
        if second_limb or patient.date_of_death is not None:
            t_death = math.inf  # keep the second case simple: the first case already drew the death time
        t_lost = rng.uniform(30, 2000) if self.chance(0.08) else math.inf
        amp_day = int(t_amp) if t_amp < min(t_death, t_lost, horizon) else None
        death_day = int(t_death) if t_death < min(t_lost, horizon) else None
        if death_day is not None and amp_day is not None and amp_day > death_day:
            amp_day = None
        end_day = min(
            x
            for x in (death_day, int(min(t_lost, horizon)) if t_lost < math.inf else horizon)
            if x is not None
        )
        # wound healing among those with wounds who keep the limb
        heal_day = None
        if rutherford >= 5 and self.chance(0.6 if not dialysis else 0.4):
            candidate = int(rng.gamma(2.5, 70))
            if candidate < end_day and (amp_day is None or candidate < amp_day):
                heal_day = candidate

        self.make_medications(patient, procedure, end_day, death_day)
        self.make_events(procedure, end_day, amp_day)
        reints = self.make_reinterventions(procedure, end_day, amp_day)
        self.make_visits(procedure, end_day, amp_day, death_day, heal_day, rutherford, w)
        if amp_day is not None:
            self.save(
                new(
                    Amputation,
                    patient=patient,
                    limb=procedure.index_limb,
                    date=pdate + dt.timedelta(days=amp_day),
                    level=self.pick(
                        ["below_knee", "above_knee", "through_knee", "syme_ankle"], [0.65, 0.25, 0.05, 0.05]
                    ),
                    planned_staged=self.yn(0.2),
                    reason=self.pick(["non_healing", "infection_sepsis", "pain", "circuit_failure"]),
                    reintervention=reints[-1] if reints and self.chance(0.2) else None,
                )
            )
        # a few minor amputations of the index limb, and the odd contralateral major amputation
        if self.chance(0.12) and end_day > 30:
            day = int(rng.integers(7, max(8, min(end_day, 400))))
            if amp_day is None or day < amp_day:
                self.save(
                    new(
                        Amputation,
                        patient=patient,
                        limb=procedure.index_limb,
                        date=pdate + dt.timedelta(days=day),
                        level=self.pick(["toe", "ray", "transmetatarsal"]),
                        planned_staged=self.yn(0.5),
                        reason="non_healing",
                    )
                )
        if self.chance(0.02) and end_day > 60:
            self.save(
                new(
                    Amputation,
                    patient=patient,
                    limb="left" if procedure.index_limb == "right" else "right",
                    date=pdate + dt.timedelta(days=int(rng.integers(30, end_day))),
                    level="below_knee",
                    reason="non_healing",
                )
            )
        if death_day is not None:
            death_date = pdate + dt.timedelta(days=death_day)
            self.save(
                new(
                    Death,
                    patient=patient,
                    date_of_death=death_date,
                    source=self.pick(["hospital_record", "ons_linkage", "gp"], [0.5, 0.35, 0.15]),
                    cause_category=self.pick(
                        ["cardiovascular", "infection_sepsis", "renal", "other", "not_known"],
                        [0.4, 0.2, 0.15 if dialysis else 0.05, 0.15, 0.1 if dialysis else 0.2],
                    ),
                    in_hospital=self.yn(0.5),
                )
            )

    def make_medications(
        self, patient: Patient, procedure: Procedure, end_day: int, death_day: int | None
    ) -> None:
        rng = self.rng
        pdate = procedure.procedure_date

        def episode(agent: str, days: int | None, dose: str, freq: str, indication: str = "post_dva") -> None:
            stop = None
            reason = ""
            if days is not None and days < end_day:
                stop, reason = (
                    pdate + dt.timedelta(days=days),
                    self.pick(["planned_end", "bleeding", "intolerance"], [0.8, 0.12, 0.08]),
                )
            elif death_day is not None:
                stop, reason = pdate + dt.timedelta(days=death_day), "death"
            self.save(
                new(
                    Medication,
                    patient=patient,
                    procedure=procedure,
                    agent=agent,
                    dose=Decimal(dose),
                    frequency=freq,
                    start_date=pdate,
                    stop_date=stop,
                    stop_reason=reason,
                    indication=indication,
                )
            )

        episode("aspirin", None, "75", "od")
        episode("clopidogrel", int(rng.integers(60, 200)), "75", "od")
        if self.chance(0.5):
            episode("rivaroxaban", int(rng.integers(60, 400)), "2.5", "bd")
        episode("statin", None, "80", "od")

    def make_events(self, procedure: Procedure, end_day: int, amp_day: int | None) -> None:
        rng = self.rng
        specs = [
            ("pain", 0.12),
            ("bleeding", 0.08),
            ("infection", 0.14),
            ("worsening_perfusion", 0.05),
            ("steal_syndrome", 0.03),
            ("access_site_complication", 0.05),
            ("oedema", 0.1),
            ("mace_mi", 0.04),
            ("contrast_aki", 0.03),
            ("stent_graft_thrombosis", 0.06),
        ]
        for category, p in specs:
            if not self.chance(p):
                continue
            day = int(min(rng.exponential(40), max(end_day - 1, 0)))
            serious = self.yn(0.35)
            device = (
                self.pick(["not_related", "unlikely", "possible", "probable"], [0.55, 0.2, 0.17, 0.08])
                if category
                in (
                    "stent_graft_thrombosis",
                    "steal_syndrome",
                    "worsening_perfusion",
                    "access_site_complication",
                )
                else "not_related"
            )
            needs = serious == "yes" or device in c.RELATED_LEVELS
            reported = needs and self.chance(0.7)
            onset = procedure.procedure_date + dt.timedelta(days=day)
            self.save(
                new(
                    AdverseEvent,
                    procedure=procedure,
                    onset_date=onset,
                    category=category,
                    bleeding_severity=self.pick(["barc1", "barc2", "barc3a", "barc3b"], [0.3, 0.4, 0.2, 0.1])
                    if category == "bleeding"
                    else "",
                    infection_type=self.pick(["wound", "osteomyelitis", "access_site", "systemic_sepsis"])
                    if category == "infection"
                    else "",
                    steal_grade=self.pick(["I", "II", "III"]) if category == "steal_syndrome" else "",
                    clavien_dindo=self.pick(["I", "II", "IIIa", "IIIb"], [0.3, 0.4, 0.2, 0.1]),
                    serious=serious,
                    related_to_device=device,
                    related_to_procedure=self.pick(["possible", "probable", "definite", "unlikely"]),
                    outcome=self.pick(["resolved", "resolved_sequelae", "ongoing"], [0.7, 0.15, 0.15]),
                    mhra_reported="yes" if reported else "no",
                    mhra_reference=f"YC-{int(rng.integers(100000, 999999))}" if reported else "",
                    mhra_report_date=onset + dt.timedelta(days=int(rng.integers(1, 20)))
                    if reported
                    else None,
                )
            )

    def make_reinterventions(
        self, procedure: Procedure, end_day: int, amp_day: int | None
    ) -> list[Reintervention]:
        rng = self.rng
        limit = min(end_day, amp_day if amp_day is not None else end_day)
        made: list[Reintervention] = []
        if self.chance(0.12) and limit > 14:  # staged completion within weeks
            made.append(
                self.save(
                    new(
                        Reintervention,
                        procedure=procedure,
                        date=procedure.procedure_date
                        + dt.timedelta(days=int(rng.integers(7, min(42, limit)))),
                        planned="planned",
                        indication="staged_completion",
                        modalities=["pta"],
                        technical_success="yes",
                        opcs4_code="L63.1",
                    )
                )
            )
        day = 0
        hazard_days = (
            520.0  # mean time to an unplanned reintervention: ~ 35-45% within a year with the planned ones
        )
        while True:
            day += int(rng.exponential(hazard_days)) + 5
            if day >= limit:
                break
            indication = self.pick(
                ["surveillance_stenosis", "occlusion", "non_healing", "worsening_perfusion"],
                [0.45, 0.3, 0.15, 0.1],
            )
            modalities = (
                ["pta"]
                if indication == "surveillance_stenosis"
                else self.pick(
                    [["pta", "additional_stent_graft"], ["thrombectomy", "pta"], ["thrombolysis"], ["dcb"]],
                    [0.4, 0.3, 0.1, 0.2],
                )
            )
            made.append(
                self.save(
                    new(
                        Reintervention,
                        procedure=procedure,
                        date=procedure.procedure_date + dt.timedelta(days=day),
                        planned="unplanned",
                        indication=indication,
                        failure_sites=[
                            self.pick(["intragraft", "transitional_vein", "venous_arch", "arterial_inflow"])
                        ],
                        modalities=modalities,
                        technical_success=self.yn(0.9),
                        opcs4_code="L63.1",
                    )
                )
            )
            hazard_days *= 1.6
        return made

    def make_visits(
        self,
        procedure: Procedure,
        end_day: int,
        amp_day: int | None,
        death_day: int | None,
        heal_day: int | None,
        rutherford: int,
        w: int,
    ) -> None:
        rng = self.rng
        schedule = [
            ("discharge", None, 0),
            ("w2_6", None, 28),
            ("m3", None, 91),
            ("m6", None, 182),
            ("m12", None, 365),
        ]
        schedule += [("annual", year, 365 * year) for year in range(2, 12)]
        wound_healed = False
        for timepoint, year, target in schedule:
            day = max(
                0, target + int(rng.normal(0, 12)) if target else int(procedure.length_of_stay_days or 1)
            )
            if day > end_day or day < 0:
                break
            if not self.chance(0.85):
                continue  # missed visit
            amputated = amp_day is not None and day >= amp_day
            if heal_day is not None and day >= heal_day:
                wound_healed = True
            status = (
                "no_wound"
                if rutherford == 4
                else "healed"
                if wound_healed
                else self.pick(["healing", "static", "worse"], [0.6, 0.3, 0.1])
            )
            patency = self.pick(["patent", "stenosis", "occluded", "not_assessed"], [0.55, 0.15, 0.15, 0.15])
            self.save(
                new(
                    FollowUpVisit,
                    procedure=procedure,
                    visit_date=procedure.procedure_date + dt.timedelta(days=day),
                    timepoint=timepoint,
                    timepoint_year=year,
                    contact_mode=self.pick(["face_to_face", "telephone", "records_only"], [0.75, 0.2, 0.05]),
                    alive="yes",
                    index_limb_status="major_amputated" if amputated else "intact",
                    rutherford=None if amputated else max(0, rutherford - (2 if wound_healed else 0)),
                    wifi_w=None if amputated else (0 if wound_healed else w),
                    wifi_i=None if amputated else int(rng.integers(1, 4)),
                    wifi_fi=None if amputated else 0,
                    wifi_i_basis="toe_pressure",
                    wound_status="not_known" if amputated else status,
                    complete_healing_date=(procedure.procedure_date + dt.timedelta(days=heal_day))
                    if status == "healed" and not amputated
                    else None,
                    pain_nrs=int(rng.integers(0, 7)),
                    oedema=self.pick(["none", "mild", "moderate", "severe"], [0.3, 0.4, 0.2, 0.1]),
                    circuit_patency="not_assessed" if amputated else patency,
                    toe_pressure_mmhg=int(rng.integers(10, 60)) if self.chance(0.5) else None,
                    worsening_perfusion=self.yn(0.05),
                    ambulatory_status=self.pick(["independent", "with_aid", "wheelchair"]),
                    new_events_since_last=self.yn(0.3),
                )
            )
            if timepoint in ("discharge", "m3", "m6", "m12") and self.chance(0.7):
                self.make_proms(
                    procedure, timepoint, procedure.procedure_date + dt.timedelta(days=day), wound_healed
                )

    def make_proms(self, procedure: Procedure, timepoint: str, when: dt.date, better: bool) -> None:
        rng = self.rng
        shift = -1 if better else 0
        eq = {dim: int(clip(rng.integers(2, 6) + shift, 1, 5)) for dim in ("MO", "SC", "UA", "PD", "AD")}
        eq["VAS"] = int(clip(rng.normal(55 + (15 if better else 0), 15), 0, 100))
        for instrument, responses in (
            ("eq5d5l", eq),
            (
                "vascuqol6",
                {f"VQ{k}": int(clip(rng.integers(1, 5) + (1 if better else 0), 1, 4)) for k in range(1, 7)},
            ),
            ("pain_nrs", {"NRS": int(rng.integers(0, 11))}),
        ):
            self.save(
                new(
                    PromAdministration,
                    patient=procedure.patient,
                    procedure=procedure,
                    timepoint=timepoint,
                    instrument=instrument,
                    mode=self.pick(["paper", "electronic_self", "interviewer"]),
                    completed_date=when,
                    responses=responses,
                )
            )

    def build(self, *, sites: int, patients: int, batch: int = PATIENTS_PER_BATCH) -> Seeded:
        varied = sites > len(SITE_NAMES) if self.varied is None else self.varied
        layout = site_layout(sites, seed=self.seed, varied=varied)
        with transaction.atomic():
            site_ops = self.make_sites(layout)
            self.writer.flush()
        site_of = self.site_dealer(layout, varied)
        report = _with_records(self.progress)
        done = 0
        while done < patients:
            size = min(batch, patients - done)
            # One transaction per batch: a failure loses at most the batch, never a half-made patient.
            with transaction.atomic():
                for n in range(done, done + size):
                    site, operators = site_ops[site_of(n)]
                    self.make_patient(site, operators)
                self.writer.flush()
            done += size
            report(done, patients, records=self.stats.records)
        return self.stats

    def site_dealer(self, layout: list[SiteSpec], varied: bool) -> Callable[[int], int]:
        """Which site the n-th patient belongs to: round-robin, or drawn by volume from its own stream."""
        if not varied:
            return lambda n: n % len(layout)
        rng = np.random.default_rng([self.seed, SITE_STREAM, 1])
        cumulative = np.cumsum([spec.weight for spec in layout])
        cdf = (cumulative / cumulative[-1]).tolist()
        return lambda n: min(bisect.bisect_right(cdf, rng.random()), len(layout) - 1)


def _with_records(progress: Callable[..., None]) -> Callable[..., None]:
    """Progress callables take (done, total); pdva.core.progress.Progress also takes records=."""
    try:
        accepts = "records" in inspect.signature(progress).parameters
    except (TypeError, ValueError):
        accepts = False
    return progress if accepts else (lambda done, total, records=0: progress(done, total))


def seed_cohort(
    *,
    sites: int = 3,
    patients: int = 300,
    years: float = 5.0,
    seed: int = 1,
    cutoff: dt.date | None = None,
    progress: Callable[..., None] | None = None,
    varied_volumes: bool | None = None,
) -> Seeded:
    """Create a synthetic cohort. Every write is audited as 'system:seed'.

    Site volumes are even up to six sites (the demos' layout) and varied beyond, unless
    ``varied_volumes`` says otherwise.
    """
    if sites < 1 or patients < 0 or years <= 0:
        raise ValueError("sites must be >= 1, patients >= 0 and years > 0")
    builder = CohortBuilder(
        seed=seed,
        cutoff=cutoff or dt.date.today(),
        years=years,
        progress=progress,
        varied=varied_volumes,
    )
    with audit_context(label="system:seed", reason=f"synthetic cohort (seed {seed})"):
        return builder.build(sites=sites, patients=patients)
