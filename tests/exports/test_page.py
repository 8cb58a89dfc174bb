"""The exports page offers each role its exports, streams the file and audits it."""

from __future__ import annotations

import io
import zipfile

from pdva.audit.models import AuditEntry


def test_researcher_downloads_a_research_export(cohort, rita, login):
    client = login(rita)
    page = client.get("/exports/")
    assert page.status_code == 200
    assert 'value="research"' in page.content.decode() and 'value="full"' not in page.content.decode()
    response = client.post("/exports/", {"kind": "research", "format": "csv"})
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
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
