"""Score PROM administrations and keep every derived score with the method that produced it."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from pdva.proms.lib import scoring
from pdva.proms.models import PromScore
from pdva.registry.models import PromAdministration


def _age_and_sex(adm: PromAdministration) -> tuple[int | None, str | None]:
    patient = adm.patient
    identity = getattr(patient, "identity", None)
    age = identity.age_on(adm.completed_date) if identity is not None else None
    return age, patient.sex


def _decimal(value: float | None, places: int) -> Decimal | None:
    return None if value is None else Decimal(str(round(value, places)))


def compute(adm: PromAdministration) -> list[scoring.Score]:
    if adm.completion_status not in ("complete", "partial"):
        return []
    age, sex = _age_and_sex(adm)
    return scoring.score(adm.instrument, adm.responses or {}, age=age, sex=sex)


def apply_primary(adm: PromAdministration, scores: list[scoring.Score]) -> None:
    """Set the administration's own score fields from the primary score (before saving it)."""
    main = scoring.primary(adm.instrument, scores)
    adm.score = _decimal(main.value, 3) if main else None
    adm.score_method = main.method if main and main.value is not None else ""


def save_scores(adm: PromAdministration, scores: list[scoring.Score], *, reason: str) -> None:
    """Create or update one PromScore per (measure, method)."""
    existing = {(s.measure, s.method): s for s in PromScore.objects.alive().filter(administration=adm)}
    new = []
    for sc in scores:
        value = _decimal(sc.value, 6)
        row = existing.get((sc.measure, sc.method))
        if row is None:
            new.append(
                PromScore(
                    administration=adm,
                    measure=sc.measure,
                    method=sc.method,
                    value=value,
                    verified=sc.verified,
                    note=sc.note[:300],
                )
            )
            continue
        row.value, row.verified, row.note = value, sc.verified, sc.note[:300]
        row.save(reason=reason)
    if new:
        PromScore.objects.audited_bulk_create(new, reason=reason)


def score_administration(
    adm: PromAdministration, *, reason: str = "PROM scores derived"
) -> PromAdministration:
    """(Re)score a saved administration: its own score fields and every PromScore. Audited."""
    scores = compute(adm)
    with transaction.atomic():
        apply_primary(adm, scores)
        adm.save(reason=reason)  # no-op (and no audit entry) if nothing changed
        save_scores(adm, scores, reason=reason)
    return adm


def record_administration(adm: PromAdministration, *, reason: str = "") -> PromAdministration:
    """Save a new administration with its scores derived before the first save."""
    scores = compute(adm)
    with transaction.atomic():
        apply_primary(adm, scores)
        adm.save(reason=reason)
        save_scores(adm, scores, reason=reason or "PROM scores derived")
    return adm


def rescore_all(*, reason: str) -> int:
    count = 0
    for adm in PromAdministration.objects.alive().select_related("patient__identity").iterator():
        score_administration(adm, reason=reason)
        count += 1
    return count
