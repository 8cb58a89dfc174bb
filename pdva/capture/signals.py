"""Keep each case's stored completeness (CaseCompleteness) current when one of its records is saved.

The worklist's "missing mandatory data" list reads the stored rows, so a save that completes (or removes)
an item shows there at once. Saves through the bulk path send no signals: `pdva completeness --unchecked`
or the job the worklist queues checks those cases.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from pdva.registry import models as m

log = logging.getLogger(__name__)

# Records that count for a case's completeness (pdva.capture.services.completeness.case_records).
CASE_RECORDS = (
    m.Baseline,
    m.ConsentGovernance,
    m.FollowUpVisit,
    m.AdverseEvent,
    m.Reintervention,
    m.Medication,
    m.PromAdministration,
)


def _refresh(procedure_ids: list[int]) -> None:
    from pdva.capture.services.worklists import refresh_completeness

    if not procedure_ids:
        return
    try:
        with transaction.atomic():  # a savepoint: a failure here never undoes the clinical save
            refresh_completeness(procedure_ids)
    except Exception:  # derived data; `pdva completeness` puts it right, the save must not fail
        log.exception("case completeness not refreshed for procedures %s", procedure_ids)


def _case_record_saved(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if not raw and instance.procedure_id is not None:  # patient-level medications belong to no case
        _refresh([instance.procedure_id])


for _model in CASE_RECORDS:
    post_save.connect(
        _case_record_saved, sender=_model, dispatch_uid=f"capture.completeness.{_model.__name__}"
    )


@receiver(post_save, sender=m.Procedure, dispatch_uid="capture.completeness.Procedure")
def procedure_saved(sender: Any, instance: m.Procedure, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _refresh([instance.pk])


@receiver(post_save, sender=m.Patient, dispatch_uid="capture.completeness.Patient")
def patient_saved(
    sender: Any, instance: m.Patient, raw: bool = False, created: bool = False, **kwargs: Any
) -> None:
    # The site a case is listed under, and removal of the whole patient.
    if not raw and not created:
        _refresh(list(m.Procedure.objects.filter(patient_id=instance.pk).values_list("pk", flat=True)))
