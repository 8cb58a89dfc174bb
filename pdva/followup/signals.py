"""Keep the stored follow-up statuses of a course current when a save changes it.

The daily run recomputes every course; between runs a visit recorded, removed or re-dated, a death, an
amputation, a withdrawal or a changed procedure date would otherwise leave the worklists a day behind.
Only courses the run has stored are refreshed (see refresh_procedures). Saves through the bulk path (seed,
imports, restores) send no signals: the next daily run covers them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from pdva.registry.models import Amputation, Death, FollowUpVisit, Patient, Procedure

log = logging.getLogger(__name__)


def _refresh(procedure_ids: Iterable[int]) -> None:
    from pdva.followup.services.worklist import refresh_procedures

    try:
        with transaction.atomic():  # a savepoint: a failure here never undoes the clinical save
            refresh_procedures(procedure_ids)
    except Exception:  # derived data: the daily run puts it right; the save itself must not fail
        log.exception("follow-up statuses not refreshed for procedures %s", sorted(procedure_ids))


def _patient_procedures(patient_id: int | None) -> list[int]:
    if patient_id is None:
        return []
    return list(Procedure.objects.filter(patient_id=patient_id).values_list("pk", flat=True))


@receiver(post_save, sender=FollowUpVisit, dispatch_uid="followup.visit_saved")
def visit_saved(sender: Any, instance: FollowUpVisit, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _refresh([instance.procedure_id])


@receiver(post_save, sender=Procedure, dispatch_uid="followup.procedure_saved")
def procedure_saved(sender: Any, instance: Procedure, raw: bool = False, **kwargs: Any) -> None:
    if not raw:
        _refresh([instance.pk])


@receiver(post_save, sender=Patient, dispatch_uid="followup.patient_saved")
@receiver(post_save, sender=Death, dispatch_uid="followup.death_saved")
@receiver(post_save, sender=Amputation, dispatch_uid="followup.amputation_saved")
def patient_event_saved(
    sender: Any, instance: Any, raw: bool = False, created: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    if sender is Patient and created:
        return  # a new patient has no procedure yet
    _refresh(_patient_procedures(instance.pk if sender is Patient else instance.patient_id))
