"""Following a page that queued a job: to the job's page, and its result file."""

from __future__ import annotations

from typing import Any

from pdva.jobs.models import Job


def job_of(response: Any) -> Job:
    """The job a page queued (it redirects to /jobs/<id>/)."""
    assert response.status_code == 302, response.status_code
    location = response["Location"]
    assert location.startswith("/jobs/"), location
    return Job.objects.get(pk=int(location.strip("/").split("/")[1]))


def download(client: Any, response: Any) -> bytes:
    """The result file of the job the page queued (the job has run: the tests run jobs inline)."""
    job = job_of(response)
    assert job.state == Job.SUCCEEDED, (job.state, job.error)
    got = client.get(f"/jobs/{job.pk}/download/")
    assert got.status_code == 200, got.status_code
    return b"".join(got.streaming_content)


def result_link(client: Any, response: Any) -> str:
    """The address the job's page links to (e.g. the linkage batch it created), checked to be on the page."""
    from pdva.jobs import registry

    job = job_of(response)
    assert job.state == Job.SUCCEEDED, (job.state, job.error)
    link = registry.get(job.kind).result_link(job)
    assert link is not None
    assert link[1] in client.get(f"/jobs/{job.pk}/").content.decode()
    return link[1]
