"""The exports page offers each role its exports, prepares the file as a job and audits it."""

from __future__ import annotations

import io
import zipfile

from pdva.audit.models import AuditEntry
from tests.jobs._client import download


def test_researcher_downloads_a_research_export(cohort, rita, login):
    client = login(rita)
    page = client.get("/exports/")
    assert page.status_code == 200
    assert 'value="research"' in page.content.decode() and 'value="full"' not in page.content.decode()
    response = client.post("/exports/", {"kind": "research", "format": "csv"})
    data = download(client, response)
    assert "patients.csv" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert AuditEntry.objects.filter(action="exports.research.created", actor_id=rita.pk).exists()


def test_data_manager_is_offered_full_and_fhir_only(cohort, manager, login):
    client = login(manager)
    text = client.get("/exports/").content.decode()
    assert 'value="full"' in text and 'value="fhir"' in text and 'value="research"' not in text
    assert client.post("/exports/", {"kind": "research"}).status_code == 400


def test_roles_without_exports_are_refused(cohort, alice, gina, nobody, login):
    for user in (alice, gina, nobody):
        assert login(user).get("/exports/").status_code == 403


def test_national_auditor_may_add_audit_records_to_odm_and_researcher_may_not(cohort, nora, rita, login):
    client = login(nora)
    assert 'name="audit"' in client.get("/exports/").content.decode()
    response = client.post("/exports/", {"kind": "odm", "audit": "on"})
    assert b"<AuditRecord" in download(client, response)
    researcher = login(rita)
    assert 'name="audit"' not in researcher.get("/exports/").content.decode()
    plain = researcher.post("/exports/", {"kind": "odm", "audit": "on"})
    assert b"<AuditRecord" not in download(researcher, plain)
