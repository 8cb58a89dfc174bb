"""Role separation in the administration screens: the system administrator (the only role that reaches
Django admin: is_staff) sees the audit trail's metadata, never the clinical values or identifiers an entry
holds."""

from __future__ import annotations

import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.registry.models import FollowUpVisit
from tests.conftest import verified_client
from tests.factories import VisitFactory, make_identity

pytestmark = pytest.mark.django_db

NOTE = "left heel ulcer now granulating nicely"
TOE_PRESSURE = 187


@pytest.fixture
def visit(site_a, alice):  # type: ignore[no-untyped-def]
    visit = VisitFactory(procedure__patient__site=site_a, notes="first note", toe_pressure_mmhg=42)
    make_identity(visit.procedure.patient, family="Zebedee-Quartz")
    with audit_context(alice):
        visit.notes = NOTE
        visit.toe_pressure_mmhg = TOE_PRESSURE
        visit.save(reason="reviewed in clinic")
    return visit


def _clinical_values_absent(page: str) -> None:
    for value in (NOTE, "first note", "toe_pressure_mmhg", f": {TOE_PRESSURE}", "Zebedee-Quartz"):
        assert value not in page
    assert "hmac:" not in page  # nor the identifiers' fingerprints


def test_the_administrator_sees_audit_metadata_but_no_before_after_values(visit, sam):
    client = verified_client(sam)
    entry = AuditEntry.objects.get(action="registry.followupvisit.updated", object_id=str(visit.pk))
    assert (
        entry.after["notes"] == NOTE and entry.after["toe_pressure_mmhg"] == TOE_PRESSURE
    )  # it is in the trail

    listing = client.get("/admin/audit/auditentry/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "registry.followupvisit.updated" in page and "alice" in page
    _clinical_values_absent(page)

    detail = client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
    assert detail.status_code == 200
    page = detail.content.decode()
    for shown in ("registry.followupvisit", str(visit.pk), "reviewed in clinic", "alice", entry.entry_hash):
        assert shown in page
    _clinical_values_absent(page)

    identity_entry = AuditEntry.objects.filter(object_type="registry.patientidentity").first()
    assert identity_entry is not None
    page = client.get(f"/admin/audit/auditentry/{identity_entry.pk}/change/").content.decode()
    _clinical_values_absent(page)


def test_filtering_the_list_by_a_hidden_value_is_refused(visit, sam):
    client = verified_client(sam)
    response = client.get("/admin/audit/auditentry/", {"after__notes__icontains": "granulating"})
    # Django admin answers a disallowed lookup with an error page or a redirect, never the filtered list.
    assert response.status_code in (302, 400) or "e=1" in response.get("Location", "")
    assert FollowUpVisit.objects.filter(pk=visit.pk).exists()


def test_only_staff_reach_the_audit_pages(visit, alice):
    response = verified_client(alice).get("/admin/audit/auditentry/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
