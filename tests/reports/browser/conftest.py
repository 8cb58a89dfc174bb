"""A desktop page on the session's chromium (the browser fixture is in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
