"""The record of one background job: what was asked, by whom, for which site, and what became of it.

A Job is operational data, not clinical data (the work it does is audited by the services it calls), so it
is a plain model. Its ``params`` hold ids and options only, never identifiers: an uploaded file is kept
beside the job as an input file (owner-only permissions) and removed when the job is done.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone


class Job(models.Model):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STATES = [(QUEUED, "Queued"), (RUNNING, "Running"), (SUCCEEDED, "Done"), (FAILED, "Failed")]
    FINAL_STATES = (SUCCEEDED, FAILED)

    kind = models.CharField(max_length=64, db_index=True)
    params = models.JSONField(default=dict, blank=True, help_text="ids and options only, never identifiers")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        help_text="empty for scheduled (system) jobs",
    )
    site = models.ForeignKey(
        "registry.Site",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        help_text="the site the job concerns; empty for national or multi-site work",
    )
    state = models.CharField(max_length=10, choices=STATES, default=QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    run_after = models.DateTimeField(null=True, blank=True, help_text="not before (retry backoff)")
    error = models.TextField(blank=True, help_text="shown to the requester: no traceback, no identifiers")
    result = models.JSONField(default=dict, blank=True, help_text="summary shown on the job page")
    result_name = models.CharField(max_length=200, blank=True)
    result_path = models.CharField(max_length=300, blank=True, help_text="relative to PDVA_JOBS_DIR")
    result_size = models.BigIntegerField(null=True, blank=True)
    result_content_type = models.CharField(max_length=100, blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    runner = models.CharField(max_length=120, blank=True, help_text="host:pid of the process running it")
    queue_job_id = models.BigIntegerField(
        null=True, blank=True, help_text="procrastinate job id (PostgreSQL)"
    )
    dedupe_key = models.CharField(
        max_length=120, null=True, blank=True, unique=True, help_text="periodic jobs: kind@timestamp"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="job_requester_recent"),
            models.Index(fields=["state", "run_after"], name="job_state_due"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} ({self.state})"

    @property
    def active(self) -> bool:
        return self.state in (self.QUEUED, self.RUNNING)

    @property
    def has_result_file(self) -> bool:
        return self.state == self.SUCCEEDED and bool(self.result_path)

    def result_expires_at(self) -> dt.datetime | None:
        if not self.has_result_file or self.finished_at is None:
            return None
        return self.finished_at + dt.timedelta(hours=settings.PDVA_JOBS_RESULT_HOURS)

    def result_expired(self, now: dt.datetime | None = None) -> bool:
        expires = self.result_expires_at()
        return expires is not None and (now or timezone.now()) >= expires
