"""The index pDVA procedure (one per limb per procedure), its baseline selection data and consent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from pdva.reference.devices import device_choices
from pdva.reference.glass import glass_stage, segment_grade
from pdva.reference.wifi import wifi_stage
from pdva.registry import choices as c
from pdva.registry import rules
from pdva.registry.models.base import (
    SHORT_TEXT_MAX_LENGTH,
    ClinicalRecord,
    choice,
    free_text,
    multi_choice,
    yes_no,
)
from pdva.registry.models.patients import Patient
from pdva.registry.models.sites import Operator

GRADE_0_3 = [MinValueValidator(0), MaxValueValidator(3)]
GRADE_0_4 = [MinValueValidator(0), MaxValueValidator(4)]
NRS_0_10 = [MinValueValidator(0), MaxValueValidator(10)]


class Procedure(ClinicalRecord):
    """Index pDVA on one limb. Time zero for every outcome is ``procedure_date``."""

    site_path = "patient__site"
    multi_choice_fields = {
        "arterial_access": c.ArterialAccess,
        "venous_access": c.VenousAccess,
        "adjunct_inflow_treatment": c.InflowTreatment,
    }

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="procedures")
    index_limb = models.CharField(max_length=5, choices=c.Limb.choices)
    procedure_date = models.DateField()
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    referral_date = models.DateField(null=True, blank=True)
    admission_date = models.DateField(null=True, blank=True)
    discharge_date = models.DateField(null=True, blank=True)
    admission_type = choice("admission type", c.AdmissionType)
    discharge_destination = choice("discharge destination", c.DischargeDestination)

    operator = models.ForeignKey(Operator, on_delete=models.PROTECT, related_name="procedures")
    second_operator = models.ForeignKey(
        Operator, null=True, blank=True, on_delete=models.PROTECT, related_name="assisted_procedures"
    )
    proctored = yes_no("proctored case")

    technique_family = choice("technique family", c.TechniqueFamily)
    # Coded (reference table "device"): the only device information a de-identified export carries; the
    # free-entry manufacturer and model below are for traceability in the full export.
    device_code = models.CharField(
        "device (coded list)", max_length=40, blank=True, choices=device_choices("2026.1")
    )
    device_manufacturer = models.CharField(max_length=100, blank=True)
    device_model = models.CharField(max_length=100, blank=True)
    device_udi = models.CharField("device UDI (GS1)", max_length=120, blank=True)
    device_lot = models.CharField(max_length=60, blank=True)
    anaesthesia = choice("anaesthesia", c.Anaesthesia)
    arterial_access = multi_choice("arterial access")
    venous_access = multi_choice("venous access")
    donor_artery = choice("donor artery", c.DonorArtery)
    target_vein = choice("target vein", c.TargetVein)
    crossing_level = choice("crossing level", c.CrossingLevel)
    crossing_method = choice("crossing method", c.CrossingMethod)
    valvulotomy = choice("valvulotomy", c.Valvulotomy)
    valvulotomy_extent = choice("valvulotomy extent", c.ValvulotomyExtent, blank=True, default="")
    stent_graft_count = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(20)]
    )
    stent_graft_total_length_mm = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(2000)]
    )
    stent_graft_min_diameter_mm = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    stent_graft_max_diameter_mm = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    bare_stent_count = models.PositiveSmallIntegerField(null=True, blank=True)
    collateral_embolisation = yes_no("collateral embolisation")
    embolisation_materials = models.CharField(max_length=200, blank=True)
    outflow_reached = choice("outflow reached", c.Outflow)
    completion_foot_opacification = yes_no("completion angiography shows foot venous opacification")
    conversion_to_open = yes_no("conversion to open surgery")
    adjunct_inflow_treatment = multi_choice("adjunct arterial inflow treatment")
    concomitant_minor_amputation = yes_no("concomitant minor amputation")
    concomitant_debridement = yes_no("concomitant debridement")
    contrast_volume_ml = models.PositiveIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(2000)]
    )
    fluoroscopy_time_min = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    dose_area_product_gycm2 = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, validators=rules.not_negative()
    )
    intraprocedural_anticoagulant = models.CharField(
        max_length=20,
        choices=[
            ("ufh", "Unfractionated heparin"),
            ("bivalirudin", "Bivalirudin"),
            ("none", "None"),
            (c.NOT_KNOWN, "Not known"),
        ],
        default=c.NOT_KNOWN,
    )
    intraprocedural_anticoagulant_dose = models.CharField(max_length=40, blank=True)
    notes = free_text()

    # Derived (see derive()): never entered.
    technical_success = yes_no("technical success (derived)", editable=False)
    length_of_stay_days = models.PositiveIntegerField(null=True, blank=True, editable=False)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)
    age_at_procedure = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    # Case sign-off and locking (see pdva.capture.services.signoff).
    signed_off_at = models.DateTimeField(null=True, blank=True, editable=False)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    locked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["procedure_date", "id"]
        indexes = [
            models.Index(fields=["procedure_date"]),
            # A site's live cases, found through its patients: procedures have no site column, so without
            # this the planner reads every procedure of the registry to count or list one site's (worklist,
            # home page, API lists). Index-only: (patient_id, id) of the live rows.
            models.Index(
                fields=["patient", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="registry_proc_live_patient",
            ),
            # The few removed cases: "every row except the removed ones" is then a small anti-join instead
            # of a join against every live case (follow-up statuses, worklist counts).
            models.Index(
                fields=["id"], condition=models.Q(deleted_at__isnull=False), name="registry_proc_removed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.index_limb} pDVA {self.procedure_date}"

    def derive(self) -> None:
        self.technical_success = derive_technical_success(
            self.completion_foot_opacification, self.outflow_reached, self.conversion_to_open
        )
        self.length_of_stay_days = (
            (self.discharge_date - self.admission_date).days
            if self.admission_date and self.discharge_date and self.discharge_date >= self.admission_date
            else None
        )
        self.duration_minutes = (
            int((self.end_time - self.start_time).total_seconds() // 60)
            if self.start_time and self.end_time and self.end_time >= self.start_time
            else None
        )
        identity = getattr(self.patient, "identity", None) if self.patient_id else None
        self.age_at_procedure = identity.age_on(self.procedure_date) if identity is not None else None

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        if self.admission_date and self.procedure_date < self.admission_date:
            errors["procedure_date"] = "procedure date is before the admission date"
        if self.discharge_date and self.discharge_date < self.procedure_date:
            errors["discharge_date"] = "discharge date is before the procedure date"
        if self.start_time and self.end_time and self.end_time < self.start_time:
            errors["end_time"] = "procedure end time is before its start time"
        if self.operator_id and self.patient_id and self.operator.site_id != self.patient.site_id:
            errors["operator"] = "operator belongs to another site"
        if self.valvulotomy in ("none", c.NOT_KNOWN) and self.valvulotomy_extent not in ("", c.NOT_KNOWN):
            errors["valvulotomy_extent"] = "extent given but no valvulotomy recorded"
        lo, hi = self.stent_graft_min_diameter_mm, self.stent_graft_max_diameter_mm
        if lo is not None and hi is not None and lo > hi:
            errors["stent_graft_min_diameter_mm"] = "smallest diameter is larger than the largest"
        identity = getattr(self.patient, "identity", None) if self.patient_id else None
        dob = identity.date_of_birth if identity is not None else None
        if dob and self.procedure_date < dob:
            errors["procedure_date"] = "procedure date is before the patient's date of birth"
        if self.procedure_date > dt.date.today():
            errors["procedure_date"] = "procedure date is in the future"
        death = self.patient.date_of_death if self.patient_id else None
        if death and self.procedure_date > death:
            errors["procedure_date"] = "procedure date is after the patient's death"
        if errors:
            raise ValidationError(errors)

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    def day(self, when: dt.date) -> int:
        """Days since the index procedure (day 0 = procedure date)."""
        return (when - self.procedure_date).days


def derive_technical_success(opacification: str, outflow: str, conversion: str) -> str:
    """DVA technical success: an arteriovenous connection with flow into the foot venous system
    (completion opacification of the foot veins, outflow reached) and no conversion to open surgery."""
    if opacification == "no" or outflow == "none" or conversion == "yes":
        return "no"
    if opacification == "yes" and outflow not in (c.NOT_KNOWN, "none") and conversion == "no":
        return "yes"
    return c.NOT_KNOWN


class Baseline(ClinicalRecord):
    """Patient selection and baseline status of the index limb, one per index procedure."""

    site_path = "procedure__patient__site"
    multi_choice_fields = {
        "no_option_reasons": c.NoOptionReason,
        "imaging_reviewed": c.Imaging,
        "wound_locations": c.WoundLocation,
    }

    procedure = models.OneToOneField(Procedure, on_delete=models.PROTECT, related_name="baseline")
    assessment_date = models.DateField()
    rutherford = models.PositiveSmallIntegerField(
        "Rutherford category", choices=c.Rutherford.choices, null=True, blank=True
    )
    wifi_w = models.PositiveSmallIntegerField("WIfI wound grade", null=True, blank=True, validators=GRADE_0_3)
    wifi_i = models.PositiveSmallIntegerField(
        "WIfI ischaemia grade", null=True, blank=True, validators=GRADE_0_3
    )
    wifi_fi = models.PositiveSmallIntegerField(
        "WIfI foot infection grade", null=True, blank=True, validators=GRADE_0_3
    )
    wifi_i_basis = choice("measurement that set the ischaemia grade", c.WifiIBasis)
    unsalvageable = models.BooleanField(
        "clinician judges the foot unsalvageable (WIfI stage 5)",
        default=False,
        help_text="A clinical judgement recorded separately from the WIfI grid",
    )
    abi = models.DecimalField(
        "ABI", max_digits=3, decimal_places=2, null=True, blank=True, validators=rules.not_negative()
    )
    ankle_pressure_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    toe_pressure_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    tcpo2_mmhg = models.PositiveSmallIntegerField("TcPO2 (mmHg)", null=True, blank=True)
    glass_fp_grade = models.PositiveSmallIntegerField(
        "GLASS femoropopliteal grade", null=True, blank=True, validators=GRADE_0_4
    )
    glass_ip_grade = models.PositiveSmallIntegerField(
        "GLASS infrapopliteal grade", null=True, blank=True, validators=GRADE_0_4
    )
    glass_fp_severe_calcification = models.BooleanField(default=False)
    glass_ip_severe_calcification = models.BooleanField(default=False)
    glass_im_modifier = choice("GLASS inframalleolar modifier", c.GlassIM)
    no_option_reasons = multi_choice("no-option reasons")
    no_option_adjudication = choice("no-option adjudication", c.Adjudication)
    imaging_reviewed = multi_choice("imaging reviewed")
    prior_index_limb_revasc_count = models.PositiveSmallIntegerField(null=True, blank=True)
    prior_minor_amputation_index = yes_no("prior minor amputation of the index limb")
    wound_count = models.PositiveSmallIntegerField(null=True, blank=True)
    largest_wound_area_cm2 = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    wound_locations = multi_choice("wound locations")
    gangrene = choice("gangrene", c.Gangrene)
    rest_pain_nrs = models.PositiveSmallIntegerField(
        "rest pain (NRS 0-10)", null=True, blank=True, validators=NRS_0_10
    )
    diabetes = choice("diabetes", c.Diabetes)
    hba1c_mmol_mol = models.PositiveSmallIntegerField(null=True, blank=True)
    ckd_stage = choice("CKD stage", c.CkdStage)
    dialysis_dependent = yes_no("dialysis dependent")
    dialysis_modality = choice("dialysis modality", c.DialysisModality, blank=True, default="")
    dialysis_start_date = models.DateField(null=True, blank=True)
    egfr = models.PositiveSmallIntegerField("eGFR (mL/min/1.73m²)", null=True, blank=True)
    creatinine_umol_l = models.PositiveSmallIntegerField(null=True, blank=True)
    smoking = choice("smoking", c.Smoking)
    ihd = yes_no("ischaemic heart disease")
    heart_failure = yes_no("heart failure")
    cerebrovascular = yes_no("cerebrovascular disease")
    copd = yes_no("COPD")
    hypertension = yes_no("hypertension")
    asa_grade = choice("ASA grade", c.AsaGrade)
    frailty_cfs = models.PositiveSmallIntegerField(
        "Clinical Frailty Scale (1-9)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(9)],
    )
    ambulatory_status = choice("ambulatory status", c.Ambulatory)
    living_status = choice("living status", c.LivingStatus)
    albumin_g_l = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    haemoglobin_g_l = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    wcc = models.DecimalField(
        "white cell count (×10⁹/L)",
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=rules.not_negative(),
    )
    bmi = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    eligibility_note = free_text(max_length=SHORT_TEXT_MAX_LENGTH)

    # Derived from the versioned lookup tables.
    wifi_stage = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    wifi_stage_status = models.CharField(max_length=30, blank=True, editable=False)
    wifi_table_version = models.CharField(max_length=20, blank=True, editable=False)
    glass_stage = models.CharField(max_length=3, blank=True, editable=False)
    glass_table_version = models.CharField(max_length=20, blank=True, editable=False)

    def __str__(self) -> str:
        return f"Baseline for {self.procedure}"

    def derive(self) -> None:
        if None not in (self.wifi_w, self.wifi_i, self.wifi_fi):
            result = wifi_stage(self.wifi_w, self.wifi_i, self.wifi_fi)  # type: ignore[arg-type]
            self.wifi_stage, self.wifi_stage_status = result.stage, result.status
            self.wifi_table_version = result.table_version
        else:
            self.wifi_stage, self.wifi_stage_status, self.wifi_table_version = None, "", ""
        if self.glass_fp_grade is not None and self.glass_ip_grade is not None:
            fp = segment_grade(self.glass_fp_grade, severe_calcification=self.glass_fp_severe_calcification)
            ip = segment_grade(self.glass_ip_grade, severe_calcification=self.glass_ip_severe_calcification)
            g = glass_stage(fp, ip)
            self.glass_stage, self.glass_table_version = g.stage or "", g.table_version
        else:
            self.glass_stage, self.glass_table_version = "", ""

    @property
    def reported_wifi_stage(self) -> int | None:
        """Stage for reporting: 5 when the clinician judged the foot unsalvageable, else the grid stage."""
        return 5 if self.unsalvageable else self.wifi_stage

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        for name, top in (
            ("wifi_w", 3),
            ("wifi_i", 3),
            ("wifi_fi", 3),
            ("glass_fp_grade", 4),
            ("glass_ip_grade", 4),
            ("rest_pain_nrs", 10),
        ):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= top:
                errors[name] = f"must be between 0 and {top}"
        if self.dialysis_dependent != "yes" and (self.dialysis_modality or self.dialysis_start_date):
            errors["dialysis_modality"] = (
                "dialysis details given but the patient is not recorded as dialysis dependent"
            )
        if self.abi is not None and not Decimal("0") <= self.abi <= Decimal("3"):
            errors["abi"] = "ABI must be between 0 and 3"
        if self.dialysis_start_date and self.dialysis_start_date > self.assessment_date:
            errors["dialysis_start_date"] = "dialysis start is after the baseline assessment"
        if errors:
            raise ValidationError(errors)


class ConsentGovernance(ClinicalRecord):
    """The consent conversation and governance checks NICE asks for, per procedure."""

    site_path = "procedure__patient__site"
    multi_choice_fields = {"alternatives_discussed": c.Alternative}

    procedure = models.OneToOneField(Procedure, on_delete=models.PROTECT, related_name="consent")
    nice_information_given = yes_no("NICE information for the public given")
    shared_decision_making_documented = yes_no("shared decision making documented")
    uncertainties_discussed = yes_no("uncertainties about efficacy and safety discussed")
    alternatives_discussed = multi_choice("alternatives discussed")
    consent_date = models.DateField(null=True, blank=True)
    consent_form_version = models.CharField(max_length=40, blank=True)
    registry_consent = choice("registry consent basis", c.RegistryConsent)
    research_study_id = models.CharField(max_length=60, blank=True)
    mdt_date = models.DateField("MDT review date", null=True, blank=True)

    def __str__(self) -> str:
        return f"Consent for {self.procedure}"

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        if self.consent_date and self.procedure_id and self.consent_date > self.procedure.procedure_date:
            errors["consent_date"] = "consent is dated after the procedure"
        if errors:
            raise ValidationError(errors)

    @property
    def nice_checklist_complete(self) -> bool:
        return (
            self.nice_information_given == "yes"
            and self.shared_decision_making_documented == "yes"
            and self.uncertainties_discussed == "yes"
            and bool(self.consent_date)
            and bool(self.mdt_date)
        )
