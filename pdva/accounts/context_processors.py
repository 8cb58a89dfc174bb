from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from pdva.accounts.access import primary_role, roles_of
from pdva.accounts.roles import Role


def registry_user(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    roles = roles_of(user) if user is not None else set()
    role = primary_role(user) if user is not None else None
    return {
        "demo_mode": settings.PDVA_DEMO_MODE,
        "user_roles": sorted(Role(r).label for r in roles),
        "primary_role": role,
    }
