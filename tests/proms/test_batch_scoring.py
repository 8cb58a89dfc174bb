"""Batch scoring (`pdva followup run`, `pdva proms rescore`): the per-row path's scores and audit records,
each administration scored once whatever the batch size, nothing new on a re-run, whole batches or nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.proms.lib import eq5d
from pdva.proms.models import PromScore
from pdva.proms.services.batch_scoring import rescore_all, score_in_batches, score_unscored
from pdva.proms.services.scoring import score_administration
from pdva.registry.models import PromAdministration
from tests.factories import DeathFactory, PatientFactory, ProcedureFactory, make_identity

REASON = "PROM scores derived in the test"
EQ5D = {"MO": 2, "SC": 1, "UA": 3, "PD": 2, "AD": 1, "VAS": 65}
SCORES_PER_INSTRUMENT = {"eq5d5l": len(eq5d.FIVE_LEVEL_SETS) + 1, "vascuqol6": 1, "pain_nrs": 1}


def entered(patient, day, instrument, responses, status="complete"):  # type: ignore[no-untyped-def]
    """An administration saved without scores, as a bulk load or a paper entry leaves it."""
    adm = PromAdministration(
        patient=patient,
        procedure=patient.procedures.first(),
        timepoint="m3",
        instrument=instrument,
        mode="paper",
        completed_date=day,
        completion_status=status,
        responses=responses,
    )
    with audit_context(label="test:staff", reason="entered on paper"):
        adm.save()
    return adm


@pytest.fixture
def patients(site_a):  # type: ignore[no-untyped-def]
    """A man turning 65 on 15 June 2025 (the DSU mapping's age band changes), a woman, one without identity."""
    turning = PatientFactory(site=site_a, sex="male")
    make_identity(turning, dob=dt.date(1960, 6, 15))
    woman = PatientFactory(site=site_a, sex="female")
    make_identity(woman, dob=dt.date(1941, 2, 1))
    unknown = PatientFactory(site=site_a, sex="male")
    for p in (turning, woman, unknown):
        ProcedureFactory(patient=p)  # 10 March 2025
    return turning, woman, unknown


def cohort(patients) -> list[PromAdministration]:  # type: ignore[no-untyped-def]
    turning, woman, unknown = patients
    return [
        entered(turning, dt.date(2025, 6, 14), "eq5d5l", EQ5D),  # aged 64
        entered(turning, dt.date(2025, 6, 15), "eq5d5l", EQ5D),  # aged 65
        entered(woman, dt.date(2025, 4, 1), "eq5d5l", {**EQ5D, "MO": 5}),
        entered(woman, dt.date(2025, 4, 1), "vascuqol6", {f"VQ{i}": 2 for i in range(1, 7)}),
        entered(unknown, dt.date(2025, 4, 2), "eq5d5l", EQ5D),  # no date of birth: DSU not scorable
        entered(unknown, dt.date(2025, 4, 2), "pain_nrs", {"NRS": 7}),
        entered(woman, dt.date(2025, 5, 1), "vascuqol6", {"VQ1": 2}, status="partial"),
    ]


def outcome(adm: PromAdministration) -> tuple:  # type: ignore[type-arg]
    """What scoring left on one administration: its fields, its scores, and its scoring audit entries."""
    adm.refresh_from_db()
    scores = PromScore.objects.filter(administration=adm).order_by("pk")
    score_ids = {str(s.pk) for s in scores}
    entries = [
        (e.action, e.before, {k: v for k, v in (e.after or {}).items() if k != "administration_id"}, e.reason)
        for e in AuditEntry.objects.filter(reason=REASON).order_by("seq")
        if (e.object_type, e.object_id) == ("registry.promadministration", str(adm.pk))
        or (e.object_type == "proms.promscore" and e.object_id in score_ids)
    ]
    rows = [(s.measure, s.method, s.value, s.verified, s.note, s.version) for s in scores]
    return adm.score, adm.score_method, adm.version, rows, entries


@pytest.mark.django_db
def test_batches_give_the_per_row_scores_and_audit_records(patients) -> None:
    by_row, by_batch = cohort(patients), cohort(patients)
    with audit_context(label="system:test", reason=REASON):
        for adm in by_row:
            score_administration(adm, reason=REASON)
        result = score_in_batches(
            PromAdministration.objects.filter(pk__in=[a.pk for a in by_batch]), reason=REASON, batch_size=3
        )
    # Two get no primary score (no date of birth for the DSU mapping; a partial VascuQoL-6), so their own
    # fields do not change: no edit, as save() would skip it.
    assert (result.administrations, result.edited) == (7, 5)
    for single, batched in zip(by_row, by_batch, strict=True):
        assert outcome(batched) == outcome(single)
    aged_64, aged_65 = outcome(by_batch[0])[3], outcome(by_batch[1])[3]
    dsu = eq5d.VALUE_SETS[eq5d.PRIMARY_VALUE_SET].info.method
    assert [r[2] for r in aged_64 if r[1] == dsu] != [r[2] for r in aged_65 if r[1] == dsu]
    assert (
        by_batch[4].score is None
        and "age" in PromScore.objects.get(administration=by_batch[4], method=dsu).note
    )
    assert verify_chain() == AuditEntry.objects.count()


@pytest.mark.django_db
def test_batches_smaller_than_the_data_score_each_administration_once(patients) -> None:
    adms = cohort(patients)
    refused = entered(patients[1], dt.date(2025, 5, 2), "eq5d5l", {}, status="refused")
    calls: list[tuple[int, int]] = []
    with audit_context(label="system:test", reason=REASON):
        result = score_unscored(reason=REASON, batch_size=2, progress=lambda d, t: calls.append((d, t)))
    assert result.administrations == 7 and result.scores_created == PromScore.objects.count()
    assert calls[0] == (0, 7) and calls[-1] == (7, 7) and [d for d, _ in calls] == sorted(d for d, _ in calls)
    for adm in adms:
        expected = SCORES_PER_INSTRUMENT[adm.instrument]
        assert PromScore.objects.filter(administration=adm).count() == expected, adm.instrument
    assert not PromScore.objects.filter(administration=refused).exists()
    created = AuditEntry.objects.filter(action="proms.promscore.created", reason=REASON)
    assert sorted(created.values_list("object_id", flat=True)) == sorted(
        str(pk) for pk in PromScore.objects.values_list("pk", flat=True)
    )
    with_primary = PromAdministration.objects.filter(score__isnull=False)
    assert with_primary.count() == 5
    updated = AuditEntry.objects.filter(action="registry.promadministration.updated", reason=REASON)
    assert sorted(updated.values_list("object_id", flat=True)) == sorted(str(a.pk) for a in with_primary)
    assert verify_chain() == AuditEntry.objects.count()


@pytest.mark.django_db
def test_re_running_and_rescoring_write_nothing_new(patients) -> None:
    adms = cohort(patients)
    with audit_context(label="system:test", reason=REASON):
        score_unscored(reason=REASON, batch_size=4)
        entries = AuditEntry.objects.count()
        again = score_unscored(reason=REASON, batch_size=4)
        rescored = rescore_all(reason="re-derived", batch_size=3)
        adms[0].refresh_from_db()
        score_administration(adms[0], reason="re-derived")  # the per-row path agrees
    assert again.administrations == 0
    assert rescored.administrations == 7
    assert (rescored.edited, rescored.scores_created, rescored.scores_changed) == (0, 0, 0)
    assert AuditEntry.objects.count() == entries
    call_command("proms", "rescore", "--batch-size", "2")
    assert AuditEntry.objects.count() == entries
    assert verify_chain() == entries


@pytest.mark.django_db
def test_rescore_repairs_changed_scores_as_audited_edits(patients) -> None:
    adm = cohort(patients)[2]
    with audit_context(label="system:test", reason=REASON):
        score_unscored(reason=REASON)
    adm.refresh_from_db()
    right_score, version = adm.score, adm.version
    row = PromScore.objects.get(administration=adm, method=adm.score_method)
    right_value = row.value
    with audit_context(label="test:staff", reason="test: wrong values"):
        row.value = row.value + 1
        row.save()
        adm.score = adm.score + 1
        adm.save()
    with audit_context(label="system:proms", reason="PROM scores re-derived"):
        result = rescore_all(reason="PROM scores re-derived", batch_size=2)
    assert (result.edited, result.scores_changed, result.scores_created) == (1, 1, 0)
    adm.refresh_from_db()
    row.refresh_from_db()
    assert (adm.score, adm.version, row.value) == (right_score, version + 2, right_value)
    fixed = AuditEntry.objects.get(
        action="registry.promadministration.updated", reason="PROM scores re-derived"
    )
    assert fixed.object_id == str(adm.pk) and fixed.after == {"score": str(right_score)}
    assert (
        AuditEntry.objects.filter(action="proms.promscore.updated", reason="PROM scores re-derived").count()
        == 1
    )
    assert verify_chain() == AuditEntry.objects.count()


@pytest.mark.django_db
def test_a_failing_batch_leaves_none_of_its_changes(patients) -> None:
    woman = patients[1]
    adms = [entered(woman, dt.date(2025, 4, d), "pain_nrs", {"NRS": d}) for d in (1, 2, 3, 4)]
    # A death recorded before the third answer: that administration now breaks an integrity rule.
    DeathFactory(patient=woman, date_of_death=dt.date(2025, 4, 2))
    entries = AuditEntry.objects.count()
    with (
        audit_context(label="system:test", reason=REASON),
        pytest.raises(ValidationError, match=f"PROM administration {adms[2].pk} .*death"),
    ):
        score_unscored(reason=REASON, batch_size=2)
    scored = set(PromScore.objects.values_list("administration_id", flat=True))
    assert scored == {adms[0].pk, adms[1].pk}  # the first batch committed; the failing one left nothing
    assert AuditEntry.objects.count() == entries + 2 * 2  # an edit and one score for each of the first two
    for adm in adms[2:]:
        adm.refresh_from_db()
        assert (adm.score, adm.version) == (None, 1)
    assert verify_chain() == AuditEntry.objects.count()
