"""The page for a server error: plain words, the request id to quote, never a traceback.

Rendered without the database (it may be what failed): no context processors, no session, no user.
"""

from __future__ import annotations

import sys

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string


def server_error(request: HttpRequest) -> HttpResponse:
    # Called by Django while it handles the exception, so the exception is still at hand.
    database_down = isinstance(sys.exc_info()[1], DatabaseError)
    request_id = getattr(request, "request_id", "")
    status = 503 if database_down else 500  # 503: trying again later may work
    if request.path.startswith("/api/"):
        message = (
            "the registry's database is unavailable; try again later"
            if database_down
            else "the server could not complete the request"
        )
        code = "unavailable" if database_down else "server_error"
        return JsonResponse(
            {"error": {"code": code, "message": message, "request_id": request_id}}, status=status
        )
    html = render_to_string("500.html", {"database_down": database_down, "request_id": request_id})
    return HttpResponse(html, status=status)
