"""procrastinate's schema is PostgreSQL-only (functions, enums, LISTEN/NOTIFY). On SQLite its migrations are
recorded but not run: the demo's jobs live in our own Job table and run in-process."""

from __future__ import annotations

from typing import Any

from django.db import connections


class QueueSchemaRouter:
    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        if app_label == "procrastinate" and connections[db].vendor != "postgresql":
            return False
        return None
