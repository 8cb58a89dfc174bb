"""Finding and registering patients, with the NHS-number duplicate check across sites."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from pdva.accounts.access import can, scoped
from pdva.accounts.roles import Cap
from pdva.audit.models import record
from pdva.registry import models as m
from pdva.registry.models.patients import nhs_number_index, normalise_nhs_number


def duplicates(nhs_number: str, site_id: int) -> tuple[m.Patient | None, bool]:
    """(patient with this NHS number at ``site_id``, whether one exists at any other site).

    Matches on the keyed blind index only: nothing is decrypted, and nothing about another site's
    patient leaves this function except that one exists.
    """
    index = nhs_number_index(nhs_number)
    rows = list(
        m.PatientIdentity.objects.filter(
            nhs_number_index=index, deleted_at__isnull=True, patient__deleted_at__isnull=True
        )
        .select_related("patient")
        .only("patient__site_id", "patient__registry_id", "patient__uuid", "patient_id")
    )
    here = next((r.patient for r in rows if r.patient.site_id == site_id), None)
    elsewhere = any(r.patient.site_id != site_id for r in rows)
    return here, elsewhere


def register_patient(user: Any, data: dict[str, Any]) -> m.Patient:
    """Create the pseudonymous patient and their encrypted identity in one transaction."""
    site = data["site"]
    if not can(user, Cap.EDIT_CLINICAL, site.pk) or not can(user, Cap.VIEW_IDENTIFIERS, site.pk):
        raise PermissionError("you cannot register patients at this site")
    with transaction.atomic():
        patient = m.Patient(
            site=site,
            sex=data["sex"],
            ethnicity=data["ethnicity"],
            national_data_opt_out=data.get("national_data_opt_out", False),
        )
        patient.save()
        identity = m.PatientIdentity(patient=patient)
        identity.nhs_number = data["nhs_number"]
        identity.given_name = data["given_name"]
        identity.family_name = data["family_name"]
        identity.date_of_birth = data["date_of_birth"]
        identity.postcode = data.get("postcode") or ""
        identity.save()
        if data.get("registered_elsewhere"):
            record(
                "capture.patient.registered_at_second_site",
                patient,
                after={"confirmed_by_user": True},
                reason="NHS number already registered at another site; registration confirmed",
            )
    return patient


def search_patients(user: Any, query: str) -> tuple[QuerySet, str]:
    """Patients visible to ``user`` matching a registry ID or (for identifier roles) an NHS number.

    Returns the matches and a message explaining an empty or refused search.
    """
    query = query.strip()
    patients = scoped(m.Patient.objects, user, Cap.VIEW_CLINICAL).select_related("site")
    if not query:
        return patients.none(), ""
    digits = "".join(ch for ch in query if ch.isdigit())
    if len(digits) == 10 and not any(ch.isalpha() for ch in query):
        if not can(user, Cap.VIEW_IDENTIFIERS):
            return patients.none(), "Your role cannot search by NHS number; search by registry ID."
        try:
            nhs = normalise_nhs_number(query)
        except ValidationError:
            return patients.none(), "That is not a valid NHS number."
        visible = scoped(m.PatientIdentity.objects, user, Cap.VIEW_IDENTIFIERS).filter(
            nhs_number_index=nhs_number_index(nhs)
        )
        record(
            "capture.patient.searched_by_nhs_number",
            None,
            object_type="registry.patient",
            reason="patient search",
        )
        return patients.filter(identity__in=visible), ""
    return patients.filter(registry_id__icontains=query.upper()), ""
