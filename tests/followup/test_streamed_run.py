"""`pdva followup run` streamed in batches: the statuses one pass over everything gives, removed courses
cleared wherever their ids fall, and new PROMs scored once through the batch path with progress shown."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.followup.models import FollowUpStatus
from pdva.followup.services.items import followup_items
from pdva.followup.services.run import refresh_statuses, run
from pdva.proms.models import PromScore
from pdva.registry.models import PromAdministration
from tests.factories import DeathFactory, VisitFactory
from tests.followup.conftest import make_procedure

TODAY = dt.date(2024, 6, 1)


def stored() -> dict[tuple[int, str, int], tuple]:  # type: ignore[type-arg]
    return {
        (s.procedure_id, s.timepoint, s.year): (
            s.site_id,
            s.status,
            s.window_start,
            s.due_date,
            s.window_end,
            s.visit_date,
            s.status_since,
            s.schedule_version,
        )
        for s in FollowUpStatus.objects.all()
    }


def refresh(today: dt.date, batch_size: int):  # type: ignore[no-untyped-def]
    with audit_context(label="system:followup", reason="test run"):
        return refresh_statuses(today, batch_size=batch_size)


@pytest.fixture
def procedures(site_a, site_b):  # type: ignore[no-untyped-def]
    made = [
        make_procedure(site, dt.date(2021, 1, 4) + dt.timedelta(days=97 * n))
        for n, site in enumerate([site_a, site_b] * 4)
    ]
    VisitFactory(procedure=made[1], timepoint="m3", visit_date=made[1].procedure_date + dt.timedelta(days=92))
    DeathFactory(patient=made[2].patient, date_of_death=made[2].procedure_date + dt.timedelta(days=200))
    return made


@pytest.mark.django_db
def test_small_batches_store_what_one_pass_stores(procedures) -> None:
    first = refresh(TODAY, batch_size=3)
    in_batches = stored()
    expected = {(i.procedure_id, i.timepoint, i.year or 0): i.status for i in followup_items(None, TODAY)}
    assert {k: v[1] for k, v in in_batches.items()} == expected
    assert first.created == len(expected) and (first.changed, first.removed) == (0, 0)
    FollowUpStatus.objects.all().delete()  # derived data, not audited
    refresh(TODAY, batch_size=10_000)
    assert stored() == in_batches
    again = refresh(TODAY, batch_size=2)
    assert (again.created, again.changed, again.removed, again.unchanged) == (0, 0, 0, len(expected))


@pytest.mark.django_db
def test_removed_courses_are_cleared_in_the_middle_and_after_the_last_batch(procedures) -> None:
    refresh(TODAY, batch_size=3)
    before = stored()
    middle, last = procedures[4], procedures[-1]
    rows = list(FollowUpStatus.objects.filter(procedure__in=[middle, last]))
    with audit_context(label="test:staff", reason="entered in error"):
        middle.soft_delete(reason="entered in error")
        last.patient.soft_delete(reason="entered in error")
    # Put back any row a save-time refresh already cleared: the run's own clearing is under test.
    FollowUpStatus.objects.filter(pk__in=[r.pk for r in rows]).delete()
    FollowUpStatus.objects.bulk_create(rows)
    result = refresh(TODAY, batch_size=3)
    gone = {k for k in before if k[0] in (middle.pk, last.pk)}
    assert gone and result.removed == len(gone)
    assert stored() == {k: v for k, v in before.items() if k not in gone}
    assert result.unchanged == len(before) - len(gone)


@pytest.mark.django_db
def test_run_scores_new_proms_once_in_batches_with_progress(site_a) -> None:
    procedure = make_procedure(site_a, dt.date(2023, 1, 9))
    with audit_context(label="test:staff", reason="entered on paper"):
        for day in range(1, 6):
            PromAdministration(
                patient=procedure.patient,
                procedure=procedure,
                instrument="pain_nrs",
                mode="paper",
                completed_date=dt.date(2023, 2, day),
                responses={"NRS": day},
            ).save()
    calls: dict[str, list[tuple[int, int]]] = {}

    def progress_for(label: str):  # type: ignore[no-untyped-def]
        return lambda done, total: calls.setdefault(label, []).append((done, total))

    with audit_context(label="system:followup", reason="test run"):
        run(TODAY, send_digests=False, progress_for=progress_for)
    assert calls["PROM scoring"][-1] == (5, 5)
    assert calls["follow-up statuses"][-1] == (1, 1)
    assert PromScore.objects.count() == 5
    assert sorted(PromAdministration.objects.values_list("score", flat=True)) == [1, 2, 3, 4, 5]
    entries = AuditEntry.objects.count()
    calls.clear()
    with audit_context(label="system:followup", reason="test run"):
        run(TODAY, send_digests=False, progress_for=progress_for)
    assert calls["PROM scoring"] == [(0, 0)]
    assert AuditEntry.objects.count() == entries  # nothing to score, statuses unchanged
    assert verify_chain() == entries
