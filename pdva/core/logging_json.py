"""Structured logs: one JSON object per line, with the request id of the request being served.

What goes into a request line is chosen here, field by field, so nothing that could identify a patient
reaches a log: query strings keep their parameter names only (a search for an NHS number is ``q``), the
patient's questionnaire token is replaced in the path, and users appear by id, never by name.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

_current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pdva_request_id", default=None
)

# URL arguments that are secrets in their own right (a patient's questionnaire link works without sign-in).
SECRET_URL_KWARGS = frozenset({"token"})
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SAFE_SEGMENT = re.compile(r"^[A-Za-z_.-]{1,40}$")  # no digits: a typed-in address may carry an NHS number
SAFE_QUERY_KEY = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,40}$")


def clean_request_id(raw: str | None) -> str | None:
    """An incoming X-Request-ID we can repeat safely in logs and headers, or None."""
    value = (raw or "").strip()
    return value if REQUEST_ID.match(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind_request_id(request_id: str | None) -> contextvars.Token[str | None]:
    return _current_request_id.set(request_id)


def reset_request_id(token: contextvars.Token[str | None]) -> None:
    _current_request_id.reset(token)


def current_request_id() -> str | None:
    return _current_request_id.get()


def loggable_path(path: str, url_kwargs: Mapping[str, Any] | None, *, static_prefix: str = "/static/") -> str:
    """The request path as it may be logged.

    A path that matched a URL pattern has its secret arguments replaced by ``<name>``. One that matched
    nothing (a mistyped or probing address) keeps only its first segment, and only if it has no digits.
    """
    if path.startswith(static_prefix):
        return path  # our own file names
    if url_kwargs is None:
        segments = [s for s in path.split("/") if s]
        if not segments:
            return "/"
        first = segments[0] if SAFE_SEGMENT.match(segments[0]) else "…"
        return "/" + first + ("/…" if len(segments) > 1 else "")
    for name, value in url_kwargs.items():
        text = str(value)
        if name in SECRET_URL_KWARGS and text:
            path = path.replace(text, f"<{name}>")
    return path


def query_keys(names: Iterable[str]) -> list[str]:
    """Parameter names of a query string, without their values (which may be identifiers)."""
    return sorted({n if SAFE_QUERY_KEY.match(n) else "?" for n in names})


def utc_timestamp(created: float) -> str:
    return (
        dt.datetime.fromtimestamp(created, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class RequestIdFilter(logging.Filter):
    """Stamps every record with the id of the request being served (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonLineFormatter(logging.Formatter):
    """``{"time": "...Z", "level": ..., "logger": ..., "message": ..., <fields>}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))
