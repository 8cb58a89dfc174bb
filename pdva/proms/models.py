"""PROM scores, licensed item labels and patient self-completion links."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from pdva.audit.models import AuditedModel
from pdva.registry.choices import PromInstrument, Timepoint
from pdva.registry.crypto import decrypt, encrypt
from pdva.registry.instruments import ITEMS


class PromScore(AuditedModel):
    """One derived score of one administration under one method (value set or rule), with its version."""

    site_path = "administration__patient__site"
    administration = models.ForeignKey(
        "registry.PromAdministration", on_delete=models.PROTECT, related_name="scores"
    )
    measure = models.CharField(max_length=20)  # eq5d_index, eq5d_vas, vq6_total, pain_nrs
    method = models.CharField(max_length=60)  # value set / rule id @ data version
    value = models.DecimalField(max_digits=10, decimal_places=6, null=True, blank=True)
    verified = models.BooleanField(default=True, help_text="False: the scoring rule is not verified")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["administration", "measure", "method"], name="prom_score_unique_method"
            )
        ]
        ordering = ["administration", "measure", "method"]

    def __str__(self) -> str:
        return f"{self.measure} {self.method}: {self.value}"


class InstrumentLabelSet(AuditedModel):
    """Licensed item wording loaded by a site (never shipped in the repository).

    ``labels`` maps item code -> {"text": "...", "levels": {"1": "...", ...}}. A site without its own set
    uses a set with no site (registry-wide); without either, placeholder labels are shown, marked as such.
    """

    site_path = "site"
    site = models.ForeignKey(
        "registry.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    instrument = models.CharField(max_length=20, choices=PromInstrument.choices)
    language = models.CharField(max_length=20, default="en-GB")
    licence_reference = models.CharField(max_length=200, help_text="Licence or permission reference")
    labels = models.JSONField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["instrument", "-created_at"]

    def __str__(self) -> str:
        return f"{self.get_instrument_display()} labels ({self.language})"

    def clean_for_save(self) -> None:
        spec = ITEMS.get(self.instrument)
        if spec is None:
            raise ValidationError({"instrument": "unknown instrument"})
        if not self.licence_reference.strip():
            raise ValidationError({"licence_reference": "say which licence allows this wording"})
        if not isinstance(self.labels, dict):
            raise ValidationError({"labels": "labels must map item codes to wording"})
        unknown = sorted(set(self.labels) - set(spec))
        missing = sorted(set(spec) - set(self.labels))
        problems = []
        if unknown:
            problems.append(f"unknown item codes {unknown}")
        if missing:
            problems.append(f"missing item codes {missing}")
        for code, entry in self.labels.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
                problems.append(f"{code}: needs a 'text'")
        if problems:
            raise ValidationError({"labels": "; ".join(problems)})


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


class PromInvitation(AuditedModel):
    """A signed, single-use, expiring link for a patient to complete exactly these questionnaires."""

    EMAIL, PRINT = "email", "print"
    site_path = "patient__site"
    secret_fields = ("nonce", "email_enc")
    patient = models.ForeignKey("registry.Patient", on_delete=models.PROTECT, related_name="+")
    procedure = models.ForeignKey(
        "registry.Procedure", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    timepoint = models.CharField(max_length=20, choices=Timepoint.choices)
    timepoint_year = models.PositiveSmallIntegerField(null=True, blank=True)
    instruments = models.JSONField(help_text="Instrument codes the link opens, in order")
    channel = models.CharField(max_length=10, choices=[(EMAIL, "Email"), (PRINT, "Printed QR code")])
    nonce = models.CharField(max_length=40, default=new_nonce, editable=False)
    email_enc = models.TextField(blank=True)
    base_url = models.CharField(max_length=200, blank=True, help_text="Address the link was issued under")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    reminders_stopped = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"PROM link {self.pk} for {self.patient}"

    @property
    def email(self) -> str:
        return decrypt(self.email_enc) if self.email_enc else ""

    @email.setter
    def email(self, value: str) -> None:
        self.email_enc = encrypt(value.strip()) if value.strip() else ""

    @property
    def state(self) -> str:
        if self.used_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "open"

    def clean_for_save(self) -> None:
        errors = {}
        if not isinstance(self.instruments, list) or not self.instruments:
            errors["instruments"] = "choose at least one questionnaire"
        else:
            bad = [i for i in self.instruments if i not in ITEMS]
            if bad or len(set(self.instruments)) != len(self.instruments):
                errors["instruments"] = f"unknown or repeated instruments {bad}"
        if self.channel == self.EMAIL and not self.email_enc:
            errors["email"] = "an email address is needed to send the link"
        if self.procedure_id and self.procedure.patient_id != self.patient_id:
            errors["procedure"] = "procedure belongs to another patient"
        if errors:
            raise ValidationError(errors)


class PromMessage(models.Model):
    """Every invitation and reminder email (or why none was sent): shown on the link's page."""

    INVITATION, REMINDER = "invitation", "reminder"
    SENT, FAILED, STOPPED = "sent", "failed", "stopped"
    invitation = models.ForeignKey(PromInvitation, on_delete=models.PROTECT, related_name="messages")
    kind = models.CharField(max_length=12, choices=[(INVITATION, "Invitation"), (REMINDER, "Reminder")])
    status = models.CharField(
        max_length=10, choices=[(SENT, "Sent"), (FAILED, "Failed"), (STOPPED, "Reminders stopped")]
    )
    at = models.DateTimeField()
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.status} {self.at:%Y-%m-%d}"
