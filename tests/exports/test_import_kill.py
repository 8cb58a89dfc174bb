"""An import killed with SIGKILL in the middle leaves nothing behind, and the same file then loads.

PostgreSQL only: the test holds a lock on the last table the import writes, so the import (a `pdva import`
subprocess) is stopped mid-way at a known point, with every earlier table already written in its open
transaction, and is killed there. SQLite locks the whole database for the import's one transaction, so
nothing outside can hold it at a known point; its rollback of an interrupted transaction is SQLite's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from pdva.audit.context import audit_context
from pdva.audit.models import CHAIN_LOCK_ID, AuditEntry
from pdva.audit.verify import verify_chain
from pdva.exports.importer import import_path
from pdva.exports.models import ImportBatch
from pdva.exports.services import run_export
from pdva.registry.models import Patient, PromAdministration
from tests.exports.conftest import wipe_registry

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 300  # seconds: generous, the machine may be busy; the test ends as soon as the state is reached


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _query(sql: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _wait_for(what: str, test, proc: subprocess.Popen | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"the import ended before {what}: rc {proc.returncode}\n{out.decode()}\n{err.decode()}"
            )
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_an_import_killed_mid_way_leaves_no_rows_and_no_audit_entries(cohort, manager, sam, tmp_path: Path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a table lock to stop the import at a known point (see module doc)")
    import psycopg

    with audit_context(manager):
        path = run_export("full", manager, tmp_path / "full.zip").path
    wipe_registry()
    entries = AuditEntry.objects.count()
    assert PromAdministration._base_manager.count() == 0

    # Hold the last table: the import writes every other table, then waits here inside its transaction.
    blocker = psycopg.connect(_database_url().replace("postgres://", "postgresql://", 1))
    blocker.execute(f"LOCK TABLE {PromAdministration._meta.db_table} IN SHARE MODE")
    env = os.environ | {
        "PDVA_ENV": "test",
        "PDVA_DATABASE_URL": _database_url(),
        "PDVA_AUDIT_KEY": settings.PDVA_AUDIT_KEY,
        "PDVA_IDENTITY_KEY": settings.PDVA_IDENTITY_KEY,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdva", "import", str(path), "--user", sam.username],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        waiting = f"""
            SELECT l.pid FROM pg_locks l
            WHERE NOT l.granted AND l.relation = '{PromAdministration._meta.db_table}'::regclass
        """
        (pid,) = _wait_for("the import reached the held table", lambda: [r[0] for r in _query(waiting)], proc)
        # Mid-import: it has written patients, holds the audit chain, and has committed nothing.
        held = _query(
            "SELECT l.locktype, l.relation::regclass::text, l.objid FROM pg_locks l WHERE l.pid = %s AND l.granted",
            [pid],
        )
        assert ("relation", Patient._meta.db_table, None) in held
        assert any(kind == "advisory" and objid == CHAIN_LOCK_ID for kind, _rel, objid in held)
        assert not Patient._base_manager.exists()
        proc.kill()
        proc.wait(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        blocker.rollback()
        blocker.close()
    assert proc.returncode == -9
    # The server notices the dead client and rolls its transaction back.
    _wait_for(
        "the killed import's session to end",
        lambda: not _query("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]),
    )

    assert not any(t.model._base_manager.exists() for t in _tables())
    assert AuditEntry.objects.count() == entries
    assert not ImportBatch.objects.exists()
    assert verify_chain() == entries

    report = import_path(path, user=sam)  # nothing was loaded, so the same file is not refused
    assert report.committed and report.created["proms"] == PromAdministration._base_manager.count() > 0
    assert verify_chain() == AuditEntry.objects.count()


def _tables():  # type: ignore[no-untyped-def]
    from pdva.exports.tables import TABLES

    return TABLES
