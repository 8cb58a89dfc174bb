"""Follow-up pages: worklist scoping, compliance, digests, linkage proposals and ascertainment by upload."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from pdva.audit.context import audit_context
from pdva.followup.models import DigestSend, LinkageProposal
from pdva.followup.services.run import refresh_statuses, run
from pdva.registry.models import Death
from tests.factories import PatientFactory, make_identity
from tests.followup.conftest import make_procedure
from tests.followup.test_linkage_import import nhs
from tests.jobs._client import result_link

PROC = dt.date(2024, 6, 3)


def upload(name: str, text: str) -> io.BytesIO:
    f = io.BytesIO(text.encode())
    f.name = name
    return f


@pytest.mark.django_db
def test_worklist_shows_only_my_sites(alice, bob, login, site_a, site_b) -> None:
    mine = make_procedure(site_a, PROC)
    theirs = make_procedure(site_b, PROC)
    refresh_statuses(dt.date.today())  # the worklist reads the statuses the daily run stores
    page = login(alice).get("/followup/?show=missed").content.decode()
    assert mine.patient.registry_id in page and theirs.patient.registry_id not in page
    partial = login(alice).get("/followup/?show=upcoming", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert "1 time point" in partial.content.decode() or "time points" in partial.content.decode()


@pytest.mark.django_db
def test_pages_refuse_roles_without_the_capability(rita, nobody, alice, nora, login) -> None:
    assert login(rita).get("/followup/").status_code == 403
    assert login(nobody).get("/followup/compliance/").status_code == 403
    assert login(alice).get("/followup/linkage/").status_code == 403  # clinicians do not import linkage
    assert login(nora).get("/followup/linkage/").status_code == 403
    assert login(nora).get("/followup/compliance/").status_code == 200  # national view


@pytest.mark.django_db
def test_compliance_and_digest_pages(dave, login, site_a) -> None:
    make_procedure(site_a, PROC)
    with audit_context(label="system:followup"):
        run(dt.date(2025, 9, 1))
    assert DigestSend.objects.filter(site=site_a, status="failed").exists()  # dave has no email address
    client = login(dave)
    page = client.get("/followup/compliance/").content.decode()
    assert "Site A Trust" in page and "Case ascertainment" in page
    digests = client.get("/followup/digests/").content.decode()
    assert "no active data manager with an email address" in digests


@pytest.mark.django_db
def test_data_manager_uploads_linkage_and_accepts_with_htmx(dave, bob, login, site_a, site_b) -> None:
    patient = PatientFactory(site=site_a)
    number = nhs(600000001)
    make_identity(patient, nhs_number=number)
    make_procedure(site_a, PROC, patient=patient)
    client = login(dave)
    bad = client.post(
        "/followup/linkage/", {"kind": "deaths", "file": upload("d.csv", "nhs_number,date_of_death\n123,x\n")}
    )
    assert bad.status_code == 302  # to the import job's page, which lists the problems
    assert "Nothing was imported" in client.get(bad["Location"]).content.decode()
    assert not LinkageProposal.objects.exists()
    ok = client.post(
        "/followup/linkage/",
        {"kind": "deaths", "file": upload("d.csv", f"nhs_number,date_of_death\n{number},2025-02-01\n")},
    )
    assert ok.status_code == 302
    batch_page = client.get(result_link(client, ok)).content.decode()
    assert patient.registry_id in batch_page and "Proposed: 1" in batch_page
    proposal = LinkageProposal.objects.get()
    url = f"/followup/linkage/proposals/{proposal.pk}/accept/"
    assert login(bob).post(url).status_code == 403  # a clinician elsewhere
    row = client.post(url, HTTP_HX_REQUEST="true")
    assert row.status_code == 200 and "Accepted" in row.content.decode()
    assert Death.objects.get(patient=patient).source == "ons_linkage"


@pytest.mark.django_db
def test_data_manager_uploads_ascertainment_list(dave, login, site_a) -> None:
    patient = PatientFactory(site=site_a)
    number, absent = nhs(700000001), nhs(700000101)
    make_identity(patient, nhs_number=number)
    make_procedure(site_a, PROC, patient=patient, index_limb="right")
    client = login(dave)
    text = f"nhs_number,procedure_date,limb\n{number},2024-06-03,right\n{absent},2024-06-10,left\n"
    response = client.post(
        "/followup/ascertainment/",
        {
            "site": site_a.pk,
            "period_start": "2024-04-01",
            "period_end": "2024-06-30",
            "file": upload("t.csv", text),
        },
    )
    page = client.get(result_link(client, response)).content.decode()
    assert "1 of 2 procedures" in page and absent in page  # data managers may see identifiers
