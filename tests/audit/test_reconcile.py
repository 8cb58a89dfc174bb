"""The data reconciled against the trail: `pdva audit verify` replays every audited row's entries and
reports, by table and id, rows changed, added, re-versioned or removed behind the trail's back."""

from __future__ import annotations

import decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models

from pdva.audit.context import audit_context
from pdva.audit.reconcile import reconcile
from pdva.audit.triggers import append_only_suspended
from pdva.registry.models import FollowUpVisit, Patient, PatientIdentity
from pdva.registry.synthetic import seed_cohort
from tests.factories import VisitFactory, make_identity

pytestmark = pytest.mark.django_db

SECRET_NOTE = "patient mentioned the dog bit the dressing"


@pytest.fixture
def visit(site_a):  # type: ignore[no-untyped-def]
    visit = VisitFactory(procedure__patient__site=site_a, notes=SECRET_NOTE, toe_pressure_mmhg=47)
    make_identity(visit.procedure.patient)
    return visit


def _sql(statement: str, params: list) -> None:  # type: ignore[type-arg]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _verify_fails(capsys) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(CommandError, match="data does not match the trail") as failed:
        call_command("audit", "verify", "--quiet")
    return capsys.readouterr().out, str(failed.value)


def test_an_untouched_registry_reconciles_edits_deletions_and_bulk_loads_included(visit, alice, capsys):
    seed_cohort(sites=1, patients=4, years=1, seed=11)  # the bulk path (BulkWriter)
    with audit_context(alice):
        visit.wound_area_total_cm2 = decimal.Decimal("2.5")  # stored as 2.5 (1 decimal place)
        visit.duplex_psv_ratio = decimal.Decimal("3")  # read back as Decimal('3.0')
        visit.save(reason="wound measured")
        visit.notes = "second look"
        visit.save(reason="notes corrected")
        Patient.objects.order_by("pk").last().soft_delete(reason="entered in error")
        identity = PatientIdentity.objects.get(patient=visit.procedure.patient)
        identity.postcode = "ZZ99 1AA"
        identity.save(reason="moved house")
    result = reconcile()
    assert result.ok, [str(f) for f in result.findings]
    assert result.rows > 20 and result.entries >= result.rows
    call_command("audit", "verify")
    captured = capsys.readouterr()
    assert "data reconciled with the trail" in captured.out
    assert "reconcile:" in captured.err  # progress on stderr


def test_a_raw_sql_update_is_reported_by_table_id_and_field_without_its_value(visit, capsys):
    _sql("UPDATE registry_followupvisit SET notes = %s WHERE id = %s", ["x", visit.pk])
    out, error = _verify_fails(capsys)
    assert f"registry_followupvisit id {visit.pk}: changed without an audit entry (fields: notes)" in out
    assert "1 finding(s)" in error
    assert SECRET_NOTE not in out + error


def test_a_changed_identifier_is_reported_without_being_decrypted(visit, capsys):
    identity = PatientIdentity.objects.get(patient=visit.procedure.patient)
    other = PatientIdentity(patient=identity.patient)
    other.nhs_number = "9434765870"
    _sql(
        "UPDATE registry_patientidentity SET nhs_number_enc = %s WHERE id = %s",
        [other.nhs_number_enc, identity.pk],
    )
    out, _ = _verify_fails(capsys)
    assert (
        f"registry_patientidentity id {identity.pk}: changed without an audit entry (fields: nhs_number_enc)"
        in out
    )
    assert "9434765870" not in out and "9434765919" not in out and other.nhs_number_enc not in out


def test_a_row_with_no_creation_entry_a_version_bump_and_a_vanished_row_are_each_named(visit, site_a, capsys):
    # Inserted past the audited path (plain QuerySet.bulk_create: no entry).
    sneaked = FollowUpVisit(
        procedure=visit.procedure, visit_date=visit.visit_date, timepoint="m6", contact_mode="phone"
    )
    sneaked.prepare_for_save()
    models.QuerySet(FollowUpVisit).bulk_create([sneaked])
    procedure = visit.procedure
    _sql("UPDATE registry_procedure SET version = version + 1 WHERE id = %s", [procedure.pk])
    gone = VisitFactory(procedure=procedure, timepoint="m12")
    with append_only_suspended():  # (the child tables first: nothing else points at a visit)
        _sql("DELETE FROM registry_followupvisit WHERE id = %s", [gone.pk])
    out, error = _verify_fails(capsys)
    assert f"registry_followupvisit id {sneaked.pk}: no audit entry at all (no creation entry)" in out
    assert f"registry_procedure id {procedure.pk}: version 2 but the trail records 1 version(s)" in out
    assert f"registry_followupvisit id {gone.pk}: the trail has entries for it but the row is gone" in out
    assert "3 finding(s)" in error


def test_chain_only_skips_the_data(visit, capsys):
    _sql("UPDATE registry_followupvisit SET toe_pressure_mmhg = 90 WHERE id = %s", [visit.pk])
    call_command("audit", "verify", "--chain-only")
    assert "audit chain OK" in capsys.readouterr().out


def test_decimals_compare_as_stored_values():
    from pdva.audit.reconcile import _decimal

    assert _decimal("1.5") == _decimal(decimal.Decimal("1.50")) == "1.5"
    assert _decimal("-0.000000") == _decimal(decimal.Decimal("0")) == "0"  # a computed score's negative zero
    assert _decimal("2.5") != _decimal("2.6") and _decimal(None) is None


def test_the_daily_verification_job_fails_visibly_naming_the_row(visit):
    from pdva.jobs import services
    from pdva.jobs.models import Job
    from pdva.jobs.schedule import entries

    assert {p.kind: p.cron for p in entries()}["audit.verify"] == "40 2 * * *"
    clean = Job.objects.get(pk=services.enqueue("audit.verify").pk)
    assert clean.state == Job.SUCCEEDED, clean.error
    assert clean.result["findings"] == 0 and clean.result["rows"] > 0

    _sql("UPDATE registry_followupvisit SET toe_pressure_mmhg = 12 WHERE id = %s", [visit.pk])
    failed = Job.objects.get(pk=services.enqueue("audit.verify").pk)
    assert failed.state == Job.FAILED
    assert "audit verification FAILED: data does not match the trail: 1 finding(s)" in failed.error
    (row,) = failed.result["errors"]  # the job's page shows each finding
    assert (
        f"registry_followupvisit id {visit.pk}: changed without an audit entry (fields: toe_pressure_mmhg)"
        in (row["message"])
    )


def test_a_save_committed_between_reading_the_entries_and_the_rows_is_not_a_finding(
    visit, alice, monkeypatch
):
    from pdva.audit import reconcile as module

    real_replay = module._replay

    def replay_then_someone_saves(plan, report, step):  # type: ignore[no-untyped-def]
        expected = real_replay(plan, report, step)
        if plan.model is FollowUpVisit:
            with audit_context(alice):
                fresh = FollowUpVisit.objects.get(pk=visit.pk)
                fresh.notes = "saved meanwhile, properly audited"
                fresh.save(reason="clinic letter")
        return expected

    monkeypatch.setattr(module, "_replay", replay_then_someone_saves)
    result = reconcile()
    assert result.ok, [str(f) for f in result.findings]

    # The same row changed behind the trail's back in the same window is still found.
    def replay_then_raw_update(plan, report, step):  # type: ignore[no-untyped-def]
        expected = real_replay(plan, report, step)
        if plan.model is FollowUpVisit:
            _sql("UPDATE registry_followupvisit SET notes = %s WHERE id = %s", ["x", visit.pk])
        return expected

    monkeypatch.setattr(module, "_replay", replay_then_raw_update)
    assert [str(f) for f in reconcile().findings] == [
        f"registry_followupvisit id {visit.pk}: changed without an audit entry (fields: notes)"
    ]
