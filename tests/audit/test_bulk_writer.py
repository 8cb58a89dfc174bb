"""The bulk write path: records inserted per model, parents first, audited in creation order under one
chain lock, with entries that cannot be told from the ones save() writes."""

import datetime as dt
import json
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pdva.audit import chain
from pdva.audit import models as audit_models
from pdva.audit.bulk import BulkWriter, dependency_order
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.triggers import append_only_suspended
from pdva.audit.verify import verify_chain
from pdva.registry import models as m

DAY = dt.date(2025, 3, 10)
IDENTIFIERS = {}  # the same ciphertexts for both paths, so their audit fingerprints match


def _identity(patient: m.Patient) -> m.PatientIdentity:
    identity = m.PatientIdentity(patient=patient)
    if not IDENTIFIERS:
        identity.nhs_number = "9434765919"
        identity.family_name = "Testperson"
        identity.given_name = "Alex"
        identity.date_of_birth = dt.date(1950, 6, 15)
        identity.postcode = "ZZ99 3VZ"
        IDENTIFIERS.update({f.attname: getattr(identity, f.attname) for f in identity._meta.concrete_fields})
    for name, value in IDENTIFIERS.items():
        if name.endswith("_enc") or name == "nhs_number_index":
            setattr(identity, name, value)
    return identity


def case_records(site: m.Site, tag: str) -> list:
    """One patient's records in the order a clinician (or a loader) creates them."""
    operator = m.Operator(
        site=site, code=f"OP-{tag}", display_name=f"Operator {tag}", role="vascular_surgeon"
    )
    patient = m.Patient(site=site, registry_id=f"PD-{tag}", sex="female", imd_decile=3)
    procedure = m.Procedure(
        patient=patient,
        operator=operator,
        uuid=uuid.uuid4(),
        index_limb="left",
        procedure_date=DAY,
        admission_date=DAY - dt.timedelta(days=1),
        discharge_date=DAY + dt.timedelta(days=4),
        technique_family="dedicated_system",
        completion_foot_opacification="yes",
        outflow_reached="plantar_veins",
        conversion_to_open="no",
        stent_graft_min_diameter_mm="3.5",
        arterial_access=["cfa_antegrade"],
    )
    baseline = m.Baseline(
        procedure=procedure,
        assessment_date=DAY,
        rutherford=5,
        wifi_w=1,
        wifi_i=3,
        wifi_fi=0,
        uuid=uuid.uuid4(),
    )
    visit = m.FollowUpVisit(
        procedure=procedure, visit_date=DAY + dt.timedelta(days=30), timepoint="w2_6", uuid=uuid.uuid4()
    )
    prom = m.PromAdministration(
        patient=patient,
        procedure=procedure,
        instrument="pain_nrs",
        mode="paper",
        completed_date=DAY + dt.timedelta(days=30),
        responses={"NRS": 4},
        uuid=uuid.uuid4(),
    )
    death = m.Death(
        patient=patient, date_of_death=DAY + dt.timedelta(days=90), source="gp", uuid=uuid.uuid4()
    )
    patient.uuid = uuid.uuid4()
    return [operator, patient, _identity(patient), procedure, baseline, visit, prom, death]


def comparable(entries: list[AuditEntry], records: list) -> list[tuple]:
    """Entries with this case's ids (and unique codes) replaced by the record's place in the case."""
    place = {(type(r)._meta.label_lower, r.pk): i for i, r in enumerate(records)}
    out = []
    for entry in entries:
        model = type(records[place[(entry.object_type, int(entry.object_id))]])
        after = dict(entry.after)
        for field in model._meta.concrete_fields:
            if field.is_relation and after.get(field.attname) is not None:
                key = (field.related_model._meta.label_lower, after[field.attname])
                after[field.attname] = ("record", place.get(key, key))
        for unique in ("uuid", "registry_id", "code", "display_name"):
            after.pop(unique, None)
        out.append(
            (
                entry.action,
                entry.object_type,
                place[(entry.object_type, int(entry.object_id))],
                entry.site_id,
                entry.actor_label,
                entry.actor_id,
                entry.reason,
                entry.before,
                after,
            )
        )
    return out


@pytest.mark.django_db
def test_bulk_entries_are_the_entries_save_writes(site_a):
    with audit_context(label="test:loader", reason="history loaded"):
        saved = case_records(site_a, "SAVE")
        for record in saved:
            # as a form does: the parent is saved (and its id taken) before the child is derived and saved
            record._prepare_related_fields_for_save(operation_name="save")
            record.save()
        first_bulk_seq = AuditEntry.objects.count() + 1
        bulk = case_records(site_a, "BULK")
        writer = BulkWriter()
        writer.extend(bulk)
        with transaction.atomic():
            assert writer.flush() == len(bulk)
    by_save = list(AuditEntry.objects.filter(seq__lt=first_bulk_seq).order_by("seq"))[-len(saved) :]
    by_bulk = list(AuditEntry.objects.filter(seq__gte=first_bulk_seq).order_by("seq"))
    assert comparable(by_bulk, bulk) == comparable(by_save, saved)
    # the derived values were computed on the bulk path too
    assert by_bulk[3].after["age_at_procedure"] == 74 and by_bulk[3].after["technical_success"] == "yes"
    assert verify_chain() == AuditEntry.objects.count()


@pytest.mark.django_db
def test_parents_are_inserted_first_whatever_order_records_are_added_and_audited_as_added(site_a):
    records = case_records(site_a, "ORDER")
    patient, procedure, visit = records[1], records[3], records[5]
    writer = BulkWriter()
    writer.extend([visit, procedure, *[r for r in records if r not in (visit, procedure)]])
    with audit_context(label="test:loader"), transaction.atomic():
        writer.flush()
    assert m.FollowUpVisit.objects.get(pk=visit.pk).procedure_id == procedure.pk
    assert m.Procedure.objects.get(pk=procedure.pk).patient_id == patient.pk
    actions = list(AuditEntry.objects.filter(actor_label="test:loader").values_list("action", flat=True))
    assert actions[:3] == [
        "registry.followupvisit.created",
        "registry.procedure.created",
        "registry.operator.created",
    ]


def test_dependency_order_puts_parents_first_and_refuses_a_cycle():
    assert dependency_order([m.FollowUpVisit, m.Procedure, m.Patient, m.Site]) == [
        m.Site,
        m.Patient,
        m.Procedure,
        m.FollowUpVisit,
    ]
    assert dependency_order([m.Death, m.Amputation, m.Patient]) == [m.Patient, m.Death, m.Amputation]


@pytest.mark.django_db
def test_edits_are_refused(site_a):
    writer = BulkWriter()
    with pytest.raises(ValueError, match="only creates new records"):
        writer.add(site_a)
    with pytest.raises(ValueError, match="only creates new records"):
        writer.add(m.Patient(pk=999, site=site_a))
    assert len(writer) == 0


@pytest.mark.django_db
def test_a_parent_neither_saved_nor_queued_is_refused(site_a):
    orphan_parent = m.Patient(site=site_a, registry_id="PD-ORPHAN")
    writer = BulkWriter()
    writer.add(m.Death(patient=orphan_parent, date_of_death=DAY, source="gp"))
    with audit_context(label="test:loader"), transaction.atomic(), pytest.raises(ValueError, match="neither"):
        writer.flush()


@pytest.mark.django_db
def test_one_chain_lock_per_flush(site_a, monkeypatch):
    locks = []
    real_lock = audit_models._lock_chain
    monkeypatch.setattr(audit_models, "_lock_chain", lambda: (locks.append(1), real_lock()))
    writer = BulkWriter()
    for k in range(3):
        writer.extend(case_records(site_a, f"LOCK{k}"))
    with (
        audit_context(label="test:loader"),
        transaction.atomic(),
        CaptureQueriesContext(connection) as queries,
    ):
        written = writer.flush()
    assert written == 24 and len(locks) == 1
    if connection.vendor == "postgresql":
        assert sum("pg_advisory_xact_lock" in q["sql"] for q in queries.captured_queries) == 1


@pytest.mark.django_db(transaction=True)
def test_flush_outside_a_transaction_is_refused(site_a):
    writer = BulkWriter()
    writer.add(m.Patient(site=site_a, registry_id="PD-NOTX"))
    with audit_context(label="test:loader"), pytest.raises(RuntimeError, match="inside the transaction"):
        writer.flush()
    assert not m.Patient.objects.filter(registry_id="PD-NOTX").exists()


@pytest.mark.django_db
def test_a_record_failing_its_checks_writes_nothing_of_the_flush(site_a):
    records = case_records(site_a, "BAD")
    records[-1].date_of_death = DAY + dt.timedelta(days=10)  # before the day-30 visit queued with it
    entries_before = AuditEntry.objects.count()
    writer = BulkWriter()
    writer.extend(records)
    with audit_context(label="test:loader"), pytest.raises(ValidationError, match="death"):
        with transaction.atomic():
            writer.flush()
    assert not m.Patient.objects.filter(registry_id="PD-BAD").exists()
    assert AuditEntry.objects.count() == entries_before


@pytest.mark.django_db
def test_deaths_are_checked_against_the_records_already_stored_in_one_query_per_table(site_a):
    cases = [case_records(site_a, f"D{k}") for k in range(3)]
    writer = BulkWriter()
    for records in cases:
        writer.extend(records[:-1])  # everything but the death
    with audit_context(label="test:loader"), transaction.atomic():
        writer.flush()
    for records in cases:
        records[-1].date_of_death = DAY + dt.timedelta(days=60)
    cases[1][-1].date_of_death = DAY + dt.timedelta(days=20)  # before the stored day-30 visit
    writer.add(cases[1][-1])
    with audit_context(label="test:loader"), pytest.raises(ValidationError, match="after this date of death"):
        with transaction.atomic():
            writer.flush()
    writer.extend([cases[0][-1], cases[2][-1]])
    with (
        audit_context(label="test:loader"),
        transaction.atomic(),
        CaptureQueriesContext(connection) as queries,
    ):
        assert writer.flush() == 2
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert (
        sum("MAX(" in sql.upper() for sql in reads) == 5
    )  # visits, events, reinterventions, amputations, procedures


@pytest.mark.django_db(transaction=True)
def test_a_bulk_written_chain_verifies_and_tampering_is_still_detected(site_a):
    writer = BulkWriter()
    for k in range(4):
        writer.extend(case_records(site_a, f"T{k}"))
    with audit_context(label="test:loader"), transaction.atomic():
        writer.flush()
    total = AuditEntry.objects.count()
    assert verify_chain() == total
    target = AuditEntry.objects.get(object_type="registry.procedure", object_id=str(writer_procedure_pk(2)))
    with append_only_suspended(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET reason = %s WHERE seq = %s", ["quietly changed", target.seq]
        )
    with pytest.raises(chain.ChainBreak) as caught:
        verify_chain()
    assert caught.value.seq == target.seq and "edited" in caught.value.problem


@pytest.mark.parametrize(
    "before, after",
    [
        (None, {"b": 1, "a": 'é ✓ \\ " \n', "nested": {"z": [1, None, True], "y": {}}, "n": None}),
        ({"x": "2025-03-10"}, {"x": "2025-03-11", "list": ["ß", 3, False]}),
        (None, None),
    ],
)
def test_the_texts_sent_by_copy_are_the_ones_the_hash_covered(before, after):
    entry = {
        "seq": 7,
        "timestamp": dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC),
        "actor_id": None,
        "actor_label": "système:seed",
        "action": "registry.patient.created",
        "object_type": "registry.patient",
        "object_id": "12",
        "site_id": 3,
        "before": before,
        "after": after,
        "reason": "",
    }
    digest, before_text, after_text = chain.entry_hash_and_json(entry, "ab" * 32)
    assert digest == chain.entry_hash(entry, "ab" * 32)
    assert (json.loads(before_text) if before_text else None) == before
    assert (json.loads(after_text) if after_text else None) == after


def writer_procedure_pk(k: int) -> int:
    return m.Procedure.objects.get(patient__registry_id=f"PD-T{k}").pk
