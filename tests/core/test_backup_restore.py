"""Backup and restore: consistent, refuses to overwrite, verifies the audit chain afterwards."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pdva.audit.models import AuditEntry
from pdva.core.backup import wipe
from pdva.registry.models import Patient, PatientIdentity, Procedure
from pdva.registry.synthetic import seed_cohort

pytestmark = pytest.mark.django_db(transaction=True)


def test_backup_then_restore_into_an_empty_database(tmp_path, capsys):
    seed_cohort(sites=2, patients=6, years=2, seed=3)
    counts = (Patient.objects.count(), Procedure.objects.count(), AuditEntry.objects.count())
    nhs = sorted(i.nhs_number for i in PatientIdentity.objects.all())
    call_command("backup", str(tmp_path / "registry"))
    path = tmp_path / "registry.json.gz"
    assert path.exists()

    with pytest.raises(CommandError, match="already holds registry data"):
        call_command("restore", str(path))

    wipe()
    assert Patient.objects.count() == 0 and AuditEntry.objects.count() == 0
    call_command("restore", str(path))
    assert "audit chain OK" in capsys.readouterr().out
    assert (Patient.objects.count(), Procedure.objects.count(), AuditEntry.objects.count()) == counts
    assert sorted(i.nhs_number for i in PatientIdentity.objects.all()) == nhs


def test_forced_restore_replaces_data(tmp_path):
    seed_cohort(sites=1, patients=3, years=1, seed=4)
    call_command("backup", str(tmp_path / "first.json.gz"))
    first = set(Patient.objects.values_list("registry_id", flat=True))
    seed_cohort(sites=1, patients=2, years=1, seed=5)
    call_command("restore", str(tmp_path / "first.json.gz"), "--force")
    assert set(Patient.objects.values_list("registry_id", flat=True)) == first


def test_restore_of_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no backup file"):
        call_command("restore", str(tmp_path / "nope.json.gz"))
