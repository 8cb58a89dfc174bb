"""Report jobs: the PDFs and the workbook the report pages used to build inside the request, the
governance-lead email, the quarterly run, and report snapshot refreshes.

Each checks what the page checked (pdva.reports.views) and records what the page recorded.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from pdva.accounts.access import site_ids_for
from pdva.accounts.roles import Cap
from pdva.jobs.registry import JobError, JobKind, JobRefused, Transient, register
from pdva.jobs.runner import JobContext

NOT_FOUND = "This report is not available to you."
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _site_in_scope(
    user: Any, site_id: Any, cap: Cap = Cap.VIEW_SITE_REPORTS, *, site_member: bool = False
) -> int:
    """As pdva.reports.views._site_for: the site if the user has ``cap`` there (with site_member, through a
    site role, not a national one), else refused."""
    from pdva.registry.models import Site

    if not isinstance(site_id, int) or isinstance(site_id, bool):
        raise JobRefused(NOT_FOUND)
    ids = site_ids_for(user, cap)
    if (ids is not None and site_id not in ids) or (site_member and ids is None):
        raise JobRefused(NOT_FOUND)
    if not Site.objects.filter(pk=site_id).exists():
        raise JobRefused(NOT_FOUND)
    return site_id


def _check_period(period: Any) -> None:
    from pdva.reports.services.common import PeriodError, parse_period

    if period:
        try:
            parse_period(str(period))
        except PeriodError as exc:
            raise JobError(str(exc)) from None


# --- governance PDF -----------------------------------------------------------------------------------


def _authorize_site_report(user: Any, params: dict[str, Any]) -> int:
    return _site_in_scope(user, params.get("site_id"))


def _authorize_governance(user: Any, params: dict[str, Any]) -> int:
    site_id = _site_in_scope(user, params.get("site_id"))
    _check_period(params.get("period"))  # a mistyped quarter is answered at once, not by a failed job
    return site_id


def _governance_pdf(ctx: JobContext) -> None:
    from pdva.registry.models import Site
    from pdva.reports.services import common
    from pdva.reports.services.disclosure import suppresses_small_numbers
    from pdva.reports.services.pdf import render_pdf
    from pdva.reports.services.site import site_report

    site = Site.objects.get(pk=ctx.params["site_id"])
    try:
        # Suppression follows the requester's roles when the job runs, as the page did for the request.
        context = site_report(
            site, period=ctx.params.get("period") or None, suppress=suppresses_small_numbers(ctx.user)
        )
    except common.PeriodError as exc:
        raise JobError(str(exc)) from None
    ctx.write_result(
        # No period asked for: the report runs to today, so the cut-off names it.
        f"pdva-governance-{site.ods_code}-{context['period'] or context['cutoff'].isoformat()}.pdf",
        render_pdf("reports/pdf/governance.html", context),
        PDF,
    )
    ctx.record_on_success(
        "reports.governance.downloaded",
        site,
        after={"period": context["period"], "cutoff": context["cutoff"].isoformat()},
    )


register(
    JobKind(
        "reports.governance_pdf",
        "Quarterly governance report (PDF)",
        _governance_pdf,
        authorize=_authorize_governance,
        max_attempts=3,
    )
)


# --- decision aid, appraisal, national PDFs, workbook -----------------------------------------------------


def _decision_aid_pdf(ctx: JobContext) -> None:
    from pdva.registry.models import Site
    from pdva.reports.services.decision_aid import decision_aid
    from pdva.reports.services.pdf import render_pdf

    site = Site.objects.get(pk=ctx.params["site_id"])
    context = decision_aid(site, by_dialysis=bool(ctx.params.get("dialysis")))
    ctx.write_result(
        f"pdva-decision-aid-{site.ods_code}.pdf", render_pdf("reports/pdf/decision_aid.html", context), PDF
    )


register(
    JobKind(
        "reports.decision_aid_pdf",
        "Patient decision aid (PDF)",
        _decision_aid_pdf,
        authorize=_authorize_site_report,
        max_attempts=3,
    )
)


def _operator(params: dict[str, Any]) -> Any:
    from pdva.registry.models import Operator

    operator_id = params.get("operator_id")
    if not isinstance(operator_id, int) or isinstance(operator_id, bool):
        raise JobRefused(NOT_FOUND)
    operator = Operator.objects.alive().filter(pk=operator_id).first()
    if operator is None:
        raise JobRefused(NOT_FOUND)
    return operator


def _authorize_appraisal(user: Any, params: dict[str, Any]) -> int:
    return _site_in_scope(user, _operator(params).site_id, site_member=True)


def _appraisal_pdf(ctx: JobContext) -> None:
    from pdva.reports.services.appraisal import appraisal_report
    from pdva.reports.services.pdf import render_pdf

    operator = _operator(ctx.params)
    context = appraisal_report(operator)
    ctx.write_result(
        f"pdva-appraisal-{operator.code}.pdf", render_pdf("reports/pdf/appraisal.html", context), PDF
    )
    ctx.record_on_success("reports.appraisal.downloaded", operator, after={"operator": operator.code})


register(
    JobKind(
        "reports.appraisal_pdf",
        "Clinician appraisal report (PDF)",
        _appraisal_pdf,
        authorize=_authorize_appraisal,
        max_attempts=3,
    )
)


def _authorize_national(user: Any, params: dict[str, Any]) -> None:
    from pdva.accounts.access import can

    if not can(user, Cap.VIEW_NATIONAL):
        raise JobRefused(NOT_FOUND)
    return None


def _national_pdf(ctx: JobContext) -> None:
    from pdva.reports.services.national import national_report
    from pdva.reports.services.pdf import render_pdf

    context = national_report()
    ctx.write_result("pdva-national-benchmarking.pdf", render_pdf("reports/pdf/national.html", context), PDF)
    ctx.record_on_success(
        "reports.national.downloaded",
        None,
        object_type="reports.national",
        object_id="national",
        after={"cutoff": context["cutoff"].isoformat()},
    )


register(
    JobKind(
        "reports.national_pdf",
        "National benchmarking report (PDF)",
        _national_pdf,
        authorize=_authorize_national,
        max_attempts=3,
    )
)


def _authorize_workbook(user: Any, params: dict[str, Any]) -> int:
    return _site_in_scope(user, params.get("site_id"), Cap.VIEW_CLINICAL, site_member=True)


def _workbook(ctx: JobContext) -> None:
    from pdva.registry.models import Site
    from pdva.reports.services.workbook import build_workbook

    site = Site.objects.get(pk=ctx.params["site_id"])
    ctx.write_result(f"pdva-nice-audit-{site.ods_code}.xlsx", build_workbook(site), XLSX)
    ctx.record_on_success("reports.workbook.exported", site, after={"site": site.ods_code})


register(
    JobKind(
        "reports.workbook",
        "NICE outcomes-audit workbook (Excel)",
        _workbook,
        authorize=_authorize_workbook,
        max_attempts=3,
    )
)


# --- email to the governance lead -----------------------------------------------------------------------


def _authorize_send(user: Any, params: dict[str, Any]) -> int:
    site_id = _site_in_scope(user, params.get("site_id"), Cap.MANAGE_GOVERNANCE, site_member=True)
    _check_period(params.get("period"))
    return site_id


def _dashboard_link(job: Any) -> tuple[str, str] | None:
    if job.site_id is None:
        return None
    return "Open the governance dashboard", reverse("reports:dashboard", args=[job.site_id])


def _governance_send(ctx: JobContext) -> None:
    from pdva.core.mail import TransientMailError
    from pdva.registry.models import Site
    from pdva.reports.services import common
    from pdva.reports.services.send import send_governance_report

    site = Site.objects.get(pk=ctx.params["site_id"])
    try:
        # Every attempt is a ReportSend row and an audit entry; a transient failure is retried by the queue.
        send = send_governance_report(site, ctx.params.get("period") or None, raise_transient=True)
    except common.PeriodError as exc:
        raise JobError(str(exc)) from None
    except TransientMailError as exc:
        raise Transient("the mail server could not take the message for now") from exc
    ctx.summary.update(status=send.status, period=send.period)
    if send.status != send.STATUS_SENT:
        raise JobError(f"The report was not sent: {send.error}")


register(
    JobKind(
        "reports.governance_send",
        "Email the quarterly governance report to the governance lead",
        _governance_send,
        authorize=_authorize_send,
        result_link=_dashboard_link,
    )
)


# --- scheduled: the quarter's reports to every site -----------------------------------------------------


def _quarterly(ctx: JobContext) -> None:
    from pdva.core.mail import TransientMailError
    from pdva.registry.models import Site
    from pdva.reports.models import ReportSend
    from pdva.reports.services.common import parse_period
    from pdva.reports.services.send import send_governance_report

    _, _, period = parse_period(None)
    already = set(
        ReportSend.objects.alive()
        .filter(report="governance", period=period, status=ReportSend.STATUS_SENT)
        .values_list("site_id", flat=True)
    )
    sent, failed, transient = [], [], []
    for site in Site.objects.alive().filter(active=True).order_by("ods_code"):
        if site.pk in already:  # a retry, or a second run, never sends a site's report twice
            continue
        try:
            send = send_governance_report(site, period, raise_transient=True)
        except TransientMailError:
            transient.append(site.ods_code)
            continue
        (sent if send.status == ReportSend.STATUS_SENT else failed).append(f"{site.ods_code}: {send.error}")
    ctx.summary.update(period=period, sent=len(sent), failed=len(failed), already_sent=len(already))
    if transient:
        raise Transient(f"the mail server could not take the reports of {', '.join(transient)} for now")
    if failed:
        raise JobError(
            f"{len(failed)} governance report(s) for {period} could not be sent: " + "; ".join(failed)
        )


register(
    JobKind(
        "reports.quarterly",
        "Quarterly governance reports to every site",
        _quarterly,
        system_label="system:reports",
    )
)


# --- report snapshots (pdva.reports.services.snapshots queues them) --------------------------------------


def _refresh_snapshot(ctx: JobContext) -> None:
    from pdva.reports.services import snapshots  # type: ignore[attr-defined]

    snapshot = snapshots.refresh_snapshot(str(ctx.params["scope_key"]))
    ctx.summary.update(scope=snapshot.scope_key, seconds=round(snapshot.seconds, 1))


register(
    JobKind(
        "reports.refresh_snapshot",
        "Refresh a stored report",
        _refresh_snapshot,
        system_label="system:reports",
        max_attempts=3,
    )
)
