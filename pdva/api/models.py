"""Personal API tokens (hashed at rest, expiring, revocable) and the per-token rate-limit counter."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from typing import Any

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from pdva.audit.models import AuditedModel

TOKEN_PREFIX = "pdva"
TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]{1,200}")
DEFAULT_LIFETIME_DAYS = 90
MAX_LIFETIME_DAYS = 365


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(AuditedModel):
    """A personal token: acts as its owner, with exactly the owner's roles and sites. Only the hash is kept."""

    site_path = "user"  # tokens belong to a person, not a site (see audit_site_id)
    secret_fields = ("token_hash",)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'trust EPR integration'")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def audit_site_id(self) -> int | None:
        return None

    @classmethod
    def issue(cls, user: Any, name: str, *, days: int = DEFAULT_LIFETIME_DAYS) -> tuple[ApiToken, str]:
        """Create a token; the plaintext is returned once and never stored."""
        if not 1 <= days <= MAX_LIFETIME_DAYS:
            raise ValueError(f"a token must expire within 1 to {MAX_LIFETIME_DAYS} days")
        prefix = secrets.token_hex(4)
        raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        token = cls(
            user=user,
            name=name.strip() or "API token",
            prefix=prefix,
            token_hash=hash_token(raw),
            expires_at=timezone.now() + dt.timedelta(days=days),
        )
        token.save()
        return token, raw

    @classmethod
    def find(cls, raw: str) -> ApiToken | None:
        """The token matching ``raw``, whatever its state (callers check is_usable)."""
        if not TOKEN_CHARS.fullmatch(raw):
            return None  # never sent to the database (PostgreSQL refuses NUL bytes, for one)
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            return None
        token = cls.objects.select_related("user").filter(prefix=parts[1]).first()
        if token is None or not secrets.compare_digest(token.token_hash, hash_token(raw)):
            return None
        return token

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.deleted_at is None and not self.is_expired

    def revoke(self, *, reason: str = "revoked by its owner") -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(reason=reason)


class ApiRateWindow(models.Model):
    """Requests made with one token in one fixed window (operational counter, not clinical data)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="rate_windows")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "window_start"], name="api_rate_window_unique")
        ]

    def __str__(self) -> str:
        return f"token {self.token_id} from {self.window_start:%H:%M:%S}: {self.count}"

    @classmethod
    def hit(cls, token: ApiToken, *, window_seconds: int) -> tuple[int, dt.datetime]:
        """Count one request; return (requests in this window, when the window ends)."""
        now = timezone.now()
        start_ts = int(now.timestamp()) // window_seconds * window_seconds
        start = dt.datetime.fromtimestamp(start_ts, tz=dt.UTC)
        with transaction.atomic():
            updated = cls.objects.filter(token=token, window_start=start).update(count=F("count") + 1)
            if not updated:
                try:
                    with transaction.atomic():
                        cls.objects.create(token=token, window_start=start, count=1)
                except IntegrityError:
                    cls.objects.filter(token=token, window_start=start).update(count=F("count") + 1)
            count = cls.objects.filter(token=token, window_start=start).values_list("count", flat=True).get()
        return count, start + dt.timedelta(seconds=window_seconds)
