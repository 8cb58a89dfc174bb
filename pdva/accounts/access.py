"""Site scoping. Every query of clinical data goes through here, and fails closed:
a user with no (active) membership sees nothing."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from pdva.accounts.roles import NATIONAL_ROLES, Cap, Role, role_can


def _memberships(user: Any) -> list[Any]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cache = getattr(user, "_pdva_memberships", None)
    if cache is None:
        cache = list(user.memberships.filter(active=True, deleted_at__isnull=True))
        user._pdva_memberships = cache
    return cache


def roles_of(user: Any) -> set[str]:
    return {m.role for m in _memberships(user)}


def site_ids_for(user: Any, cap: Cap) -> set[int] | None:
    """Site ids where ``user`` has ``cap``; None means every site (a national role). Empty set: none."""
    ids: set[int] = set()
    for m in _memberships(user):
        if not role_can(m.role, cap):
            continue
        if m.role in NATIONAL_ROLES:
            return None
        ids.add(m.site_id)
    return ids


def sites_for(user: Any, cap: Cap) -> QuerySet:
    from pdva.registry.models import Site

    ids = site_ids_for(user, cap)
    qs = Site.objects.all()
    return qs if ids is None else qs.filter(pk__in=ids)


def scoped(qs: QuerySet, user: Any, cap: Cap = Cap.VIEW_CLINICAL) -> QuerySet:
    """Restrict a queryset of an audited model to the sites where the user has ``cap``."""
    ids = site_ids_for(user, cap)
    qs = qs.filter(deleted_at__isnull=True)
    if ids is None:
        return qs
    return qs.filter(**{f"{qs.model.site_path}__in": ids})


def can(user: Any, cap: Cap, site_id: int | None = None) -> bool:
    """Does the user have ``cap`` at ``site_id`` (or anywhere, if site_id is None)?"""
    ids = site_ids_for(user, cap)
    if ids is None:
        return True
    return bool(ids) if site_id is None else site_id in ids


def primary_role(user: Any) -> str | None:
    order = list(Role)
    roles = sorted(roles_of(user), key=lambda r: order.index(Role(r)))
    return roles[0] if roles else None
