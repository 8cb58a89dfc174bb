"""HTML templates -> PDF with WeasyPrint (charts are inline SVG)."""

from __future__ import annotations

import logging
from typing import Any

from django.template.loader import render_to_string


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    from weasyprint import HTML

    # WeasyPrint logs every SVG presentation attribute it does not support (e.g. text-anchor) as a warning.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)

    html = render_to_string(template, context)
    return HTML(string=html, base_url=".").write_pdf()
