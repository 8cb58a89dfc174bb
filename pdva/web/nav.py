"""Main navigation, assembled from each app's ``nav.py``.

An app lists its entries as ``NAV = [NavItem(...)]`` in ``pdva/<app>/nav.py``; an entry is shown
only to users with its capability somewhere, so the menu never offers a page that would refuse them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from pdva.accounts.access import can
from pdva.accounts.roles import Cap

NAV_APPS = ("capture", "followup", "proms", "reports", "exports", "api", "audit")


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    cap: Cap
    order: int = 50


@cache
def all_items() -> tuple[NavItem, ...]:
    items: list[NavItem] = []
    for app in NAV_APPS:
        try:
            module = importlib.import_module(f"pdva.{app}.nav")
        except ModuleNotFoundError:
            continue
        items.extend(getattr(module, "NAV", []))
    return tuple(sorted(items, key=lambda i: (i.order, i.label)))


def nav_items(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    shown = []
    for item in all_items():
        if not can(user, item.cap):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        if all(entry["url"] != url for entry in shown):  # one entry per page, however many roles lead there
            shown.append({"label": item.label, "url": url})
    return {"nav_items": shown}
