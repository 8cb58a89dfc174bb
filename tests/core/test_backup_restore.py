"""Backup and restore: every row comes back exactly (pks, audit entries), the audit chain is verified with the
audit key before anything commits, and a refused restore (non-empty target, damaged, truncated or tampered
backup) leaves nothing behind."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import given
from hypothesis import strategies as st

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.verify import verify_chain
from pdva.core import backup as backup_module
from pdva.core.backup import RestoreRefused, backup, backup_tables, copy_field, copy_text, restore, wipe
from pdva.registry.models import Patient, PatientIdentity, Procedure
from pdva.registry.synthetic import seed_cohort

pytestmark = pytest.mark.django_db(transaction=True)

AWKWARD = 'tab\there, newline\nthere, back\\slash \\N, quote " and \u00e9\u2264\U0001f600'


def _registry(sites: int = 2, patients: int = 6) -> None:
    """A small registry with edits (before/after values), users, a two-factor device and awkward text."""
    seed_cohort(sites=sites, patients=patients, years=2, seed=3)
    user = get_user_model().objects.create_user("alice", password="x", first_name=AWKWARD)
    TOTPDevice.objects.create(user=user, name="phone")
    with audit_context(label="test:edit"):
        procedure = Procedure.objects.order_by("pk").first()
        assert procedure is not None
        procedure.notes = AWKWARD
        procedure.save(reason=AWKWARD)
        patient = Patient.objects.order_by("pk").last()
        assert patient is not None
        patient.soft_delete(reason="entered in error: " + AWKWARD)


def _snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table a backup holds, in primary-key order."""
    return {
        t.name: list(t.model._base_manager.order_by("pk").values_list(*[f.attname for f in t.fields]))
        for t in backup_tables()
    }


def _without_restore_entries(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The snapshot without the entries restores append to the trail (they record the restore itself)."""
    action = [f.attname for f in AuditEntry._meta.concrete_fields].index("action")
    table = AuditEntry._meta.db_table
    return {**snapshot, table: [row for row in snapshot[table] if row[action] != "audit.restore"]}


def _empty() -> bool:
    return not any(rows for rows in _snapshot().values())


def _rewrite(path: Path, change) -> Path:  # type: ignore[no-untyped-def]
    with gzip.open(path, "rb") as stream:
        lines = stream.read().split(b"\n")
    out = path.with_name("changed" + "".join(path.suffixes))
    with gzip.open(out, "wb") as stream:
        stream.write(b"\n".join(change(lines)))
    return out


def _section(lines: list[bytes], table: str) -> int:
    """Index of the first row line of ``table``."""
    return next(i for i, line in enumerate(lines) if line.startswith(b'{"table":"' + table.encode())) + 1


@pytest.mark.parametrize("native", [True, False], ids=["database-copy", "through-django"])
def test_round_trip_restores_every_row_exactly_and_verifies_the_chain(tmp_path, capsys, monkeypatch, native):
    if native and connection.vendor != "postgresql":
        pytest.skip("the COPY reader is PostgreSQL's")
    if native:
        # The chain is verified as it streams in, and the stored log proven to be that stream: the slower
        # walk over the database is not needed (a backup written through Django still takes it).
        monkeypatch.setattr(backup_module, "verify_chain", lambda: pytest.fail("walked the chain again"))
    _registry()
    before = _snapshot()
    assert before[AuditEntry._meta.db_table] and before[Patient._meta.db_table]
    path, rows, digest = backup(tmp_path / "registry", native=native)
    assert path.name == "registry.jsonl.gz" and rows == sum(len(r) for r in before.values())
    assert len(digest) == 64

    wipe()
    assert _empty()
    call_command("restore", str(path), "--quiet")
    out = capsys.readouterr().out
    restored_entries = len(before[AuditEntry._meta.db_table])
    assert f"audit chain OK ({restored_entries} entries)" in out
    assert f"restore recorded in the audit trail at entry {restored_entries + 1}" in out
    assert _without_restore_entries(_snapshot()) == before
    assert verify_chain() == restored_entries + 1
    assert AWKWARD in {i.first_name for i in get_user_model().objects.all()}
    with audit_context(label="test:after-restore"):  # sequences continue after the restored ids
        procedure = Procedure.objects.order_by("pk").first()
        assert procedure is not None
        procedure.notes = "edited after the restore"
        procedure.save(reason="edited after the restore")
    assert verify_chain() == len(before[AuditEntry._meta.db_table]) + 2


def test_restore_into_a_database_with_data_is_refused_and_changes_nothing(tmp_path):
    _registry(sites=1, patients=3)
    path, _, _ = backup(tmp_path / "registry")
    before = _snapshot()
    with pytest.raises(CommandError, match="already holds registry data"):
        call_command("restore", str(path))
    assert _snapshot() == before


def test_forced_restore_replaces_the_data(tmp_path):
    seed_cohort(sites=1, patients=3, years=1, seed=4)
    path, _, _ = backup(tmp_path / "first")
    first = _snapshot()
    seed_cohort(sites=1, patients=2, years=1, seed=5)
    call_command("restore", str(path), "--force", "--quiet")
    assert _without_restore_entries(_snapshot()) == first


@pytest.mark.parametrize(
    "damage",
    ["truncated", "flipped bytes", "a row cut short", "a bad value", "a row missing", "not gzip"],
)
def test_a_damaged_backup_is_refused_with_nothing_left_behind(tmp_path, damage):
    _registry(sites=1, patients=3)
    path, _, _ = backup(tmp_path / "registry")
    data = path.read_bytes()
    patients = Patient._meta.db_table
    if damage == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "flipped bytes":
        middle = len(data) // 2
        path.write_bytes(
            data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16]) + data[middle + 16 :]
        )
    elif damage == "a row cut short":

        def short(lines: list[bytes]) -> list[bytes]:
            i = _section(lines, patients)
            lines[i] = lines[i].rsplit(b"\t", 1)[0]
            return lines

        path = _rewrite(path, short)
    elif damage == "a bad value":

        def bad(lines: list[bytes]) -> list[bytes]:
            i = _section(lines, patients)
            lines[i] = b"not-a-number" + lines[i][lines[i].index(b"\t") :]
            return lines

        path = _rewrite(path, bad)
    elif damage == "a row missing":
        path = _rewrite(
            path, lambda lines: lines[: _section(lines, patients)] + lines[_section(lines, patients) + 1 :]
        )
    else:
        path.write_bytes(b"plain text, not a backup\n")
    wipe()
    with pytest.raises(RestoreRefused) as refused:
        restore(path)
    message = str(refused.value)
    assert path.name in message or "not a pdva backup" in message
    if damage in ("a bad value", "a row cut short"):
        assert " line " in message  # says where
    assert _empty()


def test_a_tampered_audit_entry_in_the_backup_fails_verification_and_nothing_is_restored(tmp_path):
    _registry(sites=1, patients=3)
    path, _, _ = backup(tmp_path / "registry")
    entries = AuditEntry._meta.db_table
    edited = AuditEntry.objects.get(seq=5)

    def tamper(lines: list[bytes]) -> list[bytes]:
        i = _section(lines, entries) + 4  # the audit log is written in chain order: seq 5
        assert str(edited.entry_hash).encode() in lines[i]
        lines[i] = lines[i].replace(edited.actor_label.encode(), b"someone-else", 1)
        return lines

    tampered = _rewrite(path, tamper)
    wipe()
    with pytest.raises(
        RestoreRefused, match=r"does not verify with this registry's audit key.*entry 5: content"
    ):
        restore(tampered)
    assert _empty()


def test_an_unreadable_audit_entry_is_refused_clearly_with_nothing_left_behind(tmp_path, monkeypatch):
    # The verifying workers are waited for after every block (as a long audit log makes them), so they,
    # not the database's COPY, meet the bad row first: a clear refusal, not a worker's ValueError.
    monkeypatch.setattr(backup_module, "VERIFY_IN_FLIGHT", 0)
    _registry(sites=1, patients=3)
    path, _, _ = backup(tmp_path / "registry")
    entries = AuditEntry._meta.db_table
    columns = [f.column for f in AuditEntry._meta.concrete_fields]

    def unreadable(lines: list[bytes]) -> list[bytes]:
        i = _section(lines, entries) + 4  # seq 5
        values = lines[i].split(b"\t")
        values[columns.index("timestamp")] = b"yesterday"
        lines[i] = b"\t".join(values)
        return lines

    damaged = _rewrite(path, unreadable)
    wipe()
    with pytest.raises(RestoreRefused) as refused:
        restore(damaged)
    if connection.vendor == "postgresql":
        assert "entry 5: the row cannot be read" in str(refused.value)
    else:
        assert " line " in str(refused.value) and entries in str(refused.value)
    assert _empty()


def test_a_backup_sealed_with_another_audit_key_is_refused(tmp_path, settings):
    _registry(sites=1, patients=2)
    path, _, _ = backup(tmp_path / "registry")
    wipe()
    settings.PDVA_AUDIT_KEY = "another registry's key"
    with pytest.raises(RestoreRefused, match="entry 1: HMAC seal does not match"):
        restore(path)
    assert _empty()


def test_restore_of_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no backup file"):
        call_command("restore", str(tmp_path / "nope.jsonl.gz"))


def test_a_version_1_backup_still_restores(tmp_path):
    seed_cohort(sites=1, patients=2, years=1, seed=6)
    before = _snapshot()
    old = tmp_path / "old.json.gz"
    with gzip.open(old, "wt", encoding="utf-8") as stream:
        objects = (obj for t in backup_tables() for obj in t.model._base_manager.order_by("pk"))
        serializers.serialize("json", objects, stream=stream, use_natural_foreign_keys=True)
    wipe()
    result = restore(old)
    assert result.audit_entries == len(before[AuditEntry._meta.db_table])
    # Version 1 kept times to the millisecond only (the fixture serialiser's precision): compare the rest.
    after = _snapshot()
    after = _without_restore_entries(after)
    assert {t: len(rows) for t, rows in after.items()} == {t: len(rows) for t, rows in before.items()}
    assert after[AuditEntry._meta.db_table] == before[AuditEntry._meta.db_table]
    assert AuditEntry.objects.get(seq=result.restore_seq).after["backup_file"] == "old.json.gz"


def _fresh_database(tmp_path: Path) -> tuple[str, Any]:
    """A URL of a new, empty (not migrated) database beside the test database, and how to remove it."""
    if connection.vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.sqlite3'}", lambda: None
    name = f"{connection.settings_dict['NAME']}_fresh"[:60]
    params = connection.settings_dict

    def run(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql)

    run(f'DROP DATABASE IF EXISTS "{name}"')
    run(f'CREATE DATABASE "{name}"')
    url = f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{name}"
    return url, lambda: run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_restore_into_a_new_database_migrates_it_first(tmp_path):
    _registry(sites=1, patients=3)
    path, rows, _ = backup(tmp_path / "registry")
    entries = AuditEntry.objects.count()
    patients = sorted(i.nhs_number for i in PatientIdentity.objects.all())
    url, drop = _fresh_database(tmp_path)
    try:
        env = {**os.environ, "PDVA_DATABASE_URL": url, "PDVA_AUDIT_KEY": settings.PDVA_AUDIT_KEY}
        env["PDVA_IDENTITY_KEY"] = settings.PDVA_IDENTITY_KEY
        done = subprocess.run(
            [sys.executable, "-m", "pdva", "restore", str(path), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,  # a hang, not a slow machine
        )
        assert done.returncode == 0, done.stderr
        assert f"{rows} rows" in done.stdout and f"audit chain OK ({entries} entries)" in done.stdout
        check = subprocess.run(
            [sys.executable, "-m", "pdva", "shell", "-v", "0", "-c", SHOW_NHS_NUMBERS],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert check.returncode == 0, check.stderr
        assert check.stdout.split() == patients
    finally:
        drop()


SHOW_NHS_NUMBERS = (
    "from pdva.registry.models import PatientIdentity\n"
    "print(*sorted(i.nhs_number for i in PatientIdentity.objects.all()))"
)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
def test_copy_text_reads_back_exactly(text):
    field = AuditEntry._meta.get_field("reason")
    assert copy_field(copy_text(text, field)) == text
    assert "\t" not in copy_text(text, field) and "\n" not in copy_text(text, field)


# --- owner-only files, and restores in the audit trail -------------------------------------------------


def test_backup_files_and_the_folders_made_for_them_are_owner_only(tmp_path):
    seed_cohort(sites=1, patients=2, years=1, seed=7)
    old_umask = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless set explicitly
    try:
        target = tmp_path / "new" / "deeper" / "registry"
        stale = target.parent / "registry.jsonl.gz.partial"
        path, _, _ = backup(target)
        # A partial file left behind by an interrupted run (wide open) is narrowed, not reused as it was.
        stale.write_bytes(b"left over")
        stale.chmod(0o644)
        second, _, _ = backup(target)
    finally:
        os.umask(old_umask)
    assert path == second and oct(path.stat().st_mode & 0o777) == oct(0o600)
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper"):
        assert oct(folder.stat().st_mode & 0o777) == oct(0o700)


def test_a_restore_is_recorded_after_the_restored_chain_with_who_what_and_the_checksum(tmp_path, capsys):
    _registry(sites=1, patients=2)
    path, rows, digest = backup(tmp_path / "registry")
    entries = AuditEntry.objects.count()
    call_command("restore", str(path), "--force", "--quiet", "--actor", "ops:carol")
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None and entry.seq == entries + 1 and entry.action == "audit.restore"
    assert entry.actor_label == "restore:ops:carol" and entry.object_id == digest
    assert entry.after["backup_file"] == path.name and entry.after["sha256"] == digest
    assert entry.after["rows"] == rows and entry.after["audit_entries"] == entries
    assert entry.after["restored_head_seq"] == entries and entry.after["rolled_back_checkpoints"] == []
    assert verify_chain() == entries + 1
    call_command("audit", "verify", "--quiet")  # the data reconcile with the restored trail
    assert "data reconciled with the trail" in capsys.readouterr().out


def test_restoring_an_older_backup_over_newer_checkpoints_makes_the_rollback_visible(
    tmp_path, settings, capsys
):
    from pdva.audit.checkpoints import write_checkpoint

    settings.PDVA_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.PDVA_AUDIT_CHECKPOINT_SIGNING_KEY = settings.PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY = ""
    _registry(sites=1, patients=2)
    old, _, _ = backup(tmp_path / "old")
    old_head = AuditEntry.objects.count()
    with audit_context(label="test:later"):
        procedure = Procedure.objects.order_by("pk").first()
        assert procedure is not None
        for k in range(3):
            procedure.notes = f"later edit {k}"
            procedure.save(reason="later edit")
    newer = write_checkpoint()
    assert newer.seq == old_head + 3

    call_command("restore", str(old), "--force", "--quiet")
    assert "NOT acknowledged" in capsys.readouterr().err
    with pytest.raises(CommandError) as failed:
        call_command("audit", "verify", "--chain-only")
    assert (
        f"chain rolled back: checkpoint {newer.name} covers seq {newer.seq} but head is {old_head}; "
        f"restore entry at seq {old_head + 1} from backup {old.name}"
    ) in str(failed.value)

    # The operator says the rollback is intended: recorded in the restore's entry, then reported, not failed.
    call_command("restore", str(old), "--force", "--quiet", "--acknowledge-rollback", "bad import at 14:00")
    entry = AuditEntry.objects.order_by("-seq").first()
    assert entry is not None and [c["file"] for c in entry.after["acknowledged_checkpoints"]] == [newer.name]
    assert "bad import at 14:00" in entry.reason
    call_command("audit", "verify", "--chain-only")
    out = capsys.readouterr().out
    assert f"chain rolled back: checkpoint {newer.name}" in out and "(acknowledged in the trail)" in out
    assert "audit chain OK" in out


# --- encrypted backups (PDVA_BACKUP_KEY) -------------------------------------------------------------


@pytest.fixture
def backup_key(settings):  # type: ignore[no-untyped-def]
    from pdva.core.lib.sealed import make_key, parse_key

    settings.PDVA_BACKUP_KEY = parse_key(make_key())
    return settings


def test_an_encrypted_backup_restores_exactly_and_shows_nothing_in_the_file(tmp_path, backup_key, capsys):
    _registry(sites=1, patients=3)
    before = _snapshot()
    path, rows, digest = backup(tmp_path / "registry")
    data = path.read_bytes()
    assert data.startswith(b"PDVASEAL1\n") and not data.startswith(b"\x1f\x8b")  # not even gzip
    assert b"pdva-backup" not in data and AWKWARD.encode() not in data
    wipe()
    call_command("restore", str(path), "--quiet")
    assert "audit chain OK" in capsys.readouterr().out
    assert _without_restore_entries(_snapshot()) == before
    assert backup_module.file_sha256(path) == digest and rows == sum(len(r) for r in before.values())


def test_an_encrypted_backup_without_its_key_is_refused_clearly(tmp_path, backup_key):
    _registry(sites=1, patients=2)
    path, _, _ = backup(tmp_path / "registry")
    wipe()
    backup_key.PDVA_BACKUP_KEY = None
    with pytest.raises(RestoreRefused, match="is encrypted: set PDVA_BACKUP_KEY"):
        restore(path)
    from pdva.core.lib.sealed import make_key, parse_key

    backup_key.PDVA_BACKUP_KEY = parse_key(make_key())  # another registry's key
    with pytest.raises(RestoreRefused, match="cannot be decrypted with this key"):
        restore(path)
    assert _empty()


@pytest.mark.parametrize("damage", ["truncated", "flipped bytes"])
def test_a_damaged_encrypted_backup_is_refused_with_nothing_left_behind(tmp_path, backup_key, damage):
    _registry(sites=1, patients=3)
    path, _, _ = backup(tmp_path / "registry")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    else:
        middle = len(data) // 2
        path.write_bytes(
            data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 16]) + data[middle + 16 :]
        )
    wipe()
    with pytest.raises(RestoreRefused, match="truncated|cannot be decrypted"):
        restore(path)
    assert _empty()


def test_a_plain_backup_still_restores_when_a_key_is_configured(tmp_path, settings):
    _registry(sites=1, patients=2)
    before = _snapshot()
    path, _, _ = backup(tmp_path / "plain")  # written before the key was configured
    from pdva.core.lib.sealed import make_key, parse_key

    settings.PDVA_BACKUP_KEY = parse_key(make_key())
    wipe()
    restore(path)
    assert _without_restore_entries(_snapshot()) == before
