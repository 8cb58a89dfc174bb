"""The one place a redirect target taken from the request (``next``) is checked."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str = "web:home", *, param: str = "next") -> str:
    """The ``next`` URL of this request (POST, then query string) if it stays on this site, else ``default``.

    Another host, a scheme-relative ``//evil.example``, a ``javascript:`` URL, or plain http from an https
    page all fall back to the default."""
    target = request.POST.get(param) or request.GET.get(param) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return resolve_url(default)
