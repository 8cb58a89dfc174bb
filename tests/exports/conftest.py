"""A small synthetic cohort at two sites, with dave (data manager) at one of them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest

from pdva.registry.models import Site
from pdva.registry.synthetic import seed_cohort
from tests.factories import UserFactory, grant

CUTOFF = dt.date(2025, 6, 1)


@pytest.fixture
def cohort(db):  # type: ignore[no-untyped-def]
    seed_cohort(sites=2, patients=24, years=3, seed=7, cutoff=CUTOFF)
    return list(Site.objects.order_by("ods_code"))


@pytest.fixture
def manager(cohort):  # type: ignore[no-untyped-def]
    """Data manager at the first synthetic site (full export of that site, identifiers included)."""
    user = UserFactory(username="dm-zza")
    grant(user, "site_data_manager", cohort[0])
    return user


def wipe_registry() -> None:
    """Empty the registry (and its memberships) with raw SQL, as a fresh installation would be.

    Only for tests: the application itself never hard-deletes. The audit log is left alone."""
    from django.db import connection

    from pdva.accounts.models import Membership
    from pdva.capture.models import CaseCompleteness
    from pdva.exports.tables import TABLES

    with connection.cursor() as cursor:
        # Derived per-case summaries (filed when a procedure is saved) point at sites and procedures.
        cursor.execute(f"DELETE FROM {CaseCompleteness._meta.db_table}")  # noqa: S608 - fixed table name
        for spec in reversed(TABLES):
            cursor.execute(f"DELETE FROM {spec.model._meta.db_table}")  # noqa: S608 - fixed table names
            if spec.name == "operators":
                cursor.execute(f"DELETE FROM {Membership._meta.db_table}")


def full_export(manager, tmp_path):  # type: ignore[no-untyped-def]
    """The manager's full export (a zip of one CSV per table)."""
    from pdva.audit.context import audit_context
    from pdva.exports.services import run_export

    with audit_context(manager):
        return run_export("full", manager, tmp_path / "full.zip").path


def rewrite_export(src, dst, edits):  # type: ignore[no-untyped-def]
    """Copy a full export, changing rows of some tables: ``edits`` maps a table to ``edit(rows)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            table = name.removesuffix(".csv")
            if table in edits:
                rows = list(csv.DictReader(io.StringIO(data.decode())))
                header = list(rows[0])
                edits[table](rows)
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
                writer.writeheader()
                writer.writerows(rows)
                data = buffer.getvalue().encode()
            zout.writestr(name, data)
    return dst
