"""Suspending the append-only triggers: only for restoring a backup over a database (forced) and for
tests that tamper with the log on purpose to prove verification catches it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

SQLITE_TRIGGERS = {
    "audit_entry_no_update": "BEFORE UPDATE ON audit_auditentry BEGIN SELECT RAISE(ABORT, 'audit log is append-only: UPDATE refused'); END",
    "audit_entry_no_delete": "BEFORE DELETE ON audit_auditentry BEGIN SELECT RAISE(ABORT, 'audit log is append-only: DELETE refused'); END",
}


@contextmanager
def append_only_suspended() -> Iterator[None]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER USER")
        else:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER USER")
            else:
                for name, body in SQLITE_TRIGGERS.items():
                    cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
