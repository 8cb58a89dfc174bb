from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from pdva.accounts.access import primary_role, roles_of
from pdva.accounts.roles import Role
from pdva.accounts.services.grants import open_notices_for


def registry_user(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    roles = roles_of(user) if user is not None else set()
    role = primary_role(user) if user is not None else None
    return {
        "demo_mode": settings.PDVA_DEMO_MODE,
        "user_roles": sorted(Role(r).label for r in roles),
        "primary_role": role,
        # Called only by a template that shows it (the home page): no query on other pages.
        "role_grant_notices": (lambda: list(open_notices_for(user)))
        if Role.SITE_GOVERNANCE_LEAD in roles
        else (),
    }
