"""Capture's background job (discovered by pdva.jobs): check the completeness of cases loaded in bulk."""

from __future__ import annotations

from pdva.jobs.registry import JobKind, register
from pdva.jobs.runner import JobContext


def _refresh_completeness(ctx: JobContext) -> None:
    from pdva.capture.services.worklists import refresh_completeness

    site_ids = ctx.params.get("site_ids")
    checked = refresh_completeness(site_ids=site_ids, only_unchecked=True)
    ctx.summary.update(checked=checked)


register(
    JobKind(
        "capture.refresh_completeness",
        "Check mandatory items of cases loaded in bulk",
        _refresh_completeness,
        system_label="system:capture",
        max_attempts=3,
    )
)
