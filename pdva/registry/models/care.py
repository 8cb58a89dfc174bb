"""What happens after the index procedure: medications, follow-up visits, adverse events,
reinterventions, amputations, death and PROM administrations."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import models

from pdva.reference.wifi import wifi_stage
from pdva.registry import choices as c
from pdva.registry import rules
from pdva.registry.instruments import validate_responses
from pdva.registry.models.base import ClinicalRecord, choice, free_text, multi_choice, yes_no
from pdva.registry.models.patients import Patient
from pdva.registry.models.procedure import GRADE_0_3, NRS_0_10, Procedure


def _check_not_future(errors: dict[str, str], name: str, value: dt.date | None) -> None:
    if value and value > dt.date.today():
        errors[name] = "date is in the future"


def _check_after_procedure(
    errors: dict[str, str], name: str, value: dt.date | None, procedure: Procedure
) -> None:
    if value and value < procedure.procedure_date:
        errors[name] = f"date is before the index procedure ({procedure.procedure_date:%d %b %Y})"


def _check_not_after_death(
    errors: dict[str, str], name: str, value: dt.date | None, patient: Patient
) -> None:
    death = patient.date_of_death
    if value and death and value > death:
        errors[name] = f"date is after the patient's death ({death:%d %b %Y})"


class Medication(ClinicalRecord):
    """An episode of one antithrombotic or key vascular drug."""

    site_path = "patient__site"
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medications")
    procedure = models.ForeignKey(
        Procedure, null=True, blank=True, on_delete=models.PROTECT, related_name="medications"
    )
    agent = models.CharField(max_length=20, choices=c.MedicationAgent.choices)
    agent_other = models.CharField(max_length=100, blank=True)
    dmd_code = models.CharField("dm+d code", max_length=20, blank=True)
    dose = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, validators=rules.not_negative()
    )
    dose_unit = models.CharField(max_length=10, default="mg")
    frequency = choice("frequency", c.Frequency)
    start_date = models.DateField()
    stop_date = models.DateField(null=True, blank=True)
    stop_reason = choice("stop reason", c.MedicationStopReason, blank=True, default="")
    indication = choice("indication", c.MedicationIndication)

    drug_class = models.CharField(max_length=20, choices=c.MedicationClass.choices, editable=False)

    class Meta:
        ordering = ["start_date", "id"]

    def __str__(self) -> str:
        return f"{self.get_agent_display()} from {self.start_date}"

    def derive(self) -> None:
        self.drug_class = c.AGENT_CLASS[self.agent]

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        if self.agent not in c.AGENT_CLASS:
            errors["agent"] = f"unknown agent {self.agent!r}"
        if self.stop_date and self.stop_date < self.start_date:
            errors["stop_date"] = "stop date is before the start date"
        if self.stop_date and not self.stop_reason:
            errors["stop_reason"] = "give a reason the drug was stopped"
        if self.stop_reason and not self.stop_date:
            errors["stop_date"] = "stop reason given without a stop date"
        _check_not_future(errors, "start_date", self.start_date)
        if self.patient_id:
            _check_not_after_death(errors, "start_date", self.start_date, self.patient)
        if errors:
            raise ValidationError(errors)

    def duration_days(self, as_of: dt.date) -> int:
        """Days on the drug up to ``as_of`` (an episode still running is counted to ``as_of``)."""
        end = min(self.stop_date or as_of, as_of)
        return max(0, (end - self.start_date).days)


class FollowUpVisit(ClinicalRecord):
    """A follow-up assessment of the index limb. Open-ended: patients are followed up for life."""

    site_path = "procedure__patient__site"
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="visits")
    visit_date = models.DateField()
    timepoint = models.CharField(max_length=20, choices=c.Timepoint.choices, default=c.Timepoint.UNSCHEDULED)
    timepoint_year = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="For annual visits: the year after the procedure (2, 3, ...)"
    )
    contact_mode = models.CharField(max_length=20, choices=c.ContactMode.choices)
    alive = yes_no("alive at this contact", default="yes")
    index_limb_status = choice("index limb status", c.LimbStatus)
    rutherford = models.PositiveSmallIntegerField(choices=c.Rutherford.choices, null=True, blank=True)
    wifi_w = models.PositiveSmallIntegerField(null=True, blank=True, validators=GRADE_0_3)
    wifi_i = models.PositiveSmallIntegerField(null=True, blank=True, validators=GRADE_0_3)
    wifi_fi = models.PositiveSmallIntegerField(null=True, blank=True, validators=GRADE_0_3)
    wifi_i_basis = choice("ischaemia measurement", c.WifiIBasis)
    wound_status = choice("wound status", c.WoundStatus)
    complete_healing_date = models.DateField(null=True, blank=True)
    wound_area_total_cm2 = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    pain_nrs = models.PositiveSmallIntegerField("pain (NRS 0-10)", null=True, blank=True, validators=NRS_0_10)
    oedema = choice("oedema", c.Oedema)
    circuit_patency = models.CharField(
        max_length=20, choices=c.Patency.choices, default=c.Patency.NOT_ASSESSED
    )
    duplex_psv_max_cm_s = models.PositiveSmallIntegerField(null=True, blank=True)
    duplex_psv_ratio = models.DecimalField(
        max_digits=4, decimal_places=1, null=True, blank=True, validators=rules.not_negative()
    )
    duplex_volume_flow_ml_min = models.PositiveIntegerField(null=True, blank=True)
    toe_pressure_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    tcpo2_mmhg = models.PositiveSmallIntegerField(null=True, blank=True)
    worsening_perfusion = yes_no("worsening perfusion")
    ambulatory_status = choice("ambulatory status", c.Ambulatory)
    new_events_since_last = yes_no("new events since last contact")
    notes = free_text()

    wifi_stage = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["visit_date", "id"]

    def __str__(self) -> str:
        return f"{self.get_timepoint_display()} visit {self.visit_date}"

    def derive(self) -> None:
        if None not in (self.wifi_w, self.wifi_i, self.wifi_fi):
            self.wifi_stage = wifi_stage(self.wifi_w, self.wifi_i, self.wifi_fi).stage  # type: ignore[arg-type]
        else:
            self.wifi_stage = None

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        _check_not_future(errors, "visit_date", self.visit_date)
        _check_after_procedure(errors, "visit_date", self.visit_date, self.procedure)
        if self.alive != "no":
            _check_not_after_death(errors, "visit_date", self.visit_date, self.procedure.patient)
        if self.complete_healing_date:
            if self.complete_healing_date > self.visit_date:
                errors["complete_healing_date"] = "healing date is after the visit"
            _check_after_procedure(
                errors, "complete_healing_date", self.complete_healing_date, self.procedure
            )
            if self.wound_status != "healed":
                errors["complete_healing_date"] = "healing date given but wound status is not 'healed'"
        if self.timepoint == c.Timepoint.ANNUAL and not self.timepoint_year:
            errors["timepoint_year"] = "say which year after the procedure this annual visit is"
        if errors:
            raise ValidationError(errors)


class AdverseEvent(ClinicalRecord):
    site_path = "procedure__patient__site"
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="adverse_events")
    onset_date = models.DateField()
    category = models.CharField(max_length=40, choices=c.AECategory.choices)
    description = free_text()
    bleeding_severity = choice("bleeding severity (BARC)", c.BleedingSeverity, blank=True, default="")
    infection_type = choice("infection type", c.InfectionType, blank=True, default="")
    steal_grade = choice("steal grade", c.StealGrade, blank=True, default="")
    clavien_dindo = choice("severity (Clavien-Dindo)", c.ClavienDindo)
    serious = yes_no("serious (death, life-threatening, hospitalisation or disability)")
    related_to_device = choice("relatedness to device", c.Relatedness)
    related_to_procedure = choice("relatedness to procedure", c.Relatedness)
    outcome = choice("outcome", c.AEOutcome)
    resolution_date = models.DateField(null=True, blank=True)
    treatment = free_text()
    mhra_reported = yes_no("reported to the MHRA (Yellow Card)", default="no")
    mhra_reference = models.CharField("MHRA Yellow Card reference", max_length=60, blank=True)
    mhra_report_date = models.DateField(null=True, blank=True)

    CONDITIONAL = {
        "bleeding_severity": "bleeding",
        "infection_type": "infection",
        "steal_grade": "steal_syndrome",
    }

    class Meta:
        ordering = ["onset_date", "id"]

    def __str__(self) -> str:
        return f"{self.get_category_display()} on {self.onset_date}"

    @property
    def device_related(self) -> bool:
        return self.related_to_device in c.RELATED_LEVELS

    @property
    def needs_mhra_report(self) -> bool:
        """Device-related or serious events should be reported to the MHRA Yellow Card scheme."""
        return self.device_related or self.serious == "yes"

    @property
    def nice_safety_category(self) -> bool:
        return self.category in c.NICE_SAFETY_CATEGORIES

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        for name, category in self.CONDITIONAL.items():
            if getattr(self, name) and self.category != category:
                errors[name] = f"only recorded for {category.replace('_', ' ')} events"
        _check_not_future(errors, "onset_date", self.onset_date)
        _check_after_procedure(errors, "onset_date", self.onset_date, self.procedure)
        _check_not_after_death(errors, "onset_date", self.onset_date, self.procedure.patient)
        if self.resolution_date and self.resolution_date < self.onset_date:
            errors["resolution_date"] = "resolution is before onset"
        if self.mhra_reference and self.mhra_reported != "yes":
            errors["mhra_reference"] = "a Yellow Card reference is given but the event is not marked reported"
        if self.mhra_report_date and self.mhra_report_date < self.onset_date:
            errors["mhra_report_date"] = "MHRA report is dated before the event"
        if self.outcome == "fatal" and self.clavien_dindo not in ("V", c.NOT_KNOWN):
            errors["clavien_dindo"] = "a fatal event is Clavien-Dindo grade V"
        if errors:
            raise ValidationError(errors)


class Reintervention(ClinicalRecord):
    site_path = "procedure__patient__site"
    multi_choice_fields = {"failure_sites": c.FailureSite, "modalities": c.ReinterventionModality}
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="reinterventions")
    date = models.DateField()
    planned = models.CharField(
        max_length=10,
        choices=[("planned", "Planned / staged"), ("unplanned", "Unplanned"), (c.NOT_KNOWN, "Not known")],
        default=c.NOT_KNOWN,
    )
    indication = choice("indication", c.ReinterventionIndication)
    failure_sites = multi_choice("failure sites")
    modalities = multi_choice("modalities")
    technical_success = yes_no("technical success")
    opcs4_code = models.CharField("OPCS-4 code", max_length=10, blank=True)
    notes = free_text()

    is_major = models.BooleanField(
        "major reintervention (MALE definition, derived)", default=False, editable=False
    )

    class Meta:
        ordering = ["date", "id"]

    def __str__(self) -> str:
        return f"Reintervention {self.date}"

    def derive(self) -> None:
        self.is_major = any(m in c.MAJOR_REINTERVENTION_MODALITIES for m in self.modalities or [])

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        if not self.modalities:
            errors["modalities"] = "record at least one modality"
        _check_not_future(errors, "date", self.date)
        _check_after_procedure(errors, "date", self.date, self.procedure)
        _check_not_after_death(errors, "date", self.date, self.procedure.patient)
        if errors:
            raise ValidationError(errors)


class Amputation(ClinicalRecord):
    """Any amputation of either limb. Whether it is an index-limb event is derived from the limb."""

    site_path = "patient__site"
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="amputations")
    limb = models.CharField(max_length=5, choices=c.Limb.choices)
    date = models.DateField()
    level = models.CharField(max_length=30, choices=c.AmputationLevel.choices)
    planned_staged = yes_no("planned / staged")
    reason = choice("reason", c.AmputationReason)
    reintervention = models.ForeignKey(
        Reintervention, null=True, blank=True, on_delete=models.PROTECT, related_name="amputations"
    )
    stump_primary_healing = yes_no("primary healing of stump")
    stump_revision = yes_no("stump revision")

    is_major = models.BooleanField(
        "major amputation (ankle or above, derived)", default=False, editable=False
    )

    class Meta:
        ordering = ["date", "id"]

    def __str__(self) -> str:
        return f"{self.get_level_display()} amputation ({self.limb}) {self.date}"

    def derive(self) -> None:
        self.is_major = self.level in c.MAJOR_AMPUTATION_LEVELS

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        _check_not_future(errors, "date", self.date)
        _check_not_after_death(errors, "date", self.date, self.patient)
        if errors:
            raise ValidationError(errors)


class Death(ClinicalRecord):
    site_path = "patient__site"
    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="death")
    date_of_death = models.DateField()
    source = choice("source", c.DeathSource)
    underlying_cause_icd10 = models.CharField("underlying cause (ICD-10)", max_length=10, blank=True)
    cause_category = choice("cause category", c.DeathCause)
    in_hospital = yes_no("died in hospital")

    class Meta:
        verbose_name_plural = "deaths"

    def __str__(self) -> str:
        return f"Death of {self.patient} on {self.date_of_death}"

    def within_30_days_of(self, procedure: Procedure) -> bool:
        return 0 <= (self.date_of_death - procedure.procedure_date).days <= 30

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        _check_not_future(errors, "date_of_death", self.date_of_death)
        later = self.latest_event_date()
        if later and later > self.date_of_death:
            errors["date_of_death"] = (
                f"the patient has a record dated {later:%d %b %Y}, after this date of death"
            )
        identity = getattr(self.patient, "identity", None) if self.patient_id else None
        before_birth = rules.death_before_birth(
            self.date_of_death, identity.date_of_birth if identity is not None else None
        )
        if before_birth:  # the more basic of the two: said first
            errors["date_of_death"] = before_birth
        if errors:
            raise ValidationError(errors)

    @classmethod
    def prepare_many(cls, objs: list[Death]) -> None:
        """The bulk path: every patient's latest record in one query per table, not five per death."""
        latest = latest_event_dates([death.patient_id for death in objs])
        for death in objs:
            death._known_latest_event = latest.get(death.patient_id)
            try:
                death.prepare_for_save()
            finally:
                del death._known_latest_event

    def latest_event_date(self) -> dt.date | None:
        """Latest dated record that implies the patient was alive (visits marked alive, events, amputations)."""
        if hasattr(self, "_known_latest_event"):  # looked up for a whole batch by prepare_many
            return self._known_latest_event
        return latest_event_dates([self.patient_id]).get(self.patient_id)


def latest_event_dates(patient_ids: list[int | None]) -> dict[int, dt.date]:
    """Per patient, the latest date of a record implying they were alive (for the date-of-death check)."""
    from django.db.models import Max

    ids = [pk for pk in set(patient_ids) if pk is not None]
    if not ids:
        return {}
    queries = [
        FollowUpVisit.objects.alive()
        .filter(procedure__patient__in=ids)
        .exclude(alive="no")
        .values_list("procedure__patient")
        .annotate(m=Max("visit_date")),
        AdverseEvent.objects.alive()
        .filter(procedure__patient__in=ids)
        .values_list("procedure__patient")
        .annotate(m=Max("onset_date")),
        Reintervention.objects.alive()
        .filter(procedure__patient__in=ids)
        .values_list("procedure__patient")
        .annotate(m=Max("date")),
        Amputation.objects.alive().filter(patient__in=ids).values_list("patient").annotate(m=Max("date")),
        Procedure.objects.alive()
        .filter(patient__in=ids)
        .values_list("patient")
        .annotate(m=Max("procedure_date")),
    ]
    latest: dict[int, dt.date] = {}
    for query in queries:
        for patient_id, day in query.order_by():
            if day is not None and (patient_id not in latest or day > latest[patient_id]):
                latest[patient_id] = day
    return latest


class PromAdministration(ClinicalRecord):
    """One administration of a PROM instrument. Raw item codes only: licensed wording is never stored."""

    site_path = "patient__site"
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="proms")
    procedure = models.ForeignKey(
        Procedure, null=True, blank=True, on_delete=models.PROTECT, related_name="proms"
    )
    visit = models.ForeignKey(
        FollowUpVisit, null=True, blank=True, on_delete=models.PROTECT, related_name="proms"
    )
    timepoint = models.CharField(max_length=20, choices=c.Timepoint.choices, default=c.Timepoint.UNSCHEDULED)
    instrument = models.CharField(max_length=20, choices=c.PromInstrument.choices)
    mode = models.CharField(max_length=20, choices=c.PromMode.choices)
    language_version = models.CharField(max_length=20, default="en-GB")
    completed_date = models.DateField()
    completion_status = models.CharField(
        max_length=20, choices=c.PromStatus.choices, default=c.PromStatus.COMPLETE
    )
    responses = models.JSONField(default=dict, blank=True, help_text="item code -> response level")

    # Scores are derived by pdva.proms (value set recorded with each score).
    score = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True, editable=False)
    score_method = models.CharField(max_length=60, blank=True, editable=False)

    class Meta:
        ordering = ["completed_date", "id"]
        verbose_name = "PROM administration"

    def __str__(self) -> str:
        return f"{self.get_instrument_display()} {self.completed_date}"

    def clean_for_save(self) -> None:
        super().clean_for_save()
        errors: dict[str, str] = {}
        problems = validate_responses(
            self.instrument, self.responses, complete=self.completion_status == "complete"
        )
        if problems:
            errors["responses"] = "; ".join(problems)
        _check_not_future(errors, "completed_date", self.completed_date)
        _check_not_after_death(errors, "completed_date", self.completed_date, self.patient)
        if self.procedure_id and self.procedure.patient_id != self.patient_id:
            errors["procedure"] = "procedure belongs to another patient"
        if errors:
            raise ValidationError(errors)
