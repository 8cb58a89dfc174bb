"""Exports started from the exports page: the same run_export (scope, checks, audit entry), as a job."""

from __future__ import annotations

import mimetypes
from typing import Any

from pdva.accounts.access import can
from pdva.jobs.registry import JobError, JobKind, JobRefused, register
from pdva.jobs.runner import JobContext


def _options(params: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if params.get("kind") == "research":
        options["fmt"] = params.get("fmt", "csv")
    if params.get("audit"):
        options["audit"] = True
    return options


def _authorize(user: Any, params: dict[str, Any]) -> None:
    from pdva.exports.services import AUDIT_RECORDS_CAP, allowed_kinds

    kind = params.get("kind")
    if kind not in allowed_kinds(user):
        raise JobRefused("Your role does not allow this export.")
    if kind == "research" and params.get("fmt", "csv") not in ("csv", "parquet"):
        raise JobError("Choose CSV or Parquet.")
    if params.get("audit") and not (kind == "odm" and can(user, AUDIT_RECORDS_CAP)):
        raise JobRefused("Audit records are only in ODM exports, for roles that may view clinical records.")
    return None


def _export(ctx: JobContext) -> None:
    from pdva.exports.services import SUFFIX, ExportRefused, run_export

    kind = ctx.params["kind"]
    name = f"pdva-{kind}{SUFFIX[kind]}"
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    out = ctx.result_file(name, content_type)
    try:
        result = run_export(kind, ctx.user, out, **_options(ctx.params))
    except ExportRefused as exc:
        raise JobRefused(str(exc)) from None
    out.chmod(0o600)
    ctx.summary.update(rows=result.rows, sha256=result.sha256)


register(
    JobKind(
        "exports.export",
        "Export",
        _export,
        authorize=_authorize,
        max_attempts=3,
    )
)
