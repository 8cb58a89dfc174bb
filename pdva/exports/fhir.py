"""FHIR R4 Bundle export (a 'collection' Bundle streamed patient by patient).

Resources: Patient (UK Core NHS number identifier only for sites where the user may see identifiers),
Condition (CLTI of the index limb), Procedure with its Device, Observation (baseline and follow-up),
AdverseEvent, QuestionnaireResponse (PROMs, item codes only) and Consent.

De-identified mode (researchers, national auditors): pseudonymous ids, no identifiers, and every date
shifted by one consistent per-patient offset (intervals preserved)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from pdva.exports import lib
from pdva.exports.stream import PATIENT_BATCH, chunked, snapshot
from pdva.registry import choices as c
from pdva.registry import models as m

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
# The registry's own code system for its coded device list (reference table "device", pdva.reference).
DEVICE_CODE_SYSTEM = "urn:pdva:reference:device"
QUESTIONNAIRE_BASE = "https://pdva-registry.org/fhir/Questionnaire/"
UCUM = "http://unitsofmeasure.org"
GENDER = {"male": "male", "female": "female", "other": "other"}
AE_OUTCOME = {
    "resolved": "resolved",
    "resolved_sequelae": "resolvedWithSequelae",
    "ongoing": "ongoing",
    "fatal": "fatal",
}
QR_STATUS = {"complete": "completed", "partial": "in-progress"}
MAX_SHIFT_DAYS = 365


class Identity:
    """Ids and dates as the export mode allows."""

    def __init__(self, mode: str, identifier_site_ids: set[int]) -> None:
        self.identified = mode == "identified"
        self.identifier_site_ids = identifier_site_ids
        self.pseudo = lib.Pseudonymiser(secrets.token_bytes(32), length=32)
        self.shift = 0

    def id(self, obj: Any) -> str:
        if self.identified:
            return str(obj.uuid)
        return str(uuid.UUID(self.pseudo(obj._meta.model_name, obj.pk)))

    def ref(self, obj: Any) -> dict[str, str]:
        return {"reference": f"urn:uuid:{self.id(obj)}"}

    def start_patient(self, patient: m.Patient) -> None:
        if not self.identified:
            self.shift = int(self.pseudo("shift", patient.pk), 16) % (2 * MAX_SHIFT_DAYS + 1) - MAX_SHIFT_DAYS

    def date(self, day: dt.date | None) -> str | None:
        if day is None:
            return None
        return (day + dt.timedelta(days=self.shift)).isoformat() if not self.identified else day.isoformat()


def _text(value: str) -> dict[str, str]:
    return {"text": value}


def _component(label: str, value: Any, unit: str = "", ucum: str = "") -> dict[str, Any] | None:
    if value is None or value == "" or value == c.NOT_KNOWN:
        return None
    comp: dict[str, Any] = {"code": _text(label)}
    if isinstance(value, bool):
        comp["valueBoolean"] = value
    elif isinstance(value, int):
        comp["valueInteger" if not unit else "valueQuantity"] = (
            value if not unit else {"value": value, "unit": unit, "system": UCUM, "code": ucum}
        )
    else:
        comp["valueCodeableConcept"] = _text(str(value))
    return comp


def _drop_none(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if v not in (None, [], {})}


def patient_resources(p: m.Patient, ids: Identity) -> Iterator[dict[str, Any]]:
    ids.start_patient(p)
    subject = ids.ref(p)
    death = getattr(p, "death", None)
    death = death if death is not None and death.deleted_at is None else None
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": ids.id(p),
        "gender": GENDER.get(p.sex, "unknown"),
    }
    identity = getattr(p, "identity", None)
    if ids.identified and p.site_id in ids.identifier_site_ids and identity is not None:
        if identity.nhs_number:
            patient["identifier"] = [{"system": NHS_NUMBER_SYSTEM, "value": identity.nhs_number}]
        if identity.family_name or identity.given_name:
            patient["name"] = [
                _drop_none(
                    {
                        "family": identity.family_name or None,
                        "given": [identity.given_name] if identity.given_name else None,
                    }
                )
            ]
        if identity.date_of_birth:
            patient["birthDate"] = identity.date_of_birth.isoformat()
        if identity.postcode:
            patient["address"] = [{"postalCode": identity.postcode}]
    if death is not None:
        patient["deceasedDateTime"] = ids.date(death.date_of_death)
    yield patient

    for proc in p.procedures.all():
        limb = f"{proc.get_index_limb_display()} lower limb"
        baseline = getattr(proc, "baseline", None)
        condition = {
            "resourceType": "Condition",
            "id": str(uuid.UUID(ids.pseudo("condition", proc.pk)))
            if not ids.identified
            else str(uuid.uuid5(proc.uuid, "condition")),
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": _text("Chronic limb-threatening ischaemia"),
            "bodySite": [_text(limb)],
            "subject": subject,
            "recordedDate": ids.date(baseline.assessment_date) if baseline else None,
            "stage": [{"summary": _text(f"WIfI stage {baseline.reported_wifi_stage}")}]
            if baseline and baseline.reported_wifi_stage
            else None,
        }
        yield _drop_none(condition)
        device_ref = None
        # Manufacturer and model are free-entry text: identified bundles only (a name typed there must not
        # reach researchers). The coded device (reference table "device") goes in every bundle.
        free_text = ids.identified and (proc.device_manufacturer or proc.device_model)
        if free_text or proc.device_code:
            device_id = str(uuid.uuid5(uuid.UUID(ids.id(proc)), "device"))
            device = {
                "resourceType": "Device",
                "id": device_id,
                "type": {
                    "coding": [
                        {
                            "system": DEVICE_CODE_SYSTEM,
                            "code": proc.device_code,
                            "display": proc.get_device_code_display(),
                        }
                    ],
                    "text": proc.get_device_code_display(),
                }
                if proc.device_code
                else None,
                "manufacturer": proc.device_manufacturer or None if ids.identified else None,
                "deviceName": [{"name": proc.device_model, "type": "model-name"}]
                if ids.identified and proc.device_model
                else None,
                "udiCarrier": [{"carrierHRF": proc.device_udi}]
                if ids.identified and proc.device_udi
                else None,
                "lotNumber": proc.device_lot or None if ids.identified else None,
                "patient": subject,
            }
            yield _drop_none(device)
            device_ref = {"reference": f"urn:uuid:{device_id}"}
        yield _drop_none(
            {
                "resourceType": "Procedure",
                "id": ids.id(proc),
                "status": "completed",
                "code": _text("Percutaneous deep venous arterialisation"),
                "subject": subject,
                "performedDateTime": ids.date(proc.procedure_date),
                "bodySite": [_text(limb)],
                "reasonReference": [{"reference": f"urn:uuid:{condition['id']}"}],
                "outcome": _text(f"Technical success: {proc.get_technical_success_display()}"),
                "focalDevice": [{"manipulated": device_ref}] if device_ref else None,
            }
        )
        if baseline is not None:
            comps = [
                _component("Rutherford category", baseline.rutherford),
                _component("WIfI stage", baseline.reported_wifi_stage),
                _component("GLASS stage", baseline.glass_stage or None),
                _component("Toe pressure", baseline.toe_pressure_mmhg, "mmHg", "mm[Hg]"),
                _component(
                    "Diabetes", baseline.get_diabetes_display() if baseline.diabetes != c.NOT_KNOWN else None
                ),
                _component(
                    "Dialysis dependent",
                    baseline.get_dialysis_dependent_display()
                    if baseline.dialysis_dependent != c.NOT_KNOWN
                    else None,
                ),
            ]
            yield _observation(
                ids, baseline, "pDVA baseline assessment", baseline.assessment_date, subject, comps
            )
        consent = getattr(proc, "consent", None)
        if consent is not None and consent.deleted_at is None:
            yield _drop_none(
                {
                    "resourceType": "Consent",
                    "id": ids.id(consent),
                    "status": "active",
                    "scope": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                "code": "patient-privacy",
                            }
                        ]
                    },
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://loinc.org",
                                    "code": "59284-0",
                                    "display": "Patient Consent",
                                }
                            ]
                        }
                    ],
                    "patient": subject,
                    "dateTime": ids.date(consent.consent_date),
                    "policyRule": _text(f"Registry consent basis: {consent.get_registry_consent_display()}"),
                }
            )
        for visit in proc.visits.all():
            comps = [
                _component(
                    "Index limb status",
                    visit.get_index_limb_status_display() if visit.index_limb_status != c.NOT_KNOWN else None,
                ),
                _component("Circuit patency", visit.get_circuit_patency_display()),
                _component(
                    "Wound status",
                    visit.get_wound_status_display() if visit.wound_status != c.NOT_KNOWN else None,
                ),
                _component("Pain (NRS 0-10)", visit.pain_nrs),
                _component("WIfI stage", visit.wifi_stage),
            ]
            yield _observation(
                ids,
                visit,
                f"pDVA follow-up ({visit.get_timepoint_display()})",
                visit.visit_date,
                subject,
                comps,
            )
        for event in proc.adverse_events.all():
            resource: dict[str, Any] = {
                "resourceType": "AdverseEvent",
                "id": ids.id(event),
                "actuality": "actual",
                "event": _text(event.get_category_display()),
                "subject": subject,
                "date": ids.date(event.onset_date),
                "suspectEntity": [{"instance": ids.ref(proc)}],
            }
            if event.serious in ("yes", "no"):
                resource["seriousness"] = {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                            "code": "serious" if event.serious == "yes" else "non-serious",
                        }
                    ]
                }
            if event.outcome in AE_OUTCOME:
                resource["outcome"] = {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/adverse-event-outcome",
                            "code": AE_OUTCOME[event.outcome],
                        }
                    ]
                }
            yield resource
    for prom in p.proms.all():
        yield _drop_none(
            {
                "resourceType": "QuestionnaireResponse",
                "id": ids.id(prom),
                "questionnaire": QUESTIONNAIRE_BASE + prom.instrument,
                "status": QR_STATUS.get(prom.completion_status, "stopped"),
                "subject": subject,
                "authored": ids.date(prom.completed_date),
                "item": [
                    {"linkId": code, "answer": [{"valueInteger": value}]}
                    for code, value in sorted(prom.responses.items())
                ]
                or None,
            }
        )


def _observation(
    ids: Identity, obj: Any, label: str, day: dt.date, subject: dict[str, str], comps: list[Any]
) -> dict[str, Any]:
    return _drop_none(
        {
            "resourceType": "Observation",
            "id": ids.id(obj),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "exam",
                        }
                    ]
                }
            ],
            "code": _text(label),
            "subject": subject,
            "effectiveDateTime": ids.date(day),
            "component": [x for x in comps if x is not None],
        }
    )


def batch_patients(ids: list[int]) -> QuerySet:
    alive = {"deleted_at__isnull": True}
    return (
        m.Patient.objects.filter(id__in=ids)
        .select_related("identity", "death")
        .prefetch_related(
            Prefetch(
                "procedures",
                queryset=m.Procedure.objects.filter(**alive)
                .select_related("baseline", "consent")
                .order_by("procedure_date", "id"),
            ),
            Prefetch("procedures__visits", queryset=m.FollowUpVisit.objects.filter(**alive)),
            Prefetch("procedures__adverse_events", queryset=m.AdverseEvent.objects.filter(**alive)),
            Prefetch("proms", queryset=m.PromAdministration.objects.filter(**alive)),
        )
        .order_by("id")
    )


def export_fhir(
    patients: QuerySet,
    out: Path,
    *,
    mode: str,
    identifier_site_ids: set[int],
    created_by: str = "",
    batch_size: int = PATIENT_BATCH,
) -> dict[str, Any]:
    ids = Identity(mode, identifier_site_ids)
    cohort = patients.filter(deleted_at__isnull=True)
    if mode != "identified":
        cohort = cohort.filter(national_data_opt_out=False)
    export_id = str(uuid.uuid4())
    counts: dict[str, int] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with open(partial, "w", encoding="utf-8") as stream, snapshot():
        head = {
            "resourceType": "Bundle",
            "id": export_id,
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{export_id}"},
            "type": "collection",
            "timestamp": timezone.now().isoformat(),
        }
        stream.write(json.dumps(head)[:-1] + ', "entry": [\n')
        first = True
        for batch in chunked(
            cohort.order_by("id").values_list("id", flat=True).iterator(chunk_size=batch_size * 4), batch_size
        ):
            for patient in batch_patients(batch):
                for resource in patient_resources(patient, ids):
                    counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
                    entry = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
                    stream.write(("" if first else ",\n") + json.dumps(entry, ensure_ascii=False))
                    first = False
        stream.write("\n]}\n")
    partial.replace(out)
    return {
        "kind": "fhir",
        "mode": mode,
        "export_id": export_id,
        "created_by": created_by,
        "tables": counts,
        "sha256": lib.sha256_file(str(out)),
    }
