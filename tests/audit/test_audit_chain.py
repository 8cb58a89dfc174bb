"""The tamper-evident audit trail: every change is chained, sealed and verifiable."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from pdva.audit import chain
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry, ConcurrentEdit, ReasonRequired
from pdva.audit.triggers import append_only_suspended
from pdva.audit.verify import verify_chain
from pdva.registry.models import Procedure
from tests.factories import ProcedureFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def procedure(site_a):
    return ProcedureFactory(patient__site=site_a)


def test_create_update_and_soft_delete_are_recorded_with_before_after_and_reason(procedure, alice):
    created = AuditEntry.objects.get(object_type="registry.procedure", object_id=str(procedure.pk))
    assert created.action == "registry.procedure.created"
    assert created.after["technique_family"] == "dedicated_system"
    assert created.site_id == procedure.patient.site_id

    with audit_context(alice):
        procedure.contrast_volume_ml = 120
        procedure.save(reason="contrast volume from the theatre record")
    update = AuditEntry.objects.filter(object_id=str(procedure.pk), action="registry.procedure.updated").get()
    assert update.before == {"contrast_volume_ml": None}
    assert update.after == {"contrast_volume_ml": 120}
    assert update.reason == "contrast volume from the theatre record"
    assert update.actor_label == "alice" and update.actor_id == alice.pk

    with audit_context(alice):
        procedure.soft_delete(reason="entered on the wrong patient")
    deleted = AuditEntry.objects.filter(object_id=str(procedure.pk)).last()
    assert deleted.action == "registry.procedure.deleted"
    assert Procedure.objects.alive().filter(pk=procedure.pk).count() == 0
    assert Procedure.objects.filter(pk=procedure.pk).count() == 1  # never hard-deleted
    assert verify_chain() == AuditEntry.objects.count()


def test_a_removal_reason_has_a_limit_and_nothing_is_removed_beyond_it(procedure, alice):
    with audit_context(alice), pytest.raises(ValueError, match="limited to 2000 characters"):
        procedure.soft_delete(reason="x" * 2001)
    procedure.refresh_from_db()
    assert procedure.deleted_at is None and procedure.deleted_reason == ""
    assert not AuditEntry.objects.filter(action="registry.procedure.deleted").exists()


def test_an_edit_needs_a_reason(procedure, alice):
    with audit_context(alice), pytest.raises(ReasonRequired):
        procedure.contrast_volume_ml = 90
        procedure.save()
    assert Procedure.objects.get(pk=procedure.pk).contrast_volume_ml is None


def test_saving_without_changes_writes_nothing(procedure, alice):
    before = AuditEntry.objects.count()
    with audit_context(alice):
        procedure.save()
    assert AuditEntry.objects.count() == before


def test_a_stale_edit_is_refused_and_shows_the_other_change(procedure, alice, dave):
    mine = Procedure.objects.get(pk=procedure.pk)
    theirs = Procedure.objects.get(pk=procedure.pk)
    with audit_context(dave):
        theirs.contrast_volume_ml = 150
        theirs.save(reason="theatre record")
    with audit_context(alice), pytest.raises(ConcurrentEdit) as caught:
        mine.fluoroscopy_time_min = 30
        mine.save(reason="my correction")
    assert caught.value.theirs == {"contrast_volume_ml": 150}
    fresh = Procedure.objects.get(pk=procedure.pk)
    assert fresh.contrast_volume_ml == 150 and fresh.fluoroscopy_time_min is None


def test_database_refuses_update_and_delete_of_audit_entries(procedure):
    entry = AuditEntry.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET reason = 'x' WHERE id = %s", [entry.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).reason == entry.reason


def _chain_of(n, site_a, alice):
    procedure = ProcedureFactory(patient__site=site_a)
    with audit_context(alice):
        for k in range(n):
            procedure.contrast_volume_ml = 100 + k
            procedure.save(reason=f"correction {k}")
    return list(AuditEntry.objects.order_by("seq"))


def _raw(sql, params):
    with append_only_suspended(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _expect_break_at(seq):
    with pytest.raises(chain.ChainBreak) as caught:
        verify_chain()
    assert caught.value.seq == seq
    with pytest.raises(CommandError, match=f"entry {seq}"):
        call_command("audit", "verify")


def test_verify_passes_on_an_untouched_chain(site_a, alice, capsys):
    entries = _chain_of(4, site_a, alice)
    assert verify_chain() == len(entries)
    call_command("audit", "verify")
    assert "audit chain OK" in capsys.readouterr().out


def test_detects_an_edited_entry(site_a, alice):
    entries = _chain_of(4, site_a, alice)
    target = entries[-2]
    _raw("UPDATE audit_auditentry SET reason = %s WHERE id = %s", ["nothing to see", target.pk])
    _expect_break_at(target.seq)


def test_detects_a_deleted_entry(site_a, alice):
    entries = _chain_of(4, site_a, alice)
    target = entries[-3]
    _raw("DELETE FROM audit_auditentry WHERE id = %s", [target.pk])
    _expect_break_at(target.seq + 1)


def test_detects_an_inserted_entry(site_a, alice):
    entries = _chain_of(4, site_a, alice)
    last = entries[-1]
    # A forger without the HMAC key appends a well-formed, correctly hashed entry: the seal gives it away.
    data = {f: getattr(last, f) for f in chain.HASHED_FIELDS}
    data.update(seq=last.seq + 1, reason="forged", timestamp=last.timestamp + dt.timedelta(seconds=1))
    digest = chain.entry_hash(data, last.entry_hash)
    AuditEntry.objects.create(
        **data, prev_hash=last.entry_hash, entry_hash=digest, seal=chain.seal("wrong-key", digest)
    )
    _expect_break_at(last.seq + 1)


def test_detects_reordered_entries(site_a, alice):
    entries = _chain_of(4, site_a, alice)
    a, b = entries[-3], entries[-2]
    _raw("UPDATE audit_auditentry SET seq = -1 WHERE id = %s", [a.pk])
    _raw("UPDATE audit_auditentry SET seq = %s WHERE id = %s", [a.seq, b.pk])
    _raw("UPDATE audit_auditentry SET seq = %s WHERE id = %s", [b.seq, a.pk])
    _expect_break_at(a.seq)
