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
