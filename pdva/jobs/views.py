"""'Your jobs': the state of each job a person asked for, live (htmx polling), and its result to download.

Only the requester sees a job; a download also needs the permission the job needed, today (fail closed),
and is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from pdva.audit.models import record
from pdva.jobs import registry, services
from pdva.jobs.models import Job

POLL_SECONDS = 2
LIST_LENGTH = 50


def _row(job: Job) -> dict[str, Any]:
    try:
        kind = registry.get(job.kind)
        label, link = kind.label, kind.result_link(job) if job.state == Job.SUCCEEDED else None
    except KeyError:
        label, link = job.kind, None
    return {"job": job, "label": label, "link": link, "expired": job.result_expired()}


def _own_job(request: HttpRequest, pk: int) -> Job:
    job = services.jobs_for(request.user).filter(pk=pk).first()
    if job is None:
        raise Http404("not found")
    return job


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    jobs = [_row(j) for j in services.jobs_for(request.user)[:LIST_LENGTH]]
    context = {
        "rows": jobs,
        "polling": any(r["job"].active for r in jobs),
        "poll_seconds": POLL_SECONDS,
        "result_hours": settings.PDVA_JOBS_RESULT_HOURS,
    }
    template = "jobs/_table.html" if request.htmx else "jobs/index.html"
    return render(request, template, context)


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    row = _row(_own_job(request, pk))
    context = {**row, "poll_seconds": POLL_SECONDS}
    template = "jobs/_status.html" if request.htmx else "jobs/detail.html"
    return render(request, template, context)


@login_required
@require_GET
def download(request: HttpRequest, pk: int) -> HttpResponse:
    job = services.downloadable(request.user, pk)
    if job is None:
        raise Http404("not found")
    if job.result_expired():
        return render(request, "jobs/gone.html", {"job": job}, status=410)
    try:
        path = services.result_file(job)
        stream = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    except (OSError, ValueError):
        return render(request, "jobs/gone.html", {"job": job}, status=410)
    record(
        "jobs.result.downloaded",
        None,
        object_type="jobs.job",
        object_id=job.pk,
        site_id=job.site_id,
        after={
            "kind": job.kind,
            "file": job.result_name,
            "bytes": job.result_size,
            "sha256": job.result_sha256,
        },
    )
    return FileResponse(
        stream, as_attachment=True, filename=job.result_name, content_type=job.result_content_type or None
    )
