"""Email the quarterly governance report to the site's governance lead; every attempt is recorded."""

from __future__ import annotations

import datetime as dt
import hashlib

from django.core.mail import EmailMessage
from django.utils import timezone

import pdva
from pdva.audit.context import audit_context, peek_actor
from pdva.audit.models import record
from pdva.core.mail import EmailNotConfigured, TransientMailError, email_configured, is_transient
from pdva.registry.models import Site
from pdva.reports.models import ReportSend
from pdva.reports.services.pdf import render_pdf
from pdva.reports.services.site import site_report


def governance_pdf(site: Site, period: str | None, cutoff: dt.date | None = None) -> tuple[bytes, dict]:
    context = site_report(site, period=period, cutoff=cutoff)
    return render_pdf("reports/pdf/governance.html", context), context


def send_governance_report(
    site: Site, period: str | None = None, *, cutoff: dt.date | None = None, raise_transient: bool = False
) -> ReportSend:
    """Render and send; on any failure (no recipient, no mail server, SMTP error) record it and return.

    ``raise_transient``: after recording a failure that may pass (server unreachable, 4xx), raise
    TransientMailError so a background job can try again later.
    """
    gov = getattr(site, "governance", None)
    recipient = (gov.governance_lead_email if gov else "") or ""
    pdf, context = governance_pdf(site, period, cutoff)
    error = ""
    transient: Exception | None = None
    if not recipient:
        error = "The site has no governance lead email address (SiteGovernance.governance_lead_email)."
    elif not email_configured():
        error = "Email is not configured on this server (set PDVA_EMAIL_HOST or PDVA_EMAIL_BACKEND)."
    else:
        message = EmailMessage(
            subject=f"pDVA quarterly governance report {context['period']}: {site.name}",
            body=(
                f"Attached is the pDVA registry governance report for {site.name} ({site.ods_code}), "
                f"period {context['period']}, data cut-off {context['cutoff']:%d %B %Y}.\n\n"
                "It contains aggregate outcomes only. Please table it at the next clinical governance meeting."
            ),
            to=[recipient],
        )
        message.attach(f"pdva-governance-{site.ods_code}-{context['period']}.pdf", pdf, "application/pdf")
        try:
            message.send(fail_silently=False)
        except EmailNotConfigured as exc:
            error = str(exc)
        except Exception as exc:  # SMTP and network errors: recorded and shown, never lost
            error = f"{type(exc).__name__}: {exc}"
            transient = exc if is_transient(exc) else None
    send = ReportSend(
        site=site,
        report="governance",
        period=context["period"] or "",
        data_cutoff=context["cutoff"],
        recipient=recipient,
        status=ReportSend.STATUS_FAILED if error else ReportSend.STATUS_SENT,
        error=error,
        attempted_at=timezone.now(),
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
        software_version=pdva.__version__,
    )
    if peek_actor() is None:
        with audit_context(label="system:reports", reason="scheduled governance report"):
            send.save()
            _record(send)
    else:
        send.save()
        _record(send)
    if raise_transient and transient is not None:
        raise TransientMailError(error) from transient
    return send


def _record(send: ReportSend) -> None:
    verb = "sent" if send.status == ReportSend.STATUS_SENT else "failed"
    record(
        f"reports.governance.{verb}",
        send,
        after={
            "period": send.period,
            "recipient": send.recipient,
            "error": send.error,
            "pdf_sha256": send.pdf_sha256,
        },
    )
