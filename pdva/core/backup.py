"""Consistent online backup and restore, portable between SQLite and PostgreSQL.

A backup is a gzip-compressed Django fixture of every registry table (and users and their
two-factor devices), read in one transaction so it is a consistent snapshot while the registry
is in use. Restoring never merges into live data: it refuses a non-empty database unless forced,
and verifies the audit chain afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from django.apps import apps
from django.core import serializers
from django.core.management import call_command
from django.db import connection, transaction

from pdva.audit.models import AuditEntry
from pdva.audit.triggers import append_only_suspended


class RestoreRefused(RuntimeError):
    pass


def backup_models() -> list[type]:
    wanted = []
    for model in apps.get_models():
        if model.__module__.startswith("pdva.") or model._meta.label in ("auth.User", "otp_totp.TOTPDevice"):
            wanted.append(model)
    return wanted


def backup(path: Path) -> tuple[Path, int, str]:
    """Write a backup; return (path, object count, sha256)."""
    if not path.name.endswith(".json.gz"):
        path = path.with_name(path.name + ".json.gz")
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

        def objects():  # type: ignore[no-untyped-def]
            nonlocal count
            for model in backup_models():
                for obj in model._base_manager.order_by("pk").iterator(chunk_size=2000):
                    count += 1
                    yield obj

        with gzip.open(path, "wt", encoding="utf-8") as stream:
            serializers.serialize("json", objects(), stream=stream, use_natural_foreign_keys=True)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, count, digest


def database_is_empty() -> bool:
    from pdva.registry.models import Site

    return not AuditEntry.objects.exists() and not Site.objects.exists()


def wipe() -> None:
    """Delete every registry row (used only by a forced restore)."""
    with append_only_suspended(), connection.cursor() as cursor:
        tables = [m._meta.db_table for m in backup_models()]
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE " + ", ".join(connection.ops.quote_name(t) for t in tables) + " CASCADE")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
            cursor.execute("PRAGMA foreign_keys = ON")


def restore(path: Path, *, force: bool = False) -> None:
    if not path.exists():
        raise RestoreRefused(f"no backup file at {path}")
    if not database_is_empty():
        if not force:
            raise RestoreRefused("the database already holds registry data; use --force to replace it")
        wipe()
    call_command("loaddata", str(path), verbosity=0)
