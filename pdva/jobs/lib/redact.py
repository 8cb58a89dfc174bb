"""Wording of job errors shown to people: short, specific, and never carrying an NHS number or a traceback."""

from __future__ import annotations

import re

# An NHS number as people type it: 10 digits, optionally grouped 3-3-4 with spaces or dashes.
_NHS_LIKE = re.compile(r"(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)")
# Validation messages that echo the value they refused, e.g. "'943 476 5919' is not a valid NHS number".
_ECHOED_NHS = re.compile(r"'[^']*'( is not a valid NHS number)")
MAX_LENGTH = 2000


def redact(message: str) -> str:
    """The message with NHS-number-like values removed, on one paragraph of at most MAX_LENGTH characters."""
    text = _ECHOED_NHS.sub(r"the value\1", message)
    text = _NHS_LIKE.sub("[number removed]", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_LENGTH else text[: MAX_LENGTH - 1] + "…"


def unexpected_error(exc_type_name: str, job_id: int) -> str:
    """What a person sees for an error nobody anticipated: the kind of error and where the details are."""
    return (
        f"The job stopped with an unexpected error ({exc_type_name}). The server log has the details "
        f"under job {job_id}; please tell your system administrator."
    )
