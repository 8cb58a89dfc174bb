"""Bearer-token authentication: the token's owner, with the owner's roles and sites, rate limited per token."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import HttpBearer

from pdva.accounts.access import roles_of
from pdva.api.errors import ApiError
from pdva.api.models import ApiRateWindow, ApiToken

RATE_WINDOW_SECONDS = 60


def rate_limit() -> int:
    return int(getattr(settings, "PDVA_API_RATE_LIMIT", 600))


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        found = ApiToken.find(token)
        if found is None or found.deleted_at is not None:
            raise ApiError(401, "invalid_token", "the bearer token is not recognised")
        if found.revoked_at is not None:
            raise ApiError(401, "token_revoked", "this token has been revoked")
        if found.is_expired:
            raise ApiError(401, "token_expired", "this token has expired: create a new one")
        user = found.user
        if not user.is_active or not roles_of(user):
            raise ApiError(403, "no_membership", "the token's owner has no active role at any site")
        count, resets = ApiRateWindow.hit(found, window_seconds=RATE_WINDOW_SECONDS)
        limit = rate_limit()
        if count > limit:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {limit} requests in {RATE_WINDOW_SECONDS} seconds with this token",
                headers={"Retry-After": str(max(1, int((resets - _now()).total_seconds())))},
            )
        request.user = user  # the rest of the request sees the token's owner, never an anonymous user
        return found


def _now():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    return timezone.now()
