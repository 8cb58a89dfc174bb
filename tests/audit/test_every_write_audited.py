"""No model holding clinical, identity or governance data can be written without an audit entry."""

import pytest
from django.apps import apps

from pdva.accounts.models import Membership
from pdva.audit.context import AuditContextMissing, audit_context
from pdva.audit.models import AuditedModel, AuditEntry, HardDeleteForbidden, UnauditedWrite
from pdva.registry.models import AUDITED_MODELS
from tests.factories import ProcedureFactory

# Apps whose every model holds clinical, identity or governance data.
CLINICAL_APPS = ("registry", "accounts")


def test_every_model_in_the_clinical_apps_is_audited():
    for app in CLINICAL_APPS:
        for model in apps.get_app_config(app).get_models():
            assert issubclass(model, AuditedModel), f"{model._meta.label} is not audited"
    assert set(AUDITED_MODELS) <= {m for m in apps.get_models() if issubclass(m, AuditedModel)}


def test_every_audited_model_scopes_to_a_site():
    for model in apps.get_models():
        if issubclass(model, AuditedModel):
            assert model.site_path, model


@pytest.mark.django_db
@pytest.mark.parametrize("model", [*AUDITED_MODELS, Membership], ids=lambda m: m.__name__)
def test_writes_outside_an_audit_context_are_refused(model, site_a):
    ProcedureFactory(patient__site=site_a)
    existing = model.objects.first()
    before = AuditEntry.objects.count()
    if existing is not None:
        with pytest.raises(AuditContextMissing):
            existing.save(reason="no actor")
        with pytest.raises(HardDeleteForbidden):
            existing.delete()
    with pytest.raises(AuditContextMissing):
        model().save()
    with pytest.raises(UnauditedWrite):
        model.objects.filter(pk=-1).update(version=2)
    with pytest.raises(UnauditedWrite):
        model.objects.bulk_create([model()])
    with pytest.raises(HardDeleteForbidden):
        model.objects.filter(pk=-1).delete()
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_audited_bulk_create_writes_one_entry_per_row(site_a):
    from pdva.registry.models import Patient

    with audit_context(label="test:bulk", reason="bulk load"):
        rows = Patient.objects.audited_bulk_create(
            [Patient(site=site_a, registry_id=f"PD-BULK-{k:04d}") for k in range(3)]
        )
    entries = AuditEntry.objects.filter(object_type="registry.patient")
    assert sorted(e.object_id for e in entries) == sorted(str(p.pk) for p in rows)
    assert {e.reason for e in entries} == {"bulk load"}


@pytest.mark.django_db
def test_a_record_failing_a_newer_rule_can_still_be_removed(site_a):
    from django.core.exceptions import ValidationError
    from django.db import connection

    from pdva.registry.models import Reintervention
    from tests.factories import ReinterventionFactory

    reintervention = ReinterventionFactory(procedure__patient__site=site_a)
    with connection.cursor() as cursor:  # as if a rule had been added after the record was entered
        cursor.execute(
            "UPDATE registry_reintervention SET modalities = %s WHERE id = %s", ["[]", reintervention.pk]
        )
    stale = Reintervention.objects.get(pk=reintervention.pk)
    with audit_context(label="test"):
        stale.notes = "edited"
        with pytest.raises(ValidationError):
            stale.save(reason="an edit is still checked")
        stale = Reintervention.objects.get(pk=reintervention.pk)
        stale.soft_delete(reason="entered in error")
    assert Reintervention.objects.alive().filter(pk=reintervention.pk).count() == 0
    assert AuditEntry.objects.filter(
        action="registry.reintervention.deleted", object_id=str(stale.pk)
    ).exists()
