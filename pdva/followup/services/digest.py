"""The weekly digest of due, overdue and missed follow-up, one email per site to its data managers.

Sent by the first run of each ISO week (run daily from cron). Every attempt is a DigestSend row and an audit
entry; a missing mail configuration, template or recipient is a recorded failure, retried on the next run.
The email holds registry IDs only, never identifiers.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from pdva.accounts.roles import Role
from pdva.audit.models import record
from pdva.core.mail import EmailNotConfigured, email_configured
from pdva.followup.models import DigestSend, FollowUpRun, FollowUpStatus
from pdva.followup.services.items import compliance_12m
from pdva.registry.models import Site


def digest_template() -> str:
    return str(getattr(settings, "PDVA_FOLLOWUP_DIGEST_TEMPLATE", "followup/email/digest.txt"))


def iso_week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def recipients(site: Site) -> list[str]:
    users = get_user_model().objects.filter(
        is_active=True,
        memberships__site=site,
        memberships__role=Role.SITE_DATA_MANAGER,
        memberships__active=True,
        memberships__deleted_at__isnull=True,
    )
    return sorted({u.email for u in users if u.email})


def digest_context(site: Site, today: dt.date) -> dict:
    rows = (
        FollowUpStatus.objects.filter(site=site, status__in=["due", "overdue", "missed"])
        .select_related("procedure__patient")
        .order_by("due_date")
    )
    week_ago = today - dt.timedelta(days=7)
    lists: dict[str, list] = {"due": [], "overdue": [], "missed": []}
    for row in rows:
        lists[row.status].append(row)
    counts = {k: len(v) for k, v in lists.items()}
    counts["newly_overdue"] = sum(1 for r in lists["overdue"] if r.status_since > week_ago)
    counts["newly_missed"] = sum(1 for r in lists["missed"] if r.status_since > week_ago)
    site_compliance = compliance_12m([site.pk], today).sites[0]
    return {
        "site": site,
        "today": today,
        "counts": counts,
        "due": lists["due"][:50],
        "overdue": lists["overdue"][:50],
        "newly_missed": [r for r in lists["missed"] if r.status_since > week_ago][:50],
        "compliance": site_compliance,
    }


def send_site_digest(site: Site, today: dt.date, *, run: FollowUpRun | None = None, now=None) -> DigestSend:  # type: ignore[no-untyped-def]
    now = now or timezone.now()
    to = recipients(site)
    subject = f"pDVA follow-up digest {iso_week(today)}: {site.name}"
    error, counts = "", {}
    try:
        if not to:
            raise RuntimeError("no active data manager with an email address at this site")
        if not email_configured():
            raise EmailNotConfigured("No mail server configured: set PDVA_EMAIL_HOST (or PDVA_EMAIL_BACKEND)")
        context = digest_context(site, today)
        counts = context["counts"]
        body = render_to_string(digest_template(), context)
        EmailMessage(subject=subject, body=body, to=to).send(fail_silently=False)
    except Exception as exc:  # every failure is recorded and shown on the digest page
        error = f"{type(exc).__name__}: {exc}"
    status = DigestSend.FAILED if error else DigestSend.SENT
    send = DigestSend.objects.create(
        site=site,
        week=iso_week(today),
        attempted_at=now,
        status=status,
        recipients=to,
        subject=subject,
        counts=counts,
        error=error,
        run=run,
    )
    record(
        f"followup.digest.{status}",
        None,
        object_type="followup.digestsend",
        object_id=send.pk,
        site_id=site.pk,
        after={"week": send.week, "recipients": len(to), "counts": counts, "error": error},
        reason="weekly follow-up digest",
    )
    return send


def send_weekly_digests(today: dt.date, *, run: FollowUpRun | None = None, now=None) -> list[DigestSend]:  # type: ignore[no-untyped-def]
    """Send this ISO week's digest to every active site that has not had it yet."""
    week = iso_week(today)
    done = set(DigestSend.objects.filter(week=week, status=DigestSend.SENT).values_list("site_id", flat=True))
    return [
        send_site_digest(site, today, run=run, now=now)
        for site in Site.objects.filter(active=True).order_by("ods_code")
        if site.pk not in done
    ]
