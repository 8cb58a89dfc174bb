"""Registering a patient (with the NHS-number duplicate check across sites) and finding one."""

from __future__ import annotations

import pytest

from pdva.audit.models import AuditEntry
from pdva.registry import models as m

pytestmark = pytest.mark.django_db

NEW_NHS = "4857773456"  # fails the modulus-11 check
VALID_NEW_NHS = "4857773457"


def details(site, nhs: str, **extra):  # type: ignore[no-untyped-def]
    return {
        "site": site.pk,
        "nhs_number": nhs,
        "given_name": "Ada",
        "family_name": "Example",
        "date_of_birth": "1948-02-03",
        "postcode": "zz99 3vz",
        "sex": "female",
        "ethnicity": "A",
        **extra,
    }


def test_register_creates_patient_and_encrypted_identity(alice, login, site_a):
    r = login(alice).post("/cases/register/", details(site_a, "485 777 3457"))
    assert r.status_code == 302
    patient = m.Patient.objects.get(site=site_a)
    assert r["Location"] == f"/cases/procedure/new/{patient.uuid}/"
    identity = patient.identity
    assert identity.nhs_number == VALID_NEW_NHS and identity.postcode == "ZZ99 3VZ"
    assert VALID_NEW_NHS not in identity.nhs_number_enc


def test_invalid_nhs_number_is_refused_at_the_field(alice, login, site_a):
    r = login(alice).post("/cases/register/", details(site_a, NEW_NHS))
    assert r.status_code == 200
    assert "not a valid NHS number" in " ".join(r.context["form"].errors["nhs_number"])
    assert not m.Patient.objects.exists()


def test_duplicate_at_the_same_site_is_refused_with_a_link(alice, login, case_a, site_a):
    r = login(alice).post("/cases/register/", details(site_a, "9434765919"))
    assert r.status_code == 200
    body = r.content.decode()
    assert f"already registered at this site as {case_a.patient.registry_id}" in body
    assert f"/cases/patients/{case_a.patient.uuid}/" in body
    assert m.Patient.objects.count() == 1


def test_duplicate_at_another_site_reveals_nothing_and_needs_confirmation(alice, login, case_b, site_a):
    client = login(alice)
    r = client.post("/cases/register/", details(site_a, "4010232137"))
    assert r.status_code == 200
    body = r.content.decode()
    assert "A patient with this NHS number is registered at another site" in body
    # Nothing of the other site's record: not its registry ID, site, name or link.
    for leak in (case_b.patient.registry_id, "Site B", "BBB", str(case_b.patient.uuid), "Testperson"):
        assert leak not in body
    r = client.post("/cases/register/", details(site_a, "4010232137", confirm_other_site="on"))
    assert r.status_code == 302
    patient = m.Patient.objects.get(site=site_a)
    assert AuditEntry.objects.filter(
        action="capture.patient.registered_at_second_site", object_id=str(patient.pk)
    ).exists()


@pytest.mark.parametrize("actor", ["gina", "nora", "rita", "sam", "nobody"])
def test_roles_that_cannot_edit_or_see_identifiers_cannot_register(actor, request, login, site_a):
    user = request.getfixturevalue(actor)
    assert login(user).get("/cases/register/").status_code == 403


def found(client, q: str) -> list:  # type: ignore[no-untyped-def]
    return list(client.get("/cases/", {"q": q}).context["page"])


def test_search_by_registry_id_is_scoped_to_the_users_sites(alice, bob, login, case_a):
    rid = case_a.patient.registry_id
    assert found(login(alice), rid[3:7].lower()) == [case_a.patient]
    assert found(login(bob), rid) == []


def test_search_by_nhs_number_only_for_identifier_roles(alice, bob, nora, login, case_a):
    assert found(login(alice), "943 476 5919") == [case_a.patient]
    assert AuditEntry.objects.filter(action="capture.patient.searched_by_nhs_number").exists()
    assert found(login(bob), "9434765919") == []
    r = login(nora).get("/cases/", {"q": "9434765919"})
    assert list(r.context["page"]) == [] and "cannot search by NHS number" in r.content.decode()


def test_identifiers_shown_only_to_identifier_roles(alice, gina, nora, login, case_a):
    url = f"/cases/patients/{case_a.patient.uuid}/"
    assert "9434765919" in login(alice).get(url).content.decode()
    for user in (gina, nora):
        body = login(user).get(url).content.decode()
        assert "9434765919" not in body and "Testperson" not in body
