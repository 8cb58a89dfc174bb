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
    # Quantized to the column's places, as the database gives it back: otherwise "0.75" against the
    # stored "0.750" reads as a change, and every re-score would write an edit that changes nothing.
    if value is None:
        return None
    return Decimal(str(round(value, places))).quantize(Decimal(1).scaleb(-places))


def compute(adm: PromAdministration) -> list[scoring.Score]:
    if not scorable(adm):
        return []
    age, sex = _age_and_sex(adm)
    return compute_for(adm, age=age, sex=sex)


def scorable(adm: PromAdministration) -> bool:
    return adm.completion_status in ("complete", "partial")


def compute_for(adm: PromAdministration, *, age: int | None, sex: str | None) -> list[scoring.Score]:
    """compute() with the patient's age and sex already known (batches look them up once per patient)."""
    if not scorable(adm):
        return []
    return scoring.score(adm.instrument, adm.responses or {}, age=age, sex=sex)


def apply_primary(adm: PromAdministration, scores: list[scoring.Score]) -> None:
    """Set the administration's own score fields from the primary score (before saving it)."""
    main = scoring.primary(adm.instrument, scores)
    adm.score = _decimal(main.value, 3) if main else None
    adm.score_method = main.method if main and main.value is not None else ""


def plan_scores(
    adm: PromAdministration, scores: list[scoring.Score], existing: list[PromScore]
) -> tuple[list[PromScore], list[PromScore]]:
    """The PromScore rows to create, and the existing (live) rows given new values, to save with a reason.

    One row per (measure, method); an existing row whose value, verification and note are unchanged is
    in neither list.
    """
    by_key = {(s.measure, s.method): s for s in existing}
    new, changed = [], []
    for sc in scores:
        value, note = _decimal(sc.value, 6), sc.note[:300]
        row = by_key.get((sc.measure, sc.method))
        if row is None:
            new.append(
                PromScore(
                    administration=adm,
                    measure=sc.measure,
                    method=sc.method,
                    value=value,
                    verified=sc.verified,
                    note=note,
                )
            )
        elif (row.value, row.verified, row.note) != (value, sc.verified, note):
            row.value, row.verified, row.note = value, sc.verified, note
            row.administration = adm  # already loaded: its audit entry reads the site through it
            changed.append(row)
    return new, changed


def save_scores(adm: PromAdministration, scores: list[scoring.Score], *, reason: str) -> None:
    """Create or update one PromScore per (measure, method)."""
    new, changed = plan_scores(adm, scores, list(PromScore.objects.alive().filter(administration=adm)))
    for row in changed:
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
