"""Sites (NHS trusts), their governance record and the operators who perform pDVA."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from pdva.audit.models import AuditedModel
from pdva.registry.choices import OperatorRole, Region
from pdva.registry.models.base import free_text

ODS_CODE = re.compile(r"^[A-Z0-9]{3,5}$")


class Site(AuditedModel):
    site_path = "pk"  # a site's scope is itself
    ods_code = models.CharField("ODS code", max_length=5, unique=True)
    name = models.CharField(max_length=200)
    region = models.CharField(max_length=40, choices=Region.choices)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["ods_code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    def clean_for_save(self) -> None:
        self.ods_code = self.ods_code.strip().upper()
        if not ODS_CODE.match(self.ods_code):
            raise ValidationError({"ods_code": "ODS code must be 3-5 letters or digits, e.g. RJ1"})


class SiteGovernance(AuditedModel):
    """The site-level arrangements NICE requires before pDVA is offered (IPG773 1.2)."""

    site_path = "site"
    site = models.OneToOneField(Site, on_delete=models.PROTECT, related_name="governance")
    governance_lead_name = models.CharField(max_length=200, blank=True)
    governance_lead_email = models.EmailField(blank=True)
    governance_lead_informed_date = models.DateField(null=True, blank=True)
    local_approval_reference = models.CharField(max_length=100, blank=True)
    local_approval_date = models.DateField(null=True, blank=True)
    registry_participation_date = models.DateField(null=True, blank=True)
    audit_or_research = models.CharField(
        max_length=20,
        choices=[("audit", "Audit"), ("research", "Research"), ("both", "Both")],
        default="audit",
    )
    notes = free_text()

    def __str__(self) -> str:
        return f"Governance for {self.site}"

    @property
    def arrangements_complete(self) -> bool:
        return bool(self.governance_lead_informed_date and self.local_approval_date)


class Operator(AuditedModel):
    """A clinician who performs pDVA at a site, with the training record NICE asks for."""

    site_path = "site"
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="operators")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="operator_records",
    )
    code = models.CharField(max_length=20, help_text="Local operator code used in reports (not a name)")
    display_name = models.CharField(max_length=200)
    professional_registration = models.CharField(max_length=20, blank=True, help_text="GMC number")
    role = models.CharField(max_length=40, choices=OperatorRole.choices)
    training_documented = models.BooleanField(default=False)
    training_date = models.DateField(null=True, blank=True)
    training_description = free_text()
    prior_dva_experience_cases = models.PositiveIntegerField(default=0)
    proctoring_completed_date = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="operator_code_unique_per_site")]
        ordering = ["site", "code"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.code})"

    def clean_for_save(self) -> None:
        if self.training_date and self.training_date > dt.date.today():
            raise ValidationError({"training_date": "training date cannot be in the future"})
