"""Follow-up engine records: schedule adoption, status snapshots, runs, digests, linkage and ascertainment."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pdva.audit.models import AuditedModel
from pdva.followup.lib.schedule import Status, available_versions


class NationalRecord(AuditedModel):
    """An audited record that belongs to no site (registry-wide governance)."""

    site_path = "pk"

    class Meta:
        abstract = True

    def audit_site_id(self) -> int | None:
        return None


class ScheduleAdoption(NationalRecord):
    """The follow-up schedule version in force from ``created_at`` (the latest adoption wins).

    Adopting a version re-computes every status from the index procedure dates; visits are untouched.
    """

    version = models.CharField(max_length=20)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Schedule {self.version}"

    def clean_for_save(self) -> None:
        from django.core.exceptions import ValidationError

        if self.version not in available_versions():
            raise ValidationError({"version": f"unknown schedule version; available: {available_versions()}"})


STATUS_CHOICES = [(s.value, s.label) for s in Status]


class FollowUpStatus(models.Model):
    """The last computed status of one time point of one index procedure.

    Derived data, re-computable at any time from the registry and the schedule (``pdva followup run``);
    kept so the digest can say what changed and so runs are visibly idempotent. Not clinical data.
    """

    procedure = models.ForeignKey("registry.Procedure", on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey("registry.Site", on_delete=models.CASCADE, related_name="+")
    timepoint = models.CharField(max_length=20)
    year = models.PositiveSmallIntegerField(default=0, help_text="Annual time points: year; else 0")
    schedule_version = models.CharField(max_length=20)
    status = models.CharField(max_length=30, choices=STATUS_CHOICES)
    window_start = models.DateField()
    due_date = models.DateField()
    window_end = models.DateField()
    visit_date = models.DateField(null=True, blank=True)
    status_since = models.DateField(help_text="Run date on which the status last changed")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["procedure", "timepoint", "year"], name="followup_status_unique")
        ]
        indexes = [
            models.Index(fields=["site", "status"]),
            # The worklists: a site's time points in due-date order, a page at a time.
            models.Index(fields=["site", "due_date", "id"], name="followup_status_site_due"),
        ]

    def __str__(self) -> str:
        return f"{self.procedure_id} {self.timepoint} {self.year or ''}: {self.status}"


class FollowUpRun(models.Model):
    """One run of ``pdva followup run`` (operational log, shown on the digest page)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    run_date = models.DateField()
    schedule_version = models.CharField(max_length=20)
    created = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    digests_sent = models.PositiveIntegerField(default=0)
    digests_failed = models.PositiveIntegerField(default=0)
    reminders_sent = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Follow-up run {self.run_date}"


class DigestSend(models.Model):
    """Every attempt to send a site's weekly digest: sent, or failed with the reason shown to staff."""

    SENT, FAILED = "sent", "failed"
    site = models.ForeignKey("registry.Site", on_delete=models.PROTECT, related_name="+")
    week = models.CharField(max_length=10, help_text="ISO week, e.g. 2026-W48")
    attempted_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=[(SENT, "Sent"), (FAILED, "Failed")])
    recipients = models.JSONField(default=list)
    subject = models.CharField(max_length=200, blank=True)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    run = models.ForeignKey(
        FollowUpRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="digests"
    )

    class Meta:
        ordering = ["-attempted_at", "-pk"]

    def __str__(self) -> str:
        return f"Digest {self.week} site {self.site_id}: {self.status}"


class LinkageBatch(NationalRecord):
    """One uploaded linkage file (deaths or hospital episodes) and its validation report."""

    DEATHS, EPISODES = "deaths", "episodes"
    KIND_CHOICES = [(DEATHS, "Death registrations"), (EPISODES, "Hospital episodes (OPCS-4)")]
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    filename = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    site_scope = models.JSONField(
        null=True, blank=True, help_text="Site ids the upload was matched against (null = every site)"
    )
    rows = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, help_text="Matched, unmatched, excluded and duplicate rows")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "linkage batches"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.filename}"


class LinkageProposal(AuditedModel):
    """A new event proposed by linkage, for a data manager to accept (creating the record) or reject."""

    PROPOSED, ACCEPTED, REJECTED = "proposed", "accepted", "rejected"
    DEATH, AMPUTATION, REINTERVENTION = "death", "amputation", "reintervention"
    site_path = "patient__site"
    batch = models.ForeignKey(LinkageBatch, on_delete=models.PROTECT, related_name="proposals")
    line = models.PositiveIntegerField()
    patient = models.ForeignKey("registry.Patient", on_delete=models.PROTECT, related_name="+")
    procedure = models.ForeignKey(
        "registry.Procedure", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(
        max_length=20,
        choices=[(DEATH, "Death"), (AMPUTATION, "Amputation"), (REINTERVENTION, "Reintervention")],
    )
    event_date = models.DateField()
    data = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10,
        choices=[(PROPOSED, "Proposed"), (ACCEPTED, "Accepted"), (REJECTED, "Rejected")],
        default=PROPOSED,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    created_object = models.CharField(max_length=100, blank=True, help_text="label:pk of the record created")

    class Meta:
        ordering = ["batch", "line"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.patient} on {self.event_date}"


class AscertainmentUpload(AuditedModel):
    """A site's own list of pDVA procedures (theatre system / hospital episodes) compared with the registry."""

    site_path = "site"
    site = models.ForeignKey("registry.Site", on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(max_length=200)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    listed = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    @property
    def rate(self) -> float | None:
        return self.matched / self.listed if self.listed else None


class AscertainmentRow(AuditedModel):
    """One procedure on a site's list, and whether the registry has it."""

    site_path = "upload__site"
    secret_fields = ("nhs_number_enc",)
    upload = models.ForeignKey(AscertainmentUpload, on_delete=models.PROTECT, related_name="rows")
    line = models.PositiveIntegerField()
    nhs_number_enc = models.TextField()
    procedure_date = models.DateField()
    limb = models.CharField(max_length=5)
    opcs_code = models.CharField(max_length=10, blank=True)
    matched_procedure = models.ForeignKey(
        "registry.Procedure", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["upload", "line"]

    @property
    def nhs_number(self) -> str:
        from pdva.registry.crypto import decrypt

        return decrypt(self.nhs_number_enc)
