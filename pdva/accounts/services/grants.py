"""Role grants governance must see: a role someone gave themself, and any grant of a clinical role by a
system administrator. Each becomes a notice on the governance leads' home page (the site's leads; for a
registry-wide role every lead) and an email to those with an address, once the grant has committed."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from pdva.accounts.models import Membership, RoleGrantNotice
from pdva.accounts.roles import Cap, Role, role_can
from pdva.audit.context import peek_actor
from pdva.audit.models import record

log = logging.getLogger(__name__)

SELF_GRANTED = "self-granted"
ADMIN_GRANTED = "clinical role, by an administrator"  # fits why (40)


def is_clinical_role(role: str) -> bool:
    return role_can(role, Cap.VIEW_CLINICAL) or role_can(role, Cap.VIEW_IDENTIFIERS)


def _is_administrator(user_id: int | None) -> bool:
    if user_id is None:
        return False
    user = get_user_model()._base_manager.filter(pk=user_id).values("is_superuser", "is_staff").first()
    if user and (user["is_superuser"] or user["is_staff"]):
        return True
    return Membership.objects.filter(
        user_id=user_id, role=Role.SYSTEM_ADMIN, active=True, deleted_at__isnull=True
    ).exists()


def why_notice(membership: Membership, actor_user_id: int | None) -> str | None:
    """Why this grant (made by ``actor_user_id``) must be shown to governance, or None."""
    if actor_user_id is not None and actor_user_id == membership.user_id:
        return SELF_GRANTED
    if is_clinical_role(membership.role) and _is_administrator(actor_user_id):
        return ADMIN_GRANTED
    return None


def governance_leads_for(site_id: int | None) -> Any:
    leads = Membership.objects.filter(role=Role.SITE_GOVERNANCE_LEAD, active=True, deleted_at__isnull=True)
    if site_id is not None:
        leads = leads.filter(site_id=site_id)
    return get_user_model().objects.filter(pk__in=leads.values("user_id"), is_active=True).distinct()


def is_grant(old: dict[str, Any] | None, membership: Membership) -> bool:
    """Does this save give a role (new, reactivated, or moved to another role or site)?"""
    if not (membership.active and membership.deleted_at is None):
        return False
    return not (
        old is not None
        and old["active"]
        and old["deleted_at"] is None
        and old["role"] == membership.role
        and old["site_id"] == membership.site_id
    )


def _old_state(membership: Membership) -> dict[str, Any] | None:
    if membership.pk is None:
        return None
    return (
        Membership._base_manager.filter(pk=membership.pk)
        .values("role", "site_id", "active", "deleted_at")
        .first()
    )


def hold_for_approval(membership: Membership) -> None:
    """With PDVA_ROLE_GRANT_APPROVAL, a grant governance must see is saved inactive, pending a second person."""
    from django.conf import settings

    if not settings.PDVA_ROLE_GRANT_APPROVAL or getattr(membership, "_pdva_approving", False):
        return
    actor = peek_actor()
    if actor is None or not is_grant(_old_state(membership), membership):
        return
    if why_notice(membership, actor.user_id) is not None:
        membership.active = False
        membership._pdva_held = True  # type: ignore[attr-defined]


def notice_if_needed(membership: Membership, *, needs_approval: bool = False) -> RoleGrantNotice | None:
    actor = peek_actor()
    why = why_notice(membership, actor.user_id if actor else None)
    if why is None or actor is None:
        return None
    notice = RoleGrantNotice.objects.create(
        needs_approval=needs_approval,
        membership=membership,
        granted_to_id=membership.user_id,
        granted_by_id=actor.user_id,
        granted_by_label=actor.label,
        role=membership.role,
        site_id=membership.site_id,
        why=why,
        created_at=timezone.now(),
    )
    record(
        "accounts.role_grant.notice",
        object_type="accounts.membership",
        object_id=membership.pk,
        site_id=membership.site_id,
        after={
            "user_id": membership.user_id,
            "role": membership.role,
            "why": why,
            "needs_approval": needs_approval,
        },
    )
    transaction.on_commit(lambda: _mail(notice.pk))
    return notice


def _mail(notice_id: int) -> None:
    from django.core.mail import EmailMessage

    notice = RoleGrantNotice.objects.filter(pk=notice_id).select_related("granted_to", "site").first()
    if notice is None:
        return
    to = [u.email for u in governance_leads_for(notice.site_id) if u.email]
    if not to:
        return
    where = notice.site.ods_code if notice.site else "all sites (registry-wide role)"
    body = (
        f"{notice.granted_by_label} gave {notice.granted_to.get_username()} the role "
        f"{Role(notice.role).label} at {where} ({notice.why}).\n\n"
        "Please review it on your pDVA Registry home page. If it was not expected, tell the registry's "
        "administrators and your information governance team.\n"
    )
    try:
        EmailMessage(subject="pDVA Registry: role granted, for your review", body=body, to=to).send(
            fail_silently=False
        )
    except Exception as exc:  # the notice on the home page stands; the failure is logged, never silent
        log.warning("role grant notice %s: mail not sent (%s)", notice_id, type(exc).__name__)


def open_notices_for(user: Any) -> Any:
    """Unacknowledged notices a governance lead should see (none for anyone else)."""
    sites = list(
        Membership.objects.filter(
            user=user, role=Role.SITE_GOVERNANCE_LEAD, active=True, deleted_at__isnull=True
        ).values_list("site_id", flat=True)
    )
    if not sites:
        return RoleGrantNotice.objects.none()
    from django.db.models import Q

    open_ = RoleGrantNotice.objects.filter(acknowledged_at__isnull=True)
    # A held grant no lead of its own site can approve (its site's only lead gave themself the role) goes to
    # every governance lead, so it can be decided by a second person instead of waiting for ever.
    elsewhere = open_.filter(needs_approval=True, site__isnull=False).exclude(site_id__in=sites)
    stuck = [n.pk for n in elsewhere if not has_second_person(n)]
    return open_.filter(Q(site_id__in=sites) | Q(site__isnull=True) | Q(pk__in=stuck)).select_related(
        "granted_to", "site"
    )


def has_second_person(notice: RoleGrantNotice) -> bool:
    """Is there a governance lead of the notice's site who is neither the grant's holder nor its granter?"""
    others = governance_leads_for(notice.site_id).exclude(pk__in=[notice.granted_to_id, notice.granted_by_id])
    return others.exists()


class SecondPersonRequired(PermissionError):
    pass


def acknowledge(notice: RoleGrantNotice, user: Any, *, approve: bool = True) -> None:
    """Mark the notice reviewed; for a grant waiting for approval, approve (the role takes effect) or refuse.
    Must run inside the reviewer's audit context."""
    if notice.needs_approval and user.pk in (notice.granted_to_id, notice.granted_by_id):
        raise SecondPersonRequired("a grant needs a second person: neither its holder nor its granter")
    with transaction.atomic():
        notice.acknowledged_by = user
        notice.acknowledged_at = timezone.now()
        if notice.needs_approval:
            notice.decision = "approved" if approve else "refused"
            if approve:
                membership = Membership.objects.select_for_update().get(pk=notice.membership_id)
                membership.active = True
                membership._pdva_approving = True  # type: ignore[attr-defined]
                membership.save(reason=f"role grant approved by {user.get_username()} (second person)")
        notice.save(reason=f"role grant {notice.decision or 'reviewed'} by {user.get_username()}")
        record(
            "accounts.role_grant." + (notice.decision or "acknowledged"),
            object_type="accounts.membership",
            object_id=notice.membership_id,
            site_id=notice.site_id,
        )
