"""Pure helpers of the job queue: backoff between attempts, and what a person may read in an error."""

from __future__ import annotations

import pytest

from pdva.jobs.lib.backoff import retry_delay
from pdva.jobs.lib.redact import redact, unexpected_error


def test_backoff_doubles_from_the_base_and_stops_at_the_cap():
    assert [retry_delay(n, base_seconds=30) for n in range(1, 6)] == [30, 60, 120, 240, 480]
    assert retry_delay(50, base_seconds=30, cap_seconds=3600) == 3600
    assert retry_delay(1000, base_seconds=1) == 3600  # no overflow however many attempts
    assert retry_delay(3, base_seconds=0) == 0


@pytest.mark.parametrize("attempt", [0, -1])
def test_backoff_refuses_attempt_numbers_below_one(attempt):
    with pytest.raises(ValueError, match="start at 1"):
        retry_delay(attempt, base_seconds=30)


@pytest.mark.parametrize(
    "message",
    [
        "'943 476 5919' is not a valid NHS number (10 digits, modulus-11 check)",
        "patient 9434765919 not found",
        "patient 943-476-5919 not found",
    ],
)
def test_redaction_removes_nhs_numbers_however_written(message):
    text = redact(message)
    assert "5919" not in text and "943" not in text
    assert "not" in text  # the rest of the message stays


def test_redaction_keeps_dates_codes_and_line_numbers():
    message = "line 12: date_of_death 2025-02-30 is not a date; not OPCS-4 code(s): L97.9"
    assert redact(message) == message


def test_redaction_makes_one_short_paragraph():
    text = redact("first\n  second\tthird " + "x" * 5000)
    assert text.startswith("first second third") and len(text) <= 2000


def test_unexpected_errors_name_the_error_and_where_details_are_not_the_details():
    text = unexpected_error("ZeroDivisionError", 42)
    assert "ZeroDivisionError" in text and "job 42" in text and "Traceback" not in text
