"""Demo users, one per role, for the demonstration system."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from pdva.accounts.models import Membership
from pdva.accounts.roles import Role
from pdva.audit.context import audit_context
from pdva.registry.models import Site

DEMO_PASSWORD = "demo-pdva-2026"  # printed by `pdva demo`; demo users exist only in demo databases


def demo_accounts(site_codes: list[str]) -> list[tuple[str, Role, str | None]]:
    a = site_codes[0]
    b = site_codes[1] if len(site_codes) > 1 else site_codes[0]
    return [
        ("demo-clinician", Role.SITE_CLINICIAN, a),
        ("demo-datamanager", Role.SITE_DATA_MANAGER, a),
        ("demo-governance", Role.SITE_GOVERNANCE_LEAD, a),
        ("demo-clinician-b", Role.SITE_CLINICIAN, b),
        ("demo-auditor", Role.NATIONAL_AUDITOR, None),
        ("demo-researcher", Role.RESEARCHER, None),
        ("demo-admin", Role.SYSTEM_ADMIN, None),
    ]


def create_demo_users() -> list[tuple[str, str, str]]:
    """Create (or keep) the demo users; return (username, role label, site) rows to print."""
    User = get_user_model()
    codes = list(Site.objects.order_by("ods_code").values_list("ods_code", flat=True))
    if not codes:
        raise RuntimeError("seed a cohort before creating demo users (no sites yet)")
    rows = []
    with transaction.atomic(), audit_context(label="system:demo", reason="demo users"):
        for username, role, ods in demo_accounts(codes):
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.is_staff = role == Role.SYSTEM_ADMIN
                user.is_superuser = role == Role.SYSTEM_ADMIN
                user.save()
            site = Site.objects.get(ods_code=ods) if ods else None
            if not Membership.objects.filter(user=user, role=role, site=site).exists():
                Membership(user=user, role=role, site=site).save()
            rows.append((username, role.label, ods or "all sites"))
    return rows
