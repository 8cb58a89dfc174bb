"""Removing a record entered in error: a confirmation, a required reason, refused when locked or when
another record points at it, audited, and gone from the case, timeline, worklists and counts while
its audit history stays readable."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.capture.kinds import KINDS
from pdva.capture.models import DataQuery
from pdva.capture.services.queries import close_query, open_query
from pdva.followup.services.run import refresh_statuses
from pdva.registry import models as m
from tests.factories import (
    AdverseEventFactory,
    AmputationFactory,
    DeathFactory,
    MedicationFactory,
    ProcedureFactory,
    ReinterventionFactory,
    VisitFactory,
    make_identity,
)

pytestmark = pytest.mark.django_db

REASON = "Entered for the wrong patient"


def prom(procedure, **extra):  # type: ignore[no-untyped-def]
    with audit_context(label="test:factory", reason="fixture"):
        adm = m.PromAdministration(
            patient=procedure.patient,
            procedure=procedure,
            instrument="pain_nrs",
            mode="paper",
            completed_date=dt.date(2025, 4, 1),
            responses={"NRS": 4},
            **extra,
        )
        adm.save()
    return adm


def lock(procedure):  # type: ignore[no-untyped-def]
    with audit_context(label="test:factory", reason="fixture"):
        procedure.locked_at = procedure.signed_off_at = timezone.now()
        procedure.save(reason="signed in the test")
    return procedure


def removable_records(case):  # type: ignore[no-untyped-def]
    """One record of each kind a clinician can remove, under ``case``."""
    return {
        "visit": VisitFactory(procedure=case),
        "adverse-event": AdverseEventFactory(procedure=case, serious="yes"),
        "reintervention": ReinterventionFactory(procedure=case),
        "amputation": AmputationFactory(patient=case.patient, date=dt.date(2025, 6, 1)),
        "medication": MedicationFactory(
            patient=case.patient, procedure=case, start_date=dt.date(2025, 3, 11)
        ),
        "prom": prom(case),
        "death": DeathFactory(patient=case.patient, date_of_death=dt.date(2025, 9, 1)),
    }


def remove(client, slug: str, rec, reason: str = REASON, **extra):  # type: ignore[no-untyped-def]
    return client.post(
        f"/cases/{slug}/{rec.uuid}/remove/", {"reason": reason, "version": rec.version}, **extra
    )


@pytest.mark.parametrize(
    "slug", ["visit", "adverse-event", "reintervention", "amputation", "medication", "prom", "death"]
)
def test_each_kind_is_removed_with_its_reason_and_kept_in_history(slug, alice, login, case_a):
    records = removable_records(case_a)
    rec = records[slug]
    client = login(alice)
    case_page = f"/cases/case/{case_a.uuid}/"
    assert f"/cases/{slug}/{rec.uuid}/" in client.get(case_page).content.decode()

    confirm = client.get(f"/cases/{slug}/{rec.uuid}/remove/")
    assert confirm.status_code == 200
    assert KINDS[slug].title in confirm.content.decode() and confirm.context["plan"].allowed

    r = remove(client, slug, rec)
    assert r.status_code == 302
    rec.refresh_from_db()
    assert rec.deleted_at is not None and rec.deleted_reason == REASON
    # Audited: the model's own 'deleted' entry and the named action, both with the reason.
    own = AuditEntry.objects.get(action=f"registry.{rec._meta.model_name}.deleted", object_id=str(rec.pk))
    named = AuditEntry.objects.get(action="capture.record.removed", object_id=str(rec.pk))
    assert own.reason == named.reason == REASON
    assert own.actor_label == named.actor_label == "alice"

    page = client.get(case_page).content.decode()
    assert f"/cases/{slug}/{rec.uuid}/history/" in page  # listed under 'Removed as entered in error'
    assert f'href="/cases/{slug}/{rec.uuid}/"' not in page  # no longer in the timeline or lists
    for other_slug, other in records.items():
        if other_slug != slug:
            assert f"/cases/{other_slug}/{other.uuid}/" in page, other_slug

    gone = client.get(f"/cases/{slug}/{rec.uuid}/")
    assert gone.status_code == 410 and REASON in gone.content.decode()
    history = client.get(f"/cases/{slug}/{rec.uuid}/history/")
    assert history.status_code == 200
    verbs = [row.verb for row in history.context["rows"]]
    assert verbs[0] == "Created" and "Deleted" in verbs
    assert REASON in history.content.decode()
    # A removed record cannot be removed twice.
    assert client.get(f"/cases/{slug}/{rec.uuid}/remove/").status_code == 404


def test_a_reason_is_required_and_nothing_is_removed_without_one(alice, login, case_a):
    visit = VisitFactory(procedure=case_a)
    r = remove(login(alice), "visit", visit, reason="   ")
    assert r.status_code == 200
    assert "Say why this record is being removed" in r.content.decode()
    visit.refresh_from_db()
    assert visit.deleted_at is None
    assert not AuditEntry.objects.filter(action="capture.record.removed").exists()


def test_the_confirmation_shows_what_will_be_removed(alice, dave, login, case_a):
    ae = AdverseEventFactory(procedure=case_a, category="bleeding", bleeding_severity="barc2")
    page = login(alice).get(f"/cases/adverse-event/{ae.uuid}/remove/").content.decode()
    assert "15 Mar 2025: Bleeding" in page  # the record, named by date and category
    assert ae.get_bleeding_severity_display() in page  # its values, shown as their labels
    # A whole case lists everything under it.
    VisitFactory(procedure=case_a)
    prom(case_a)
    plan = login(dave).get(f"/cases/procedure/{case_a.uuid}/remove/").context["plan"]
    titles = [item.title for item in plan.items]
    assert titles[0] == "Index procedure"
    assert {"Adverse event", "Follow-up visit", "PROM administration"} <= set(titles)


def test_htmx_panel_and_redirect(alice, login, case_a):
    visit = VisitFactory(procedure=case_a)
    client = login(alice)
    panel = client.get(f"/cases/visit/{visit.uuid}/remove/", HTTP_HX_REQUEST="true")
    body = panel.content.decode()
    assert panel.status_code == 200 and "<html" not in body and f'id="remove-{visit.uuid}"' in body
    refused = client.post(f"/cases/visit/{visit.uuid}/remove/", {"reason": ""}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 200 and "Not removed" in refused.content.decode()
    done = remove(client, "visit", visit, HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and done["HX-Redirect"] == f"/cases/case/{case_a.uuid}/"
    visit.refresh_from_db()
    assert visit.is_deleted


def test_locked_records_are_refused_but_later_follow_up_is_not(alice, login, case_a):
    before = VisitFactory(procedure=case_a)
    lock(case_a)
    after = VisitFactory(procedure=case_a, visit_date=dt.date(2025, 6, 10), timepoint="m3")
    client = login(alice)
    confirm = client.get(f"/cases/visit/{before.uuid}/remove/")
    assert "signed off" in confirm.content.decode() and not confirm.context["plan"].allowed
    assert remove(client, "visit", before).status_code == 409
    before.refresh_from_db()
    assert before.deleted_at is None
    # The case page offers no Remove for the locked record, but does for the follow-up added after signing.
    page = client.get(f"/cases/case/{case_a.uuid}/").content.decode()
    assert f"/cases/visit/{before.uuid}/remove/" not in page
    assert f"/cases/visit/{after.uuid}/remove/" in page
    assert remove(client, "visit", after).status_code == 302


def test_a_record_another_points_at_cannot_be_removed_alone(alice, login, case_a):
    reintervention = ReinterventionFactory(procedure=case_a)
    AmputationFactory(patient=case_a.patient, reintervention=reintervention)
    r = remove(login(alice), "reintervention", reintervention)
    assert r.status_code == 409
    assert "Amputation" in r.content.decode() and "linked to this record" in r.content.decode()
    reintervention.refresh_from_db()
    assert reintervention.deleted_at is None


def test_a_stale_confirmation_is_refused_with_the_other_change(alice, dave, login, case_a):
    visit = VisitFactory(procedure=case_a)
    loaded_version = visit.version
    with audit_context(dave):
        fresh = m.FollowUpVisit.objects.get(pk=visit.pk)
        fresh.notes = "Seen in clinic, wound smaller"
        fresh.save(reason="notes added")
    r = login(alice).post(f"/cases/visit/{visit.uuid}/remove/", {"reason": REASON, "version": loaded_version})
    assert r.status_code == 409
    assert "Seen in clinic, wound smaller" in r.content.decode()
    visit.refresh_from_db()
    assert visit.deleted_at is None


def test_a_record_that_no_longer_passes_the_rules_can_still_be_removed(alice, login, case_a, monkeypatch):
    visit = VisitFactory(procedure=case_a)

    def stricter(self):  # type: ignore[no-untyped-def]
        from django.core.exceptions import ValidationError

        raise ValidationError({"visit_date": "a rule added after this visit was entered"})

    monkeypatch.setattr(m.FollowUpVisit, "clean_for_save", stricter)
    assert remove(login(alice), "visit", visit).status_code == 302
    visit.refresh_from_db()
    assert visit.deleted_at is not None


def test_worklists_and_counts_drop_removed_records(alice, dave, login, case_a):
    today = dt.date.today()
    with audit_context(label="test:factory", reason="fixture"):
        case_a.procedure_date = today - dt.timedelta(days=40)
        case_a.admission_date = case_a.discharge_date = None
        case_a.save(reason="recent case")
    visit = VisitFactory(procedure=case_a, visit_date=today - dt.timedelta(days=5), timepoint="w2_6")
    ae = AdverseEventFactory(procedure=case_a, onset_date=today - dt.timedelta(days=30), serious="yes")
    with audit_context(dave):
        query = open_query(dave, KINDS["visit"], visit, field_name="", question="Which clinic?")
        closed = open_query(dave, KINDS["visit"], visit, field_name="", question="Seen by?")
        close_query(dave, closed, "fine")
    refresh_statuses(today)  # the daily run stores the follow-up statuses the worklist reads
    client = login(alice)

    def worklist():  # type: ignore[no-untyped-def]
        ctx = client.get("/cases/worklist/").context
        followups = [i for i in ctx["due"] + ctx["missed"] if i.procedure_uuid == str(case_a.uuid)]
        return followups, ctx["mhra"], ctx["queries"]

    followups, mhra, queries = worklist()
    assert ae in mhra and query in queries
    expected_before = client.get(f"/cases/case/{case_a.uuid}/").context["case"].expected

    assert remove(client, "visit", visit).status_code == 302
    assert remove(client, "adverse-event", ae).status_code == 302
    after_followups, mhra, queries = worklist()
    assert ae not in mhra and query not in queries
    # The time point the removed visit covered is outstanding again.
    assert len(after_followups) == len(followups) + 1
    # The open query went with the record (audited); the closed one is kept as it was.
    query.refresh_from_db()
    closed.refresh_from_db()
    assert query.deleted_at is not None and closed.deleted_at is None
    assert AuditEntry.objects.filter(action="capture.dataquery.deleted", object_id=str(query.pk)).exists()
    case = client.get(f"/cases/case/{case_a.uuid}/").context["case"]
    assert visit not in [e.record for e in case.events] and ae not in [e.record for e in case.events]
    # Their mandatory items no longer count towards the case's completeness.
    assert case.expected < expected_before


def test_a_removed_death_can_be_recorded_again(alice, login, case_a):
    death = DeathFactory(patient=case_a.patient, date_of_death=dt.date(2025, 9, 1))
    client = login(alice)
    assert remove(client, "death", death).status_code == 302
    case_a.patient.refresh_from_db()
    assert m.Patient.objects.get(pk=case_a.patient.pk).date_of_death is None
    new = client.get(f"/cases/death/new/{case_a.patient.uuid}/")
    assert new.status_code == 200  # a new entry, not the removed one
    r = client.post(
        f"/cases/death/new/{case_a.patient.uuid}/",
        {
            "death-date_of_death": "2025-10-02",
            "death-source": "gp",
            "death-cause_category": "not_known",
            "death-in_hospital": "not_known",
        },
    )
    assert r.status_code == 302, r.context["form"].errors if r.context else r
    death.refresh_from_db()
    assert death.deleted_at is None and death.date_of_death == dt.date(2025, 10, 2)
    assert m.Patient.objects.get(pk=case_a.patient.pk).date_of_death == dt.date(2025, 10, 2)
    actions = list(
        AuditEntry.objects.filter(object_type="registry.death", object_id=str(death.pk)).values_list(
            "action", flat=True
        )
    )
    assert actions[-1] == "registry.death.updated" and "registry.death.deleted" in actions


def test_only_the_data_manager_removes_a_whole_case(alice, dave, login, case_a):
    visit = VisitFactory(procedure=case_a)
    adm = prom(case_a)
    with audit_context(dave):
        query = open_query(dave, KINDS["visit"], visit, field_name="", question="?")
    assert login(alice).get(f"/cases/procedure/{case_a.uuid}/remove/").status_code == 403
    r = remove(login(dave), "procedure", case_a, reason="Duplicate of the case entered last week")
    assert r.status_code == 302 and r["Location"] == f"/cases/patients/{case_a.patient.uuid}/"
    for rec in (case_a, visit, adm, query):
        rec.refresh_from_db()
        assert rec.deleted_at is not None, rec
    client = login(alice)
    assert client.get(f"/cases/case/{case_a.uuid}/").status_code == 404
    patient_page = client.get(f"/cases/patients/{case_a.patient.uuid}/")
    assert "No index procedure recorded yet" in patient_page.content.decode()
    assert f"/cases/procedure/{case_a.uuid}/history/" in patient_page.content.decode()
    assert case_a not in [p for p, _ in client.get("/cases/worklist/").context["missing"]]


def test_removing_a_patient_registered_in_error_frees_the_nhs_number(alice, dave, login, site_a, case_a):
    MedicationFactory(patient=case_a.patient, procedure=None, indication="af")
    patient = case_a.patient
    r = remove(login(dave), "patient", patient, reason="Registered twice")
    assert r.status_code == 302 and r["Location"] == "/cases/"
    patient.refresh_from_db()
    assert patient.deleted_at is not None
    assert m.PatientIdentity.objects.get(patient=patient).deleted_at is not None
    assert m.Medication.objects.alive().filter(patient=patient).count() == 0
    client = login(alice)
    assert patient not in list(client.get("/cases/").context["page"])
    assert client.get(f"/cases/patients/{patient.uuid}/").status_code == 404
    assert client.get(f"/cases/patient/{patient.uuid}/history/").status_code == 200
    # The same NHS number can be registered again, without a duplicate warning.
    r = client.post(
        "/cases/register/",
        {
            "site": site_a.pk,
            "nhs_number": "9434765919",
            "given_name": "Ada",
            "family_name": "Example",
            "date_of_birth": "1950-06-15",
            "sex": "female",
            "ethnicity": "not_known",
        },
    )
    assert r.status_code == 302, r.context["form"].errors
    assert m.Patient.objects.alive().filter(site=site_a).count() == 1


def test_a_patient_with_a_locked_case_cannot_be_removed(dave, login, case_a):
    lock(case_a)
    assert remove(login(dave), "patient", case_a.patient).status_code == 409
    case_a.patient.refresh_from_db()
    assert case_a.patient.deleted_at is None


def test_other_site_cannot_remove(bob, login, case_a):
    visit = VisitFactory(procedure=case_a)
    assert remove(login(bob), "visit", visit).status_code == 404
    visit.refresh_from_db()
    assert visit.deleted_at is None


def test_second_patient_at_another_site_is_untouched(dave, login, case_a, site_b):
    other = ProcedureFactory(patient__site=site_b)
    make_identity(other.patient, nhs_number="4010232137")
    remove(login(dave), "patient", case_a.patient)
    other.refresh_from_db()
    assert other.deleted_at is None and not DataQuery.objects.exists()


def test_whole_case_and_patient_removal_is_offered_to_the_data_manager_only(alice, dave, login, case_a):
    case_link = f"/cases/procedure/{case_a.uuid}/remove/"
    patient_link = f"/cases/patient/{case_a.patient.uuid}/remove/"
    for user, offered in ((alice, False), (dave, True)):
        client = login(user)
        assert (case_link in client.get(f"/cases/case/{case_a.uuid}/").content.decode()) is offered
        assert (
            patient_link in client.get(f"/cases/patients/{case_a.patient.uuid}/").content.decode()
        ) is offered
    lock(case_a)
    client = login(dave)
    assert case_link not in client.get(f"/cases/case/{case_a.uuid}/").content.decode()
    assert patient_link not in client.get(f"/cases/patients/{case_a.patient.uuid}/").content.decode()
