"""A phone-sized page on the session's chromium (the browser fixture is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def phone_page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        yield context.new_page()
    finally:
        context.close()
