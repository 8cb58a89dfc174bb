"""Records of scheduled governance-report sends (success or failure), kept for the governance audit trail."""

from __future__ import annotations

from django.db import models

from pdva.audit.models import AuditedModel
from pdva.registry.models import Site


class ReportSend(AuditedModel):
    """One attempt to email a report to a site's governance lead."""

    STATUS_SENT = "sent"
    STATUS_FAILED = "failed"

    site_path = "site"
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="report_sends")
    report = models.CharField(max_length=30, default="governance")
    period = models.CharField(max_length=10, blank=True)
    data_cutoff = models.DateField()
    recipient = models.EmailField(blank=True)
    status = models.CharField(max_length=10, choices=[(STATUS_SENT, "Sent"), (STATUS_FAILED, "Failed")])
    error = models.TextField(blank=True)
    attempted_at = models.DateTimeField()
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    software_version = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.report} report for {self.site.ods_code} {self.period}: {self.status}"


class ReportSnapshot(models.Model):
    """A report computed once and stored: pages render the latest one per scope instead of recomputing.

    Derived data, not clinical data (re-computable at any time), so not audited. ``data_version`` is the
    last audit sequence number of the data the scope depends on when the computation started: when the
    registry's number has moved past it, the snapshot is older than the data.
    """

    scope_key = models.CharField(max_length=60, help_text="e.g. 'national', 'site:12', 'site:12:suppressed'")
    as_of = models.DateTimeField(help_text="When the computation started (UTC)")
    data_version = models.BigIntegerField()
    cutoff = models.DateField(help_text="Data cut-off of the analysis")
    payload = models.TextField(help_text="The report context as JSON (pdva.reports.lib.snapshot_codec)")
    fragments = models.JSONField(default=dict, help_text="The page's computed parts, rendered once, by name")
    seconds = models.FloatField(default=0, help_text="How long the computation took")
    software_version = models.CharField(max_length=20, blank=True)

    class Meta:
        indexes = [models.Index(fields=["scope_key", "-as_of"], name="report_snapshot_latest")]

    def __str__(self) -> str:
        return f"{self.scope_key} as of {self.as_of:%Y-%m-%d %H:%M}"


class SnapshotRequest(models.Model):
    """A refresh asked for and not yet done: one row per scope, so a busy page queues one job, not many."""

    scope_key = models.CharField(max_length=60, unique=True)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the last attempt failed (kept until one succeeds)")

    def __str__(self) -> str:
        return f"refresh {self.scope_key} requested {self.requested_at:%Y-%m-%d %H:%M}"
