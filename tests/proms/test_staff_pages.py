"""Staff PROM pages: sign-in and a verified second factor required, site scoping, labels, reports."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from pdva.proms.models import InstrumentLabelSet, PromInvitation
from tests.factories import PatientFactory
from tests.proms.conftest import issue_link


@pytest.mark.django_db
def test_staff_pages_need_login_and_verified_second_factor(alice) -> None:
    anonymous = Client().get("/prom/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    unverified = Client()
    unverified.force_login(alice)
    assert unverified.get("/prom/").status_code == 302
    assert unverified.get("/prom/reports/").status_code == 302


@pytest.mark.django_db
def test_issue_a_printed_link_and_see_its_qr_code(alice, login, patient) -> None:
    client = login(alice)
    response = client.post(
        "/prom/",
        {
            "registry_id": patient.registry_id,
            "timepoint": "m6",
            "instruments": ["eq5d5l"],
            "channel": "print",
        },
    )
    invitation = PromInvitation.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/prom/links/{invitation.pk}/")
    page = client.get(response["Location"]).content.decode()
    assert "<svg" in page and "/prom/p/" in page
    assert invitation.instruments == ["eq5d5l"] and invitation.created_by == alice


@pytest.mark.django_db
def test_email_channel_needs_an_address_and_patients_elsewhere_are_not_found(
    alice, bob, login, patient
) -> None:
    client = login(alice)
    page = client.post(
        "/prom/",
        {
            "registry_id": patient.registry_id,
            "timepoint": "m6",
            "instruments": ["eq5d5l"],
            "channel": "email",
        },
    )
    assert "Give the patient&#x27;s email address" in page.content.decode()
    elsewhere = login(bob).post(
        "/prom/",
        {
            "registry_id": patient.registry_id,
            "timepoint": "m6",
            "instruments": ["eq5d5l"],
            "channel": "print",
        },
    )
    assert "No patient with this registry ID at your sites" in elsewhere.content.decode()
    assert not PromInvitation.objects.exists()


@pytest.mark.django_db
def test_links_at_another_site_are_404(bob, login, patient) -> None:
    invitation = issue_link(patient)
    assert login(bob).get(f"/prom/links/{invitation.pk}/").status_code == 404
    assert patient.registry_id not in login(bob).get("/prom/").content.decode()


@pytest.mark.django_db
def test_researcher_and_nobody_are_refused(rita, nobody, login) -> None:
    assert login(rita).get("/prom/").status_code == 403
    assert login(nobody).get("/prom/reports/").status_code == 403


@pytest.mark.django_db
def test_system_admin_loads_licensed_labels_and_patients_see_them(sam, alice, login, patient) -> None:
    labels = {
        code: {"text": f"Licensed text {code}", "levels": {"1": "first"}}
        for code in ("MO", "SC", "UA", "PD", "AD", "VAS")
    }
    bad = dict(labels)
    bad.pop("AD")
    client = login(sam)
    upload = io.BytesIO(json.dumps(bad).encode())
    upload.name = "labels.json"
    refused = client.post(
        "/prom/labels/", {"instrument": "eq5d5l", "licence_reference": "EuroQol 12345", "labels_file": upload}
    )
    assert "missing item codes" in refused.content.decode() and not InstrumentLabelSet.objects.exists()
    upload = io.BytesIO(json.dumps(labels).encode())
    upload.name = "labels.json"
    ok = client.post(
        "/prom/labels/", {"instrument": "eq5d5l", "licence_reference": "EuroQol 12345", "labels_file": upload}
    )
    assert ok.status_code == 302
    assert login(alice).post("/prom/labels/", {}).status_code == 403  # clinicians cannot load wording

    from pdva.proms.services import links

    invitation = issue_link(patient, instruments=("eq5d5l",))
    page = Client().get(f"/prom/p/{links.token_for(invitation)}/").content.decode()
    assert "Licensed text MO" in page and "Placeholder" not in page


@pytest.mark.django_db
def test_reports_page_marks_vq6_unverified(alice, login, site_a) -> None:
    PatientFactory(site=site_a)
    page = login(alice).get("/prom/reports/").content.decode()
    assert "Unverified scoring rule" in page
