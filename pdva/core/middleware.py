"""Refuse requests carrying NUL characters: PostgreSQL cannot store or compare them, so they would
otherwise surface as server errors deep inside a query."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse


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
