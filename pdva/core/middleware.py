"""Request-wide middleware: the request log and request id, the Content-Security-Policy, and refusing
NUL characters (PostgreSQL cannot store or compare them, so they would otherwise surface as server errors
deep inside a query)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from pdva.core.logging_json import (
    bind_request_id,
    clean_request_id,
    loggable_path,
    new_request_id,
    query_keys,
    reset_request_id,
)

request_log = logging.getLogger("pdva.request")
HEALTH_PREFIX = "/health/"


def _user_id(request: HttpRequest) -> int | None:
    user = getattr(request, "user", None)  # absent when whitenoise answered before authentication
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except Exception:  # the session could not be read (database down): the request is still logged
        return None


class RequestLogMiddleware:
    """One JSON line per request: method, loggable path, status, duration, user id, request id.

    The request id comes from the proxy's X-Request-ID when it is a plain token, else a new one; it is
    echoed in the response so a user's report of a failure can be found in the logs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = clean_request_id(request.META.get("HTTP_X_REQUEST_ID")) or new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = bind_request_id(request_id)
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            self._log(request, status, (time.perf_counter() - started) * 1000)
            reset_request_id(token)

    def _log(self, request: HttpRequest, status: int, duration_ms: float) -> None:
        match = getattr(request, "resolver_match", None)
        probe = getattr(request, "health_probe", None)  # answered before URL resolution
        if probe:
            path, route = probe, probe.lstrip("/")
        else:
            static_prefix = settings.STATIC_URL or "/static/"
            path = loggable_path(request.path, match.kwargs if match else None, static_prefix=static_prefix)
            route = match.route if match else None
        fields = {
            "event": "request",
            "method": request.method,
            "path": path,
            "route": route,
            "query_keys": query_keys(request.GET.keys()),
            "status": status,
            "duration_ms": round(duration_ms, 1),
            "user_id": _user_id(request),
        }
        # Load balancers probe every few seconds: successful probes only at debug level.
        level = (
            logging.ERROR
            if status >= 500
            else logging.DEBUG
            if request.path.startswith(HEALTH_PREFIX) and status < 400
            else logging.INFO
        )
        request_log.log(level, "%s %s %s", request.method, fields["path"], status, extra={"fields": fields})


def client_ip_behind_proxy(request: HttpRequest) -> str | None:
    """The client's address as our proxy saw it: the last X-Forwarded-For entry, which the proxy appended
    (entries before it come from the client and prove nothing)."""
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    return forwarded[-1] if forwarded[-1] else request.META.get("REMOTE_ADDR")


class ContentSecurityPolicyMiddleware:
    """Sends settings.PDVA_CONTENT_SECURITY_POLICY (no inline script) and a restrictive Permissions-Policy."""

    PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = settings.PDVA_CONTENT_SECURITY_POLICY

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault("Permissions-Policy", self.PERMISSIONS_POLICY)
        return response


class RejectNulCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bad = next(
            (key for key, values in request.GET.lists() if "\x00" in key or any("\x00" in v for v in values)),
            None,
        )
        if bad is None and "\x00" in request.path:
            bad = "path"
        if bad is not None:
            message = f"the request contains a NUL character (in {bad.replace(chr(0), '')!r})"
            if request.path.startswith("/api/"):
                field = bad.replace("\x00", "")
                return JsonResponse(
                    {"error": {"code": "invalid_request", "message": message, "fields": {field: [message]}}},
                    status=400,
                )
            return HttpResponse(message, status=400, content_type="text/plain")
        return self.get_response(request)
