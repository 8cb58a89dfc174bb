"""Who belongs to which site in which role."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from pdva.accounts.roles import NATIONAL_ROLES, SITE_ROLES, Role
from pdva.audit.models import AuditedModel


class Membership(AuditedModel):
    """A user's role, at one site (site roles) or registry-wide (national roles)."""

    site_path = "site"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships")
    site = models.ForeignKey(
        "registry.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=30, choices=Role.choices)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "site", "role"], name="membership_unique")]

    def __str__(self) -> str:
        where = self.site.ods_code if self.site_id else "national"
        return f"{self.user} - {self.get_role_display()} ({where})"

    def clean_for_save(self) -> None:
        if self.role in SITE_ROLES and self.site_id is None:
            raise ValidationError({"site": f"{self.get_role_display()} must belong to a site"})
        if self.role in NATIONAL_ROLES and self.site_id is not None:
            raise ValidationError({"site": f"{self.get_role_display()} is a national role without a site"})
