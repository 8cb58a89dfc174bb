"""Who belongs to which site in which role."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from pdva.accounts.roles import NATIONAL_ROLES, SITE_ROLES, Role
from pdva.audit.models import AuditedModel, AuditedQuerySet


class MembershipQuerySet(AuditedQuerySet):
    def audited_bulk_create(self, objs: list[Any], *, reason: str = "") -> list[Any]:
        """Role grants are saved one by one even in bulk: each is checked for approval and, where it must
        be, shown to governance (Membership.save); a bulk insert would skip both. Memberships are few."""
        from django.db import transaction

        with transaction.atomic():
            for obj in objs:
                obj.save(reason=reason)
        return list(objs)


class Membership(AuditedModel):
    """A user's role, at one site (site roles) or registry-wide (national roles)."""

    objects = MembershipQuerySet.as_manager()
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

    def save(self, *args: Any, reason: str = "", **kwargs: Any) -> None:
        from django.db import transaction

        from pdva.accounts.services.grants import hold_for_approval, notice_if_needed

        with transaction.atomic():
            hold_for_approval(self)  # PDVA_ROLE_GRANT_APPROVAL: some grants wait for a second person
            super().save(*args, reason=reason, **kwargs)
            if getattr(self, "_pdva_held", False):
                self._pdva_held = False
                notice_if_needed(self, needs_approval=True)

    def clean_for_save(self) -> None:
        if self.role in SITE_ROLES and self.site_id is None:
            raise ValidationError({"site": f"{self.get_role_display()} must belong to a site"})
        if self.role in NATIONAL_ROLES and self.site_id is not None:
            raise ValidationError({"site": f"{self.get_role_display()} is a national role without a site"})


# --- Sign-in hardening: activation codes, recovery codes, role-grant notices -------------------------


def code_digest(raw: str) -> str:
    """Keyed digest of a one-time code: a stolen table cannot be used, or brute-forced offline, without the
    secret key. Codes are normalised first (case, spaces and dashes do not matter when typed by hand)."""
    import hashlib
    import hmac

    normal = "".join(ch for ch in raw.upper() if ch.isalnum())
    return hmac.new(settings.SECRET_KEY.encode(), normal.encode(), hashlib.sha256).hexdigest()


class ActivationCode(AuditedModel):
    """A one-time code (or link) that lets its user set up an authenticator the first time. Only a keyed
    digest is kept; the code is shown once to whoever issued it (or mailed to the user)."""

    site_path = "user"  # belongs to a person, not a site (see audit_site_id)
    secret_fields = ("code_hash",)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="activation_codes"
    )
    code_hash = models.CharField(max_length=64, unique=True)
    issued_by_label = models.CharField(max_length=150)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def audit_site_id(self) -> int | None:
        return None

    def __str__(self) -> str:
        return f"activation code for {self.user} (expires {self.expires_at:%Y-%m-%d %H:%M} UTC)"


class RecoveryCodeSet(AuditedModel):
    """The ten single-use recovery codes of one user, issued together (a new set voids the old one)."""

    site_path = "user"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_sets")
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def audit_site_id(self) -> int | None:
        return None

    def __str__(self) -> str:
        return f"recovery codes of {self.user} ({self.created_at:%Y-%m-%d})"


class RecoveryCode(AuditedModel):
    site_path = "code_set__user"
    secret_fields = ("code_hash",)
    code_set = models.ForeignKey(RecoveryCodeSet, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    def audit_site_id(self) -> int | None:
        return None

    def __str__(self) -> str:
        return f"recovery code {self.pk} ({'used' if self.used_at else 'unused'})"


class RoleGrantNotice(AuditedModel):
    """A role someone gave themself, or a clinical role an administrator granted: shown to the site's
    governance lead (registry-wide roles: every governance lead) until one of them acknowledges it."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="grant_notices")
    granted_to = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    granted_by_id = models.BigIntegerField(null=True, blank=True)
    granted_by_label = models.CharField(max_length=150)
    role = models.CharField(max_length=30, choices=Role.choices)
    site = models.ForeignKey(
        "registry.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    why = models.CharField(max_length=40)  # "self-granted" or "clinical role, by an administrator"
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # PDVA_ROLE_GRANT_APPROVAL: the membership stays inactive until a lead (not the grantee, not the granter)
    # approves it; acknowledging the notice is then the decision.
    needs_approval = models.BooleanField(default=False)
    decision = models.CharField(
        max_length=10, blank=True, choices=[("approved", "Approved"), ("refused", "Refused")]
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.granted_by_label} gave {self.role} to user {self.granted_to_id} ({self.why})"
