"""One form per record type: field groups, branching rules, soft warnings and mandatory items."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms

from pdva.capture.forms.base import CaptureForm, bounded
from pdva.registry import choices as c
from pdva.registry import models as m
from pdva.registry.instruments import ITEMS

YES = ("yes",)


class ProcedureForm(CaptureForm):
    fieldsets = [
        (
            "Admission",
            ["index_limb", "procedure_date", "referral_date", "admission_date", "admission_type"],
        ),
        ("Operators", ["operator", "second_operator", "proctored"]),
        (
            "Technique and device",
            [
                "technique_family",
                "device_code",
                "device_manufacturer",
                "device_model",
                "device_udi",
                "device_lot",
                "anaesthesia",
                "start_time",
                "end_time",
            ],
        ),
        ("Access", ["arterial_access", "venous_access", "donor_artery", "target_vein"]),
        ("Crossing", ["crossing_level", "crossing_method"]),
        ("Valvulotomy", ["valvulotomy", "valvulotomy_extent"]),
        (
            "Stents and embolisation",
            [
                "stent_graft_count",
                "stent_graft_total_length_mm",
                "stent_graft_min_diameter_mm",
                "stent_graft_max_diameter_mm",
                "bare_stent_count",
                "collateral_embolisation",
                "embolisation_materials",
            ],
        ),
        (
            "Completion (technical success is derived)",
            ["outflow_reached", "completion_foot_opacification", "conversion_to_open"],
        ),
        (
            "Adjuncts",
            ["adjunct_inflow_treatment", "concomitant_minor_amputation", "concomitant_debridement"],
        ),
        (
            "Radiation, contrast and anticoagulation",
            [
                "contrast_volume_ml",
                "fluoroscopy_time_min",
                "dose_area_product_gycm2",
                "intraprocedural_anticoagulant",
                "intraprocedural_anticoagulant_dose",
            ],
        ),
        ("Discharge", ["discharge_date", "discharge_destination", "notes"]),
    ]
    show_when = {
        "valvulotomy_extent": ("valvulotomy", ("reverse_valvulotome", "balloon")),
        "embolisation_materials": ("collateral_embolisation", YES),
        "intraprocedural_anticoagulant_dose": ("intraprocedural_anticoagulant", ("ufh", "bivalirudin")),
    }
    mandatory = (
        "index_limb",
        "procedure_date",
        "admission_type",
        "technique_family",
        "anaesthesia",
        "arterial_access",
        "venous_access",
        "donor_artery",
        "target_vein",
        "crossing_level",
        "crossing_method",
        "valvulotomy",
        "stent_graft_count",
        "outflow_reached",
        "completion_foot_opacification",
        "conversion_to_open",
        "adjunct_inflow_treatment",
        "concomitant_minor_amputation",
        "concomitant_debridement",
        "discharge_date",
        "discharge_destination",
    )
    labels_override = {
        "stent_graft_count": "Number of stent grafts",
        "stent_graft_total_length_mm": "Total stent graft length (mm)",
        "stent_graft_min_diameter_mm": "Smallest stent graft diameter (mm)",
        "stent_graft_max_diameter_mm": "Largest stent graft diameter (mm)",
        "bare_stent_count": "Number of bare stents",
        "contrast_volume_ml": "Contrast volume (mL)",
        "fluoroscopy_time_min": "Fluoroscopy time (min)",
        "dose_area_product_gycm2": "Dose-area product (Gy·cm²)",
        "intraprocedural_anticoagulant": "Intraprocedural anticoagulant",
        "intraprocedural_anticoagulant_dose": "Anticoagulant dose",
        "device_lot": "Device lot number",
        "start_time": "Start time",
        "end_time": "End time",
    }

    class Meta:
        model = m.Procedure
        exclude = ["patient"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        site_id = self.instance.patient.site_id if self.instance.patient_id else None
        operators = m.Operator.objects.alive().filter(site_id=site_id)
        self.fields["operator"].queryset = operators.filter(active=True) | operators.filter(
            pk=self.instance.operator_id or 0
        )
        self.fields["second_operator"].queryset = operators

    @classmethod
    def conditional_mandatory(cls, values: dict[str, Any]) -> list[str]:
        # Traceability of the device (NICE 3.8/3.9): required for the dedicated system.
        if values.get("technique_family") == "dedicated_system":
            return ["device_manufacturer", "device_model", "device_udi"]
        return []

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        w = []
        if d.get("admission_date") and d.get("discharge_date"):
            los = (d["discharge_date"] - d["admission_date"]).days
            if los > 60:
                w.append(("discharge_date", f"length of stay is {los} days (over 60)"))
        if d.get("start_time") and d.get("end_time"):
            minutes = (d["end_time"] - d["start_time"]).total_seconds() / 60
            if minutes > 8 * 60:
                w.append(("end_time", f"procedure lasted {minutes / 60:.1f} hours (over 8)"))
        if bounded(d.get("contrast_volume_ml"), None, 300):
            w.append(("contrast_volume_ml", "contrast volume over 300 mL"))
        if bounded(d.get("stent_graft_count"), None, 6):
            w.append(("stent_graft_count", "more than 6 stent grafts"))
        if bounded(d.get("fluoroscopy_time_min"), None, 120):
            w.append(("fluoroscopy_time_min", "fluoroscopy time over 120 minutes"))
        if d.get("referral_date") and d.get("procedure_date"):
            if (d["procedure_date"] - d["referral_date"]).days > 365:
                w.append(("referral_date", "referral was more than a year before the procedure"))
        return w


class BaselineForm(CaptureForm):
    fieldsets = [
        ("Assessment", ["assessment_date", "rutherford"]),
        (
            "WIfI (the stage is shown as you enter the grades)",
            ["wifi_w", "wifi_i", "wifi_fi", "wifi_i_basis", "unsalvageable"],
        ),
        ("Perfusion", ["abi", "ankle_pressure_mmhg", "toe_pressure_mmhg", "tcpo2_mmhg"]),
        (
            "GLASS (the stage is shown as you enter the grades)",
            [
                "glass_fp_grade",
                "glass_fp_severe_calcification",
                "glass_ip_grade",
                "glass_ip_severe_calcification",
                "glass_im_modifier",
            ],
        ),
        (
            "No-option selection",
            [
                "no_option_reasons",
                "no_option_adjudication",
                "imaging_reviewed",
                "prior_index_limb_revasc_count",
            ],
        ),
        (
            "Wounds",
            [
                "prior_minor_amputation_index",
                "wound_count",
                "largest_wound_area_cm2",
                "wound_locations",
                "gangrene",
                "rest_pain_nrs",
            ],
        ),
        (
            "Diabetes and kidneys",
            [
                "diabetes",
                "hba1c_mmol_mol",
                "ckd_stage",
                "dialysis_dependent",
                "dialysis_modality",
                "dialysis_start_date",
                "egfr",
                "creatinine_umol_l",
            ],
        ),
        (
            "Risk factors and function",
            [
                "smoking",
                "ihd",
                "heart_failure",
                "cerebrovascular",
                "copd",
                "hypertension",
                "asa_grade",
                "frailty_cfs",
                "ambulatory_status",
                "living_status",
            ],
        ),
        (
            "Bloods and body size",
            ["albumin_g_l", "haemoglobin_g_l", "wcc", "bmi", "eligibility_note"],
        ),
    ]
    show_when = {
        "dialysis_modality": ("dialysis_dependent", YES),
        "dialysis_start_date": ("dialysis_dependent", YES),
        "hba1c_mmol_mol": ("diabetes", ("type1", "type2", "other")),
    }
    mandatory = (
        "assessment_date",
        "rutherford",
        "wifi_w",
        "wifi_i",
        "wifi_fi",
        "wifi_i_basis",
        "glass_im_modifier",
        "no_option_reasons",
        "no_option_adjudication",
        "imaging_reviewed",
        "prior_index_limb_revasc_count",
        "prior_minor_amputation_index",
        "rest_pain_nrs",
        "diabetes",
        "ckd_stage",
        "dialysis_dependent",
        "smoking",
        "ihd",
        "heart_failure",
        "cerebrovascular",
        "copd",
        "hypertension",
        "asa_grade",
        "ambulatory_status",
    )
    labels_override = {
        "wifi_w": "WIfI wound grade (W, 0-3)",
        "wifi_i": "WIfI ischaemia grade (I, 0-3)",
        "wifi_fi": "WIfI foot infection grade (fI, 0-3)",
        "glass_fp_grade": "GLASS femoropopliteal grade (0-4)",
        "glass_ip_grade": "GLASS infrapopliteal grade (0-4)",
        "glass_fp_severe_calcification": "Severe femoropopliteal calcification",
        "glass_ip_severe_calcification": "Severe infrapopliteal calcification",
        "ankle_pressure_mmhg": "Ankle pressure (mmHg)",
        "toe_pressure_mmhg": "Toe pressure (mmHg)",
        "prior_index_limb_revasc_count": "Prior revascularisations of the index limb",
        "wound_count": "Number of wounds",
        "largest_wound_area_cm2": "Largest wound area (cm²)",
        "hba1c_mmol_mol": "HbA1c (mmol/mol)",
        "creatinine_umol_l": "Creatinine (µmol/L)",
        "albumin_g_l": "Albumin (g/L)",
        "haemoglobin_g_l": "Haemoglobin (g/L)",
        "bmi": "BMI (kg/m²)",
        "dialysis_start_date": "Dialysis start date",
    }

    class Meta:
        model = m.Baseline
        exclude = ["procedure"]

    stage_inputs = (
        "wifi_w",
        "wifi_i",
        "wifi_fi",
        "unsalvageable",
        "glass_fp_grade",
        "glass_ip_grade",
        "glass_fp_severe_calcification",
        "glass_ip_severe_calcification",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from django.urls import reverse

        super().__init__(*args, **kwargs)
        for name in ("wifi_w", "wifi_i", "wifi_fi", "glass_fp_grade", "glass_ip_grade"):
            top = 4 if name.startswith("glass") else 3
            self.fields[name] = forms.TypedChoiceField(
                label=self.fields[name].label,
                choices=[("", "Not recorded")] + [(str(g), str(g)) for g in range(top + 1)],
                coerce=int,
                empty_value=None,
                required=False,
            )
        for name in self.stage_inputs:
            # Live stage: each grade change asks the server for the stage and its lookup cell's status.
            self.fields[name].widget.attrs.update(
                {
                    "hx-get": reverse("capture:stage"),
                    "hx-trigger": "change",
                    "hx-target": "#stage-output",
                    "hx-swap": "innerHTML",
                    "hx-include": "closest form",
                    # Quick changes: a newer request replaces one in flight, so an older answer never wins.
                    "hx-sync": "#stage-output:replace",
                }
            )

    @classmethod
    def conditional_mandatory(cls, values: dict[str, Any]) -> list[str]:
        return ["dialysis_modality"] if values.get("dialysis_dependent") == "yes" else []

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        w = []
        if d.get("rutherford") is not None and d["rutherford"] < 4:
            w.append(("rutherford", "pDVA is for chronic limb-threatening ischaemia (Rutherford 4-6)"))
        if bounded(d.get("abi"), None, Decimal("1.4")):
            w.append(("abi", "ABI over 1.4 suggests non-compressible vessels: is the ischaemia grade right?"))
        if bounded(d.get("hba1c_mmol_mol"), 20, 150):
            w.append(("hba1c_mmol_mol", "HbA1c outside 20-150 mmol/mol"))
        if bounded(d.get("egfr"), None, 150):
            w.append(("egfr", "eGFR over 150"))
        if bounded(d.get("bmi"), 15, 50):
            w.append(("bmi", "BMI outside 15-50"))
        if bounded(d.get("albumin_g_l"), 15, 55):
            w.append(("albumin_g_l", "albumin outside 15-55 g/L"))
        if bounded(d.get("haemoglobin_g_l"), 60, 200):
            w.append(("haemoglobin_g_l", "haemoglobin outside 60-200 g/L"))
        if bounded(d.get("toe_pressure_mmhg"), None, 150):
            w.append(("toe_pressure_mmhg", "toe pressure over 150 mmHg"))
        if bounded(d.get("largest_wound_area_cm2"), None, 200):
            w.append(("largest_wound_area_cm2", "wound area over 200 cm²"))
        procedure = self.instance.procedure if self.instance.procedure_id else None
        if procedure and d.get("assessment_date"):
            gap = (procedure.procedure_date - d["assessment_date"]).days
            if gap > 90:
                w.append(("assessment_date", f"assessment is {gap} days before the procedure (over 90)"))
            elif gap < 0:
                w.append(("assessment_date", "baseline assessment is dated after the procedure"))
        return w


class ConsentForm(CaptureForm):
    fieldsets = [
        (
            "NICE consent checklist (IPG773 1.2)",
            [
                "nice_information_given",
                "shared_decision_making_documented",
                "uncertainties_discussed",
                "alternatives_discussed",
            ],
        ),
        ("Consent", ["consent_date", "consent_form_version", "registry_consent", "research_study_id"]),
        ("Multidisciplinary review", ["mdt_date"]),
    ]
    mandatory = (
        "nice_information_given",
        "shared_decision_making_documented",
        "uncertainties_discussed",
        "alternatives_discussed",
        "consent_date",
        "consent_form_version",
        "registry_consent",
        "mdt_date",
    )
    labels_override = {"research_study_id": "Research study ID (if part of a study)"}

    class Meta:
        model = m.ConsentGovernance
        exclude = ["procedure"]

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        w = []
        procedure = self.instance.procedure if self.instance.procedure_id else None
        if procedure and d.get("mdt_date") and d["mdt_date"] > procedure.procedure_date:
            w.append(("mdt_date", "MDT review is dated after the procedure"))
        if d.get("registry_consent") == "declined":
            w.append(("registry_consent", "registry consent declined: check the lawful basis for this entry"))
        return w


class VisitForm(CaptureForm):
    fieldsets = [
        ("Contact", ["visit_date", "timepoint", "timepoint_year", "contact_mode", "alive"]),
        ("Limb", ["index_limb_status", "rutherford", "wifi_w", "wifi_i", "wifi_fi", "wifi_i_basis"]),
        (
            "Wound and pain",
            ["wound_status", "complete_healing_date", "wound_area_total_cm2", "pain_nrs", "oedema"],
        ),
        (
            "Circuit surveillance",
            [
                "circuit_patency",
                "duplex_psv_max_cm_s",
                "duplex_psv_ratio",
                "duplex_volume_flow_ml_min",
                "toe_pressure_mmhg",
                "tcpo2_mmhg",
                "worsening_perfusion",
            ],
        ),
        ("Function and new events", ["ambulatory_status", "new_events_since_last", "notes"]),
    ]
    show_when = {
        "timepoint_year": ("timepoint", ("annual",)),
        "complete_healing_date": ("wound_status", ("healed",)),
        "duplex_psv_max_cm_s": ("circuit_patency", ("patent", "stenosis", "occluded")),
        "duplex_psv_ratio": ("circuit_patency", ("patent", "stenosis", "occluded")),
        "duplex_volume_flow_ml_min": ("circuit_patency", ("patent", "stenosis", "occluded")),
    }
    mandatory = ("visit_date", "timepoint", "contact_mode", "alive", "index_limb_status")
    examined = (
        "rutherford",
        "wifi_w",
        "wifi_i",
        "wifi_fi",
        "wound_status",
        "pain_nrs",
        "oedema",
        "circuit_patency",
        "worsening_perfusion",
        "ambulatory_status",
        "new_events_since_last",
    )
    labels_override = {
        "timepoint_year": "Year after the procedure (annual visits)",
        "rutherford": "Rutherford category",
        "wifi_w": "WIfI wound grade (0-3)",
        "wifi_i": "WIfI ischaemia grade (0-3)",
        "wifi_fi": "WIfI foot infection grade (0-3)",
        "wound_area_total_cm2": "Total wound area (cm²)",
        "duplex_psv_max_cm_s": "Maximum PSV (cm/s)",
        "duplex_psv_ratio": "PSV ratio",
        "duplex_volume_flow_ml_min": "Volume flow (mL/min)",
        "toe_pressure_mmhg": "Toe pressure (mmHg)",
        "tcpo2_mmhg": "TcPO2 (mmHg)",
        "complete_healing_date": "Date of complete healing",
    }

    class Meta:
        model = m.FollowUpVisit
        exclude = ["procedure"]

    @classmethod
    def conditional_mandatory(cls, values: dict[str, Any]) -> list[str]:
        # A face-to-face visit examines the limb; telephone, records or linkage contacts cannot.
        return list(cls.examined) if values.get("contact_mode") == "face_to_face" else []

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        from pdva.capture.schedule import FIXED_TIMEPOINTS

        w = []
        procedure = self.instance.procedure if self.instance.procedure_id else None
        if procedure and d.get("visit_date"):
            day = procedure.day(d["visit_date"])
            windows = {code: (lo, hi) for code, _, lo, _, hi in FIXED_TIMEPOINTS}
            tp = d.get("timepoint")
            if tp in windows and not windows[tp][0] <= day <= windows[tp][1]:
                lo, hi = windows[tp]
                w.append(
                    (
                        "timepoint",
                        f"visit is on day {day}, outside the {lo}-{hi} day window for this time point",
                    )
                )
            if tp == "annual" and d.get("timepoint_year"):
                target = 365 * d["timepoint_year"]
                if abs(day - target) > 180:
                    w.append(
                        ("timepoint_year", f"visit is on day {day}, far from year {d['timepoint_year']}")
                    )
        if bounded(d.get("duplex_psv_max_cm_s"), None, 600):
            w.append(("duplex_psv_max_cm_s", "peak systolic velocity over 600 cm/s"))
        if bounded(d.get("duplex_volume_flow_ml_min"), None, 1000):
            w.append(("duplex_volume_flow_ml_min", "volume flow over 1000 mL/min"))
        if bounded(d.get("wound_area_total_cm2"), None, 200):
            w.append(("wound_area_total_cm2", "wound area over 200 cm²"))
        return w


class AdverseEventForm(CaptureForm):
    fieldsets = [
        ("Event", ["onset_date", "category", "description"]),
        ("Details for this category", ["bleeding_severity", "infection_type", "steal_grade"]),
        (
            "Severity and relatedness",
            ["clavien_dindo", "serious", "related_to_device", "related_to_procedure"],
        ),
        ("Outcome", ["outcome", "resolution_date", "treatment"]),
        ("MHRA Yellow Card", ["mhra_reported", "mhra_reference", "mhra_report_date"]),
    ]
    show_when = {
        "bleeding_severity": ("category", ("bleeding",)),
        "infection_type": ("category", ("infection",)),
        "steal_grade": ("category", ("steal_syndrome",)),
        "resolution_date": ("outcome", ("resolved", "resolved_sequelae")),
        "mhra_reference": ("mhra_reported", YES),
        "mhra_report_date": ("mhra_reported", YES),
    }
    mandatory = (
        "onset_date",
        "category",
        "clavien_dindo",
        "serious",
        "related_to_device",
        "related_to_procedure",
        "outcome",
    )

    class Meta:
        model = m.AdverseEvent
        exclude = ["procedure"]

    @classmethod
    def conditional_mandatory(cls, values: dict[str, Any]) -> list[str]:
        out = [f for f, cat in m.AdverseEvent.CONDITIONAL.items() if values.get("category") == cat]
        if values.get("mhra_reported") == "yes":
            out += ["mhra_reference", "mhra_report_date"]
        return out

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        w = []
        if d.get("clavien_dindo") in ("IVa", "IVb", "V") and d.get("serious") == "no":
            w.append(("serious", "Clavien-Dindo IV-V events are usually serious"))
        if d.get("category") in c.MACE_CATEGORIES and d.get("related_to_device") in c.RELATED_LEVELS:
            w.append(("related_to_device", "a MACE event is recorded as related to the device"))
        return w


class ReinterventionForm(CaptureForm):
    fieldsets = [
        ("Reintervention", ["date", "planned", "indication", "opcs4_code"]),
        (
            "What was done (major reintervention is derived)",
            ["failure_sites", "modalities", "technical_success"],
        ),
        ("Notes", ["notes"]),
    ]
    mandatory = ("date", "planned", "indication", "modalities", "technical_success")
    labels_override = {"planned": "Planned or unplanned", "opcs4_code": "OPCS-4 code"}

    class Meta:
        model = m.Reintervention
        exclude = ["procedure"]

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        if d.get("planned") == "planned" and d.get("indication") == "occlusion":
            return [("planned", "a planned reintervention for an occluded circuit is unusual")]
        return []


class MedicationForm(CaptureForm):
    fieldsets = [
        ("Applies to", ["procedure"]),
        ("Drug", ["agent", "agent_other", "dmd_code", "indication"]),
        ("Dose", ["dose", "dose_unit", "frequency"]),
        ("Episode", ["start_date", "stop_date", "stop_reason"]),
    ]
    show_when = {"agent_other": ("agent", ("other",))}
    mandatory = ("agent", "dose", "frequency", "start_date", "indication")
    labels_override = {"dmd_code": "dm+d code"}
    # Highest usual single dose (mg) for the common agents: above it is a soft warning.
    usual_max_mg = {
        "aspirin": 300,
        "clopidogrel": 600,
        "ticagrelor": 180,
        "prasugrel": 60,
        "rivaroxaban": 20,
        "apixaban": 10,
        "edoxaban": 60,
        "dabigatran": 150,
        "warfarin": 15,
        "cilostazol": 100,
        "statin": 80,
    }

    class Meta:
        model = m.Medication
        exclude = ["patient"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One case, or none: a drug for another condition (e.g. anticoagulation for AF) belongs to the patient
        # and is shown on every case of theirs.
        field = self.fields["procedure"]
        field.queryset = m.Procedure.objects.alive().filter(patient_id=self.instance.patient_id)
        field.label = "Case"
        field.empty_label = "Not tied to one procedure: every case of this patient"
        field.label_from_instance = lambda p: (
            f"{p.get_index_limb_display()} limb pDVA on {p.procedure_date:%d %b %Y}"
        )
        field.help_text = "Choose no case for a long-term drug that is not part of one pDVA (e.g. for AF)."

    @classmethod
    def conditional_mandatory(cls, values: dict[str, Any]) -> list[str]:
        out = ["agent_other"] if values.get("agent") == "other" else []
        return out + (["stop_reason"] if values.get("stop_date") else [])

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        top = self.usual_max_mg.get(d.get("agent") or "")
        if top and d.get("dose") is not None and d.get("dose_unit") == "mg" and d["dose"] > top:
            return [("dose", f"dose above the usual maximum of {top} mg for this drug")]
        return []


class AmputationForm(CaptureForm):
    fieldsets = [
        (
            "Amputation (major is derived from the level)",
            ["limb", "date", "level", "planned_staged", "reason"],
        ),
        ("Link and healing", ["reintervention", "stump_primary_healing", "stump_revision"]),
    ]
    mandatory = ("limb", "date", "level", "planned_staged", "reason")

    class Meta:
        model = m.Amputation
        exclude = ["patient"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        patient_id = self.instance.patient_id
        self.fields["reintervention"].queryset = m.Reintervention.objects.alive().filter(
            procedure__patient_id=patient_id
        )


class DeathForm(CaptureForm):
    fieldsets = [
        ("Death", ["date_of_death", "source", "underlying_cause_icd10", "cause_category", "in_hospital"])
    ]
    mandatory = ("date_of_death", "source", "cause_category", "in_hospital")

    class Meta:
        model = m.Death
        exclude = ["patient"]


PROM_ITEM_LABELS = {
    "MO": "Mobility (MO), level 1-5",
    "SC": "Self-care (SC), level 1-5",
    "UA": "Usual activities (UA), level 1-5",
    "PD": "Pain / discomfort (PD), level 1-5",
    "AD": "Anxiety / depression (AD), level 1-5",
    "VAS": "EQ VAS (0-100)",
    "NRS": "Pain score (0-10)",
}


def prom_field_name(instrument: str, code: str) -> str:
    return f"item_{instrument}_{code}"


class PromForm(CaptureForm):
    """Staff entry of a PROM administration. Item codes only: licensed item wording is never shown or stored."""

    mandatory = ("instrument", "mode", "language_version", "completed_date", "completion_status")

    class Meta:
        model = m.PromAdministration
        fields = [
            "timepoint",
            "instrument",
            "mode",
            "language_version",
            "completed_date",
            "completion_status",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        responses = self.instance.responses or {}
        item_names: list[str] = []
        item_rules: dict[str, tuple[str, tuple[Any, ...]]] = {}
        for instrument, items in ITEMS.items():
            for code, allowed in items.items():
                name = prom_field_name(instrument, code)
                label = PROM_ITEM_LABELS.get(code, f"Item {code}, level {allowed.start}-{allowed.stop - 1}")
                self.fields[name] = forms.IntegerField(
                    label=label,
                    required=False,
                    min_value=allowed.start,
                    max_value=allowed.stop - 1,
                    initial=responses.get(code) if self.instance.instrument == instrument else None,
                )
                item_names.append(name)
                item_rules[name] = ("instrument", (instrument,))
        self.show_when = {**self.show_when, **item_rules}
        self.fieldsets = [
            (
                "Administration",
                [
                    "timepoint",
                    "instrument",
                    "mode",
                    "language_version",
                    "completed_date",
                    "completion_status",
                ],
            ),
            ("Responses (item codes; question wording is licensed and not shown)", item_names),
        ]

    def empty_value_for(self, name: str) -> Any:
        if name.startswith("item_"):
            return None
        return super().empty_value_for(name)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        instrument = cleaned.get("instrument")
        if instrument in ITEMS:
            self.instance.responses = {
                code: cleaned[prom_field_name(instrument, code)]
                for code in ITEMS[instrument]
                if cleaned.get(prom_field_name(instrument, code)) is not None
            }
        return cleaned

    def soft_warnings(self, d: dict[str, Any]) -> list[tuple[str, str]]:
        procedure = self.parent if isinstance(self.parent, m.Procedure) else None
        if (
            procedure
            and d.get("completed_date")
            and d["completed_date"] < procedure.procedure_date - dt.timedelta(days=60)
        ):
            return [("completed_date", "completed more than 60 days before the procedure")]
        return []
