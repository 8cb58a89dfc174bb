"""Follow-up jobs: linkage and case-ascertainment uploads (imports, all-or-nothing), and the scheduled
daily run and weekly digests (what `pdva followup run` does)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils import timezone

from pdva.jobs.registry import JobError, JobKind, JobRefused, register
from pdva.jobs.runner import JobContext

UPLOAD = "upload.csv"
NOTHING_IMPORTED = "Nothing was imported. Fix these rows and load the whole file again."


def _manager_sites(user: Any) -> set[int]:
    from pdva.followup.access import data_manager_site_ids

    return data_manager_site_ids(user)


def _row_errors(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"line": e.line, "message": e.message} for e in errors]


# --- linkage ------------------------------------------------------------------------------------------


def _authorize_linkage(user: Any, params: dict[str, Any]) -> None:
    from pdva.followup.models import LinkageBatch

    if not _manager_sites(user):
        raise JobRefused("Only a site data manager may import linkage files.")
    if params.get("kind") not in dict(LinkageBatch.KIND_CHOICES):
        raise JobError("Choose deaths or episodes.")
    return None


def _import_linkage(ctx: JobContext) -> None:
    from pdva.followup.services.linkage import LinkageInvalid, import_linkage

    try:
        batch = import_linkage(
            ctx.params["kind"],
            ctx.input_text(UPLOAD),
            filename=ctx.params.get("filename", UPLOAD),
            site_ids=sorted(_manager_sites(ctx.user)),
            user=ctx.user,
        )
    except LinkageInvalid as exc:
        raise JobError(NOTHING_IMPORTED, details=_row_errors(exc.errors)) from None
    report = batch.report
    ctx.summary.update(
        batch_id=batch.pk,
        proposed=len(report["proposed"]),
        unmatched=len(report["unmatched"]),
        excluded=len(report["excluded"]),
    )


def _batch_link(job: Any) -> tuple[str, str] | None:
    batch_id = job.result.get("batch_id")
    return (
        ("Open the linkage batch", reverse("followup:linkage_batch", args=[batch_id])) if batch_id else None
    )


register(
    JobKind(
        "followup.import_linkage",
        "Linkage import",
        _import_linkage,
        authorize=_authorize_linkage,
        atomic=True,  # the batch and the job's completion commit together: a retry never imports twice
        result_link=_batch_link,
    )
)


# --- case ascertainment ------------------------------------------------------------------------------


def _authorize_ascertainment(user: Any, params: dict[str, Any]) -> int:
    site_id = params.get("site_id")
    if site_id not in _manager_sites(user):
        raise JobRefused("Only the site's data manager may compare its procedure list.")
    try:
        start, end = dt.date.fromisoformat(params["start"]), dt.date.fromisoformat(params["end"])
    except (KeyError, TypeError, ValueError):
        raise JobError("The period needs a start and an end date.") from None
    if start > end:
        raise JobError("The period ends before it starts.")
    return int(site_id)  # type: ignore[arg-type]


def _import_ascertainment(ctx: JobContext) -> None:
    from pdva.followup.services.ascertainment import AscertainmentInvalid, import_ascertainment
    from pdva.registry.models import Site

    try:
        upload = import_ascertainment(
            Site.objects.get(pk=ctx.params["site_id"]),
            ctx.input_text(UPLOAD),
            filename=ctx.params.get("filename", UPLOAD),
            start=dt.date.fromisoformat(ctx.params["start"]),
            end=dt.date.fromisoformat(ctx.params["end"]),
            user=ctx.user,
        )
    except AscertainmentInvalid as exc:
        raise JobError(NOTHING_IMPORTED, details=_row_errors(exc.errors)) from None
    ctx.summary.update(upload_id=upload.pk, listed=upload.listed, matched=upload.matched)


def _upload_link(job: Any) -> tuple[str, str] | None:
    upload_id = job.result.get("upload_id")
    if not upload_id:
        return None
    return "Open the comparison", reverse("followup:ascertainment_upload", args=[upload_id])


register(
    JobKind(
        "followup.import_ascertainment",
        "Case ascertainment comparison",
        _import_ascertainment,
        authorize=_authorize_ascertainment,
        atomic=True,
        result_link=_upload_link,
    )
)


# --- scheduled ---------------------------------------------------------------------------------------


def _daily_run(ctx: JobContext) -> None:
    from pdva.followup.services.run import run

    log = run(send_digests=False)  # the digests are their own scheduled job
    ctx.summary.update(
        run_date=log.run_date.isoformat(),
        created=log.created,
        changed=log.changed,
        removed=log.removed,
        reminders_sent=log.reminders_sent,
    )


register(
    JobKind(
        "followup.daily_run",
        "Daily follow-up run",
        _daily_run,
        system_label="system:followup",
        max_attempts=4,
    )
)


def _digests(ctx: JobContext) -> None:
    from collections import Counter

    from pdva.followup.services.digest import send_weekly_digests

    # Each attempt is a DigestSend row (shown on Follow-up > Digests); a site whose digest failed is tried
    # again by tomorrow's run, as `pdva followup run` always did.
    outcome = Counter(d.status for d in send_weekly_digests(timezone.localdate()))
    ctx.summary.update(sent=outcome["sent"], failed=outcome["failed"])


register(
    JobKind(
        "followup.digests",
        "Weekly follow-up digests",
        _digests,
        system_label="system:followup",
        max_attempts=3,
    )
)
