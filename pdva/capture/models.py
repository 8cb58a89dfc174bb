"""Capture's own records: data queries raised on a field, and the sign-off / unlock trail of a case."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pdva.audit.models import AuditedModel
from pdva.registry.models import Patient, Procedure
from pdva.registry.models.base import SHORT_TEXT_MAX_LENGTH, free_text


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class DataQuery(AuditedModel):
    """A question a data manager or auditor asks about one field of one record; the site answers it."""

    site_path = "patient__site"
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="data_queries")
    procedure = models.ForeignKey(
        Procedure, null=True, blank=True, on_delete=models.PROTECT, related_name="data_queries"
    )
    record_kind = models.CharField(max_length=30, help_text="capture record kind, e.g. baseline")
    record_uuid = models.UUIDField()
    field_name = models.CharField(max_length=60, blank=True)
    field_label = models.CharField(max_length=200, blank=True)
    question = free_text(max_length=SHORT_TEXT_MAX_LENGTH, blank=False)
    status = models.CharField(max_length=10, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField()
    response = free_text(max_length=SHORT_TEXT_MAX_LENGTH)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_note = free_text(max_length=SHORT_TEXT_MAX_LENGTH)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = "data query"
        verbose_name_plural = "data queries"

    def __str__(self) -> str:
        return f"Query on {self.record_kind} {self.field_label or ''} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status != QueryStatus.CLOSED


class SignOffAction(models.TextChoices):
    SIGNED = "signed", "Signed and locked"
    UNLOCKED = "unlocked", "Unlocked (signature voided)"


class CaseSignOff(AuditedModel):
    """Each signature and unlock of a case, kept as its own row so the trail is readable on the case page."""

    site_path = "procedure__patient__site"
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="signoffs")
    action = models.CharField(max_length=10, choices=SignOffAction.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    reauthenticated_with = models.CharField(
        max_length=10, choices=[("password", "Password"), ("totp", "Authenticator code")]
    )
    reason = free_text(max_length=SHORT_TEXT_MAX_LENGTH)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = "case sign-off"

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.procedure_id} at {self.at:%Y-%m-%d %H:%M}"


class CaseCompleteness(models.Model):
    """Which mandatory items of a case are missing: derived from the case's records whenever one is saved
    (pdva.capture.signals), so the worklist filters, counts and pages cases in SQL instead of checking
    every case in Python per request. Not clinical data: re-computable at any time
    (pdva.capture.services.worklists.refresh_completeness, ``pdva completeness``)."""

    procedure = models.OneToOneField(Procedure, on_delete=models.CASCADE, primary_key=True, related_name="+")
    site = models.ForeignKey("registry.Site", on_delete=models.CASCADE, related_name="+")
    procedure_date = models.DateField(help_text="The case's date, copied so the list sorts on this table")
    n_missing = models.PositiveIntegerField(help_text="Missing items, counting an absent record as one")
    missing = models.JSONField(default=list, help_text="[[record title, [[field, label], ...]], ...]")
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            # The worklist: a site's incomplete cases, oldest first (rows exist only for live cases).
            models.Index(
                fields=["site", "procedure_date", "procedure"],
                condition=models.Q(n_missing__gt=0),
                name="capture_completeness_open",
            ),
            models.Index(fields=["site"], name="capture_completeness_site"),
        ]

    def __str__(self) -> str:
        return f"case {self.procedure_id}: {self.n_missing} missing"
