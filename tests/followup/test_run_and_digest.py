"""`pdva followup run` over years with a fixed clock: statuses change at window edges, runs are idempotent,
schedule changes re-compute, and weekly digests are sent (or their failure recorded)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import override_settings

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.followup.lib import schedule as schedule_lib
from pdva.followup.models import DigestSend, FollowUpRun, FollowUpStatus, ScheduleAdoption
from pdva.followup.services.run import run
from tests.factories import DeathFactory, UserFactory, VisitFactory, grant
from tests.followup.conftest import make_procedure

PROC = dt.date(2022, 3, 1)
DAY = dt.timedelta(days=1)


def statuses(procedure) -> dict[tuple[str, int], str]:  # type: ignore[no-untyped-def]
    return {(s.timepoint, s.year): s.status for s in FollowUpStatus.objects.filter(procedure=procedure)}


def do_run(today: dt.date, **kwargs):  # type: ignore[no-untyped-def]
    with audit_context(label="system:followup", reason="test run"):
        return run(today, **kwargs)


@pytest.mark.django_db
def test_statuses_follow_the_clock_over_years(site_a) -> None:
    procedure = make_procedure(site_a, PROC)
    m12 = PROC + 274 * DAY, PROC + 365 * DAY, PROC + 639 * DAY
    expectations = [
        (m12[0] - DAY, "not_yet_due"),
        (m12[0], "due"),
        (m12[1], "due"),
        (m12[1] + DAY, "overdue"),
        (m12[2], "overdue"),
        (m12[2] + DAY, "missed"),
    ]
    for today, expected in expectations:
        do_run(today, send_digests=False)
        assert statuses(procedure)[("m12", 0)] == expected, today
    # Years later, the annual time points have come and gone, one per year.
    do_run(dt.date(2026, 6, 1), send_digests=False)
    s = statuses(procedure)
    assert s[("annual", 2)] == s[("annual", 3)] == "missed"
    assert s[("annual", 4)] == "overdue"  # anniversary 1 March 2026 passed; window open until August
    assert s[("annual", 5)] == "not_yet_due"


@pytest.mark.django_db
def test_rerun_is_idempotent_and_status_since_tracks_changes(site_a) -> None:
    make_procedure(site_a, PROC)
    first = do_run(dt.date(2023, 1, 1), send_digests=False)
    assert first.created > 0 and first.changed == 0
    second = do_run(dt.date(2023, 1, 1), send_digests=False)
    assert (second.created, second.changed, second.removed) == (0, 0, 0)
    assert second.unchanged == first.created
    third = do_run(dt.date(2023, 3, 2), send_digests=False)  # m12 target passed: due -> overdue
    assert third.changed >= 1
    row = FollowUpStatus.objects.get(timepoint="m12")
    assert row.status == "overdue" and row.status_since == dt.date(2023, 3, 2)


@pytest.mark.django_db
def test_death_stops_follow_up_and_visits_complete_it(site_a) -> None:
    procedure = make_procedure(site_a, PROC)
    VisitFactory(procedure=procedure, timepoint="m3", visit_date=PROC + 95 * DAY)
    do_run(PROC + 200 * DAY, send_digests=False)
    assert statuses(procedure)[("m6", 0)] == "overdue"
    DeathFactory(patient=procedure.patient, date_of_death=PROC + 210 * DAY)
    do_run(PROC + 700 * DAY, send_digests=False)
    s = statuses(procedure)
    assert s[("m3", 0)] == "completed_in_window"
    assert s[("m6", 0)] == s[("m12", 0)] == s[("annual", 2)] == "not_applicable"
    assert ("annual", 3) not in s  # nothing more is expected after death


@pytest.mark.django_db
def test_adopting_a_new_schedule_recomputes_without_touching_visits(site_a, tmp_path, monkeypatch) -> None:
    procedure = make_procedure(site_a, PROC)
    visit = VisitFactory(procedure=procedure, timepoint="m12", visit_date=PROC + 660 * DAY)
    do_run(PROC + 700 * DAY, send_digests=False)
    assert statuses(procedure)[("m12", 0)] == "completed_out_of_window"
    # A new schedule version with a 24-month outer limit for the 12-month visit.
    source = (schedule_lib.SCHEDULE_DIR / "2026.1.json").read_text()
    (tmp_path / "2026.1.json").write_text(source)
    (tmp_path / "2099.1.json").write_text(
        source.replace('"version": "2026.1"', '"version": "2099.1"').replace('"close": 639', '"close": 730')
    )
    monkeypatch.setattr(schedule_lib, "SCHEDULE_DIR", tmp_path)
    call_command("followup", "adopt-schedule", "2099.1")
    assert ScheduleAdoption.objects.get().version == "2099.1"
    log = do_run(PROC + 700 * DAY, send_digests=False)
    assert log.schedule_version == "2099.1" and log.changed >= 1
    assert statuses(procedure)[("m12", 0)] == "completed_in_window"
    visit.refresh_from_db()
    assert visit.version == 1 and visit.visit_date == PROC + 660 * DAY


@pytest.mark.django_db
def test_unknown_schedule_version_is_refused(site_a) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="unknown schedule version"):
        call_command("followup", "adopt-schedule", "1999.1")


def data_manager(site, email: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=email.split("@")[0], email=email)
    grant(user, "site_data_manager", site)
    return user


@pytest.mark.django_db
def test_weekly_digest_sent_once_per_week_to_data_managers(site_a, site_b, alice) -> None:
    data_manager(site_a, "dm.a@example.org")
    alice.email = "alice@example.org"
    alice.save()  # a clinician: not a digest recipient
    make_procedure(site_a, PROC)
    monday = dt.date(2023, 1, 2)
    log = do_run(monday)
    sent = DigestSend.objects.get(site=site_a)
    assert sent.status == "sent" and sent.recipients == ["dm.a@example.org"] and sent.week == "2023-W01"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dm.a@example.org"]
    body = mail.outbox[0].body
    assert "Overdue" in body and "registry IDs only" in body
    failed = DigestSend.objects.get(site=site_b)  # no data manager with an email at site B
    assert failed.status == "failed" and "no active data manager" in failed.error
    assert (log.digests_sent, log.digests_failed) == (1, 1)
    assert AuditEntry.objects.filter(action="followup.digest.sent", site_id=site_a.pk).exists()
    assert AuditEntry.objects.filter(action="followup.digest.failed", site_id=site_b.pk).exists()

    do_run(monday + 3 * DAY)  # later the same week: site A is not sent again; site B is retried
    assert len(mail.outbox) == 1
    assert DigestSend.objects.filter(site=site_a).count() == 1
    assert DigestSend.objects.filter(site=site_b, status="failed").count() == 2
    do_run(monday + 7 * DAY)  # next week
    assert len(mail.outbox) == 2


@pytest.mark.django_db
@override_settings(EMAIL_BACKEND="pdva.core.mail.NotConfiguredBackend")
def test_missing_email_configuration_is_recorded_not_silent(site_a) -> None:
    data_manager(site_a, "dm.a@example.org")
    do_run(dt.date(2023, 1, 2))
    send = DigestSend.objects.get(site=site_a)
    assert send.status == "failed" and "No mail server configured" in send.error


@pytest.mark.django_db
@override_settings(PDVA_FOLLOWUP_DIGEST_TEMPLATE="followup/email/no_such_template.txt")
def test_missing_template_is_recorded_not_silent(site_a) -> None:
    data_manager(site_a, "dm.a@example.org")
    do_run(dt.date(2023, 1, 2))
    send = DigestSend.objects.get(site=site_a)
    assert send.status == "failed" and "TemplateDoesNotExist" in send.error
    assert not mail.outbox


@pytest.mark.django_db
def test_command_runs_and_reports(site_a, capsys) -> None:
    make_procedure(site_a, PROC)
    call_command("followup", "run", "--today", "2023-01-02", "--no-digest")
    out = capsys.readouterr().out
    assert "followup run 2023-01-02 (schedule 2026.1)" in out
    assert FollowUpRun.objects.get().finished_at is not None
