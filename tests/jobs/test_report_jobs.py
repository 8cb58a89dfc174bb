"""Report pages only queue: the request answers with the job's page; the job makes the same file, records
what the page used to record, and checks the same permissions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pdva.audit.models import AuditEntry
from pdva.jobs import services
from pdva.jobs.models import Job
from tests.factories import OperatorFactory, ProcedureFactory
from tests.jobs._client import download, job_of
from tests.jobs.conftest import TRANSACTIONAL


@pytest.fixture
def renders(monkeypatch):  # type: ignore[no-untyped-def]
    """Count the PDFs rendered (to show the request renders none)."""
    from pdva.reports.services import pdf

    calls: list[str] = []
    real = pdf.render_pdf

    def counting(template, context):  # type: ignore[no-untyped-def]
        calls.append(template)
        return real(template, context)

    monkeypatch.setattr(pdf, "render_pdf", counting)
    return calls


@TRANSACTIONAL
def test_pdf_request_only_queues_and_the_job_makes_the_pdf(mode, alice, site_a, login, renders):
    for _ in range(3):
        ProcedureFactory(patient__site=site_a)
    client = login(alice)
    response = client.get(reverse("reports:governance_pdf", args=[site_a.pk]) + "?period=2025Q4")
    job = job_of(response)
    assert job.state == Job.QUEUED and job.kind == "reports.governance_pdf" and job.site_id == site_a.pk
    assert job.params == {"site_id": site_a.pk, "period": "2025Q4"}
    assert renders == []  # the request rendered nothing
    assert not AuditEntry.objects.filter(action="reports.governance.downloaded").exists()
    services.run_until_idle()
    job.refresh_from_db()
    assert job.state == Job.SUCCEEDED, job.error
    assert renders == ["reports/pdf/governance.html"]
    assert job.result_name == "pdva-governance-AAA-2025Q4.pdf"
    assert download(client, response)[:5] == b"%PDF-"
    generated = AuditEntry.objects.get(action="reports.governance.downloaded")
    assert generated.actor_id == alice.pk and generated.after["period"] == "2025Q4"
    assert AuditEntry.objects.filter(action="jobs.result.downloaded", actor_id=alice.pk).count() == 1


@pytest.mark.django_db
def test_a_governance_pdf_without_a_period_is_named_by_its_cutoff(alice, site_a, login):
    import datetime as dt

    ProcedureFactory(patient__site=site_a)
    response = login(alice).get(reverse("reports:governance_pdf", args=[site_a.pk]))
    job = job_of(response)  # inline in the test settings: already done
    assert job.state == Job.SUCCEEDED, job.error
    assert job.result_name == f"pdva-governance-AAA-{dt.date.today().isoformat()}.pdf"


@pytest.mark.django_db
def test_every_report_download_is_a_job_with_its_file(alice, dave, nora, site_a, login):
    """(Jobs run inline in the test settings, so each answer is a finished job.)"""
    for _ in range(3):
        ProcedureFactory(patient__site=site_a)
    operator = OperatorFactory(site=site_a)
    cases = [
        (dave, reverse("reports:workbook", args=[site_a.pk]), b"PK", "reports.workbook.exported"),
        (alice, reverse("reports:decision_aid", args=[site_a.pk]) + "?dialysis=1", b"%PDF-", None),
        (
            alice,
            reverse("reports:appraisal_pdf", args=[operator.pk]),
            b"%PDF-",
            "reports.appraisal.downloaded",
        ),
        (nora, reverse("reports:national_pdf"), b"%PDF-", "reports.national.downloaded"),
    ]
    for user, url, magic, action in cases:
        client = login(user)
        assert download(client, client.get(url))[: len(magic)] == magic, url
        if action:
            assert AuditEntry.objects.filter(action=action, actor_id=user.pk).count() == 1, action


@pytest.mark.django_db
def test_a_bad_period_is_answered_at_once_and_queues_nothing(alice, site_a, login):
    response = login(alice).get(reverse("reports:governance_pdf", args=[site_a.pk]) + "?period=2025Q9")
    assert response.status_code == 400 and b"is not a quarter" in response.content
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_another_sites_report_is_404_and_queues_nothing(alice, site_b, login):
    client = login(alice)
    for url in (
        reverse("reports:governance_pdf", args=[site_b.pk]),
        reverse("reports:workbook", args=[site_b.pk]),
        reverse("reports:decision_aid", args=[site_b.pk]),
        reverse("reports:appraisal_pdf", args=[OperatorFactory(site=site_b).pk]),
        reverse("reports:national_pdf"),
    ):
        assert client.get(url).status_code == 404, url
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_email_button_queues_the_send_and_says_so(worker_mode, site_a, gina, login):
    ProcedureFactory(patient__site=site_a)
    client = login(gina)
    fragment = client.post(reverse("reports:governance_send", args=[site_a.pk]), HTTP_HX_REQUEST="true")
    job = Job.objects.get(kind="reports.governance_send")
    assert fragment.status_code == 200 and job.state == Job.QUEUED
    assert "being prepared and sent in the background" in fragment.content.decode()
    assert f"/jobs/{job.pk}/" in fragment.content.decode()
    plain = client.post(reverse("reports:governance_send", args=[site_a.pk]))
    assert job_of(plain).kind == "reports.governance_send"
