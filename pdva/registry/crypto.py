"""Field encryption for patient identifiers (Fernet: AES-128-CBC + HMAC-SHA256, key from the environment)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class IdentityKeyMismatch(RuntimeError):
    pass


@cache
def _fernet(key: str) -> Fernet:
    return Fernet(key.encode())


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _fernet(settings.PDVA_IDENTITY_KEY).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet(settings.PDVA_IDENTITY_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise IdentityKeyMismatch(
            "identifier could not be decrypted: PDVA_IDENTITY_KEY does not match"
        ) from exc
