"""ODM 1.3.2 AuditRecords: who (as a pseudonym), where, when and why for every item, from the audit log."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from django.core.management import CommandError, call_command

from pdva.audit.context import audit_context
from pdva.exports import lib
from pdva.exports.services import ExportRefused, run_export
from pdva.registry.models import FollowUpVisit
from tests.exports.test_research_export import identifier_values

ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
KEY = bytes(range(32))
AUDIT_CHILDREN = ["UserRef", "LocationRef", "DateTimeStamp", "ReasonForChange", "SourceID"]


def _odm(user, tmp_path, **options):  # type: ignore[no-untyped-def]
    with audit_context(user):
        return run_export("odm", user, tmp_path / "study.xml", **options)


def test_audit_records_name_who_where_when_and_why_for_each_item(cohort, nora, alice, tmp_path):
    visit = (
        FollowUpVisit.objects.filter(procedure__patient__national_data_opt_out=False).order_by("id").first()
    )
    visit.circuit_patency = "occluded" if visit.circuit_patency != "occluded" else "patent"
    with audit_context(alice, reason="duplex report received"):
        visit.save()
    result = _odm(nora, tmp_path, audit=True, key=KEY)
    assert result.manifest["audit_records"] is True
    root = ET.parse(result.path).getroot()
    children = [child.tag for child in root]
    assert children == [f"{ODM}Study", f"{ODM}AdminData", f"{ODM}ClinicalData"]
    admin = root.find(f"{ODM}AdminData")
    users = {u.get("OID") for u in admin.iter(f"{ODM}User")}
    locations = {loc.get("OID") for loc in admin.iter(f"{ODM}Location")}
    assert users and locations
    for location in admin.iter(f"{ODM}Location"):
        assert location.get("LocationType") == "Site"
        assert location.find(f"{ODM}MetaDataVersionRef").get("StudyOID") == "ST.PDVA"
    items = list(root.iter(f"{ODM}ItemData"))
    audited = [item for item in items if item.find(f"{ODM}AuditRecord") is not None]
    assert len(audited) == len(items) > 100  # every seeded record has an audit trail
    for item in audited:
        record = item.find(f"{ODM}AuditRecord")
        tags = [child.tag.removeprefix(ODM) for child in record]
        assert tags == [t for t in AUDIT_CHILDREN if t in tags][: len(tags)]
        assert tags[:3] == ["UserRef", "LocationRef", "DateTimeStamp"]
        assert record.find(f"{ODM}UserRef").get("UserOID") in users
        assert record.find(f"{ODM}LocationRef").get("LocationOID") in locations
        stamp = dt.datetime.fromisoformat(record.find(f"{ODM}DateTimeStamp").text.replace("Z", "+00:00"))
        assert stamp.tzinfo is not None
    # The edited item carries the edit: alice (as a pseudonym), her reason, at the visit's site.
    visit_key = lib.Pseudonymiser(KEY)("followupvisit", visit.pk)
    oid = "IT.FOLLOWUPS.CIRCUIT_PATENCY"
    for form in root.iter(f"{ODM}ItemGroupData"):
        keys = {i.get("ItemOID"): i for i in form.iter(f"{ODM}ItemData")}
        if (
            keys.get("IT.FOLLOWUPS.FOLLOWUP_ID") is not None
            and keys["IT.FOLLOWUPS.FOLLOWUP_ID"].get("Value") == visit_key
        ):
            edit = keys[oid].find(f"{ODM}AuditRecord")
            created = keys["IT.FOLLOWUPS.VISIT_DAY"].find(f"{ODM}AuditRecord")
            break
    else:
        pytest.fail("the edited visit is not in the export")
    assert edit.find(f"{ODM}ReasonForChange").text == "duplex report received"
    assert edit.find(f"{ODM}UserRef").get("UserOID") == f"USR.{lib.Pseudonymiser(KEY)('user', alice.pk)}"
    assert (
        edit.find(f"{ODM}LocationRef").get("LocationOID")
        == f"LOC.{lib.Pseudonymiser(KEY)('site', visit.procedure.patient.site_id)}"
    )
    assert created.find(f"{ODM}SourceID").text != edit.find(f"{ODM}SourceID").text
    # De-identified: no username or identifier anywhere.
    text = result.path.read_text()
    for value in [alice.username, nora.username, *identifier_values()]:
        assert not re.search(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", text), value


def test_audit_records_are_refused_to_researchers_and_other_exports(cohort, rita, nora, tmp_path):
    with audit_context(rita), pytest.raises(ExportRefused):
        run_export("odm", rita, tmp_path / "x.xml", audit=True)
    with audit_context(nora), pytest.raises(ExportRefused):
        run_export("research", nora, tmp_path / "x.zip", audit=True)
    plain = _odm(nora, tmp_path)
    assert "AuditRecord" not in plain.path.read_text() and "<AdminData" not in plain.path.read_text()


def test_export_command_audit_option(cohort, nora, rita, tmp_path):
    out = tmp_path / "cli.xml"
    call_command("export", "odm", "--audit", "--out", str(out), "--user", nora.username)
    assert ET.parse(out).getroot().find(f"{ODM}AdminData") is not None
    with pytest.raises(CommandError):
        call_command("export", "odm", "--audit", "--out", str(out), "--user", rita.username)
    with pytest.raises(CommandError):
        call_command("export", "redcap", "--audit", "--out", str(out), "--user", nora.username)
