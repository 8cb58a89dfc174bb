"""Checkpoints anchor the audit chain's head outside the database: a trail cut short, emptied or rewritten
after a checkpoint fails `pdva audit verify`, naming the gap; a forged checkpoint file is reported."""

from __future__ import annotations

import json
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from pdva.audit.checkpoints import CheckpointError, _write_new_file, read_checkpoints, write_checkpoint
from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.audit.triggers import append_only_suspended
from pdva.jobs import services
from pdva.jobs.models import Job
from pdva.jobs.schedule import entries
from tests.factories import ProcedureFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder(tmp_path, settings):
    settings.PDVA_AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.PDVA_AUDIT_CHECKPOINT_SIGNING_KEY = ""
    settings.PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY = ""
    settings.PDVA_AUDIT_CHECKPOINT_EMAIL = []
    return tmp_path / "checkpoints"


def _trail(site, alice, edits: int = 30) -> int:
    procedure = ProcedureFactory(patient__site=site)
    with audit_context(alice):
        for k in range(edits):
            procedure.contrast_volume_ml = 50 + k
            procedure.save(reason=f"correction {k}")
    return AuditEntry.objects.count()


def _delete_entries_after(seq: int) -> None:
    with append_only_suspended(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq > %s", [seq])


def _verify(capsys) -> str:  # type: ignore[no-untyped-def]
    call_command("audit", "verify", "--chain-only")
    return capsys.readouterr().out


def test_checkpoint_is_a_new_owner_only_file_with_the_head_and_an_hmac(folder, site_a, alice, capsys):
    head = _trail(site_a, alice, edits=2)
    call_command("audit", "checkpoint")
    out = capsys.readouterr().out
    files = list(folder.glob("checkpoint-*.json"))
    assert len(files) == 1
    assert f"seq={head}" in out and files[0].name in out
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    payload = json.loads(files[0].read_text())
    last = AuditEntry.objects.get(seq=head)
    assert (payload["seq"], payload["count"], payload["entry_hash"]) == (head, head, last.entry_hash)
    assert len(payload["hmac"]) == 64 and "signature" not in payload

    call_command("audit", "checkpoint")  # a second one is another file; the first is left as it was
    assert len(list(folder.glob("checkpoint-*.json"))) == 2
    assert json.loads(files[0].read_text()) == payload
    with pytest.raises(CheckpointError, match="could not be written"):
        _write_new_file(files[0], b"{}")  # never rewritten
    assert json.loads(files[0].read_text()) == payload
    assert "2 of 2 checkpoints agree" in _verify(capsys)


def test_truncating_the_last_25_entries_after_a_checkpoint_fails_verify_naming_the_gap(
    folder, site_a, alice, capsys
):
    head = _trail(site_a, alice)
    checkpoint = write_checkpoint()
    _delete_entries_after(head - 25)
    with pytest.raises(CommandError) as failed:
        _verify(capsys)
    assert f"entries {head - 24}\u2013{head} covered by checkpoint {checkpoint.name} are missing" in str(
        failed.value
    )


def test_deleting_every_entry_fails_verify(folder, site_a, alice, capsys):
    head = _trail(site_a, alice, edits=1)
    checkpoint = write_checkpoint()
    _delete_entries_after(0)
    with pytest.raises(CommandError, match=f"entries 1\u2013{head} covered by checkpoint {checkpoint.name}"):
        _verify(capsys)


def test_a_rewritten_tail_differs_from_the_checkpoint(folder, site_a, alice, capsys):
    head = _trail(site_a, alice, edits=5)
    write_checkpoint()
    _delete_entries_after(head - 3)
    _trail(site_a, alice, edits=0)  # new, validly chained entries in place of the deleted ones
    assert AuditEntry.objects.order_by("-seq").first().seq >= head
    with pytest.raises(CommandError, match=f"entry {head} differs from checkpoint"):
        _verify(capsys)


def test_a_forged_or_edited_checkpoint_file_is_reported(folder, site_a, alice, capsys):
    _trail(site_a, alice, edits=1)
    checkpoint = write_checkpoint()
    payload = json.loads(checkpoint.path.read_text())
    payload["seq"] = 1  # moved back, so a truncation would not show
    checkpoint.path.write_text(json.dumps(payload))
    with pytest.raises(CommandError, match=f"checkpoint {checkpoint.name} forged or edited: its HMAC"):
        _verify(capsys)


def test_an_ed25519_signature_is_checked_and_a_tampered_one_reported(
    folder, tmp_path, settings, site_a, alice, capsys
):
    key = Ed25519PrivateKey.generate()
    private = tmp_path / "signing.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = tmp_path / "public.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    _trail(site_a, alice, edits=1)
    settings.PDVA_AUDIT_CHECKPOINT_SIGNING_KEY = str(private)
    signed = write_checkpoint()
    assert signed.signed and "signature" in json.loads(signed.path.read_text())
    # Checked where only the public key is kept.
    settings.PDVA_AUDIT_CHECKPOINT_SIGNING_KEY = ""
    settings.PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY = str(public)
    loaded = read_checkpoints()
    assert [c.name for c in loaded.checkpoints] == [signed.name] and not loaded.bad
    payload = json.loads(signed.path.read_text())
    payload["signature"] = payload["signature"][:-4] + (
        "AAAA" if not payload["signature"].endswith("AAAA") else "BBBB"
    )
    signed.path.write_text(json.dumps(payload))
    with pytest.raises(CommandError, match="its Ed25519 signature does not match"):
        _verify(capsys)


def test_an_unwritable_checkpoint_folder_fails_the_command_the_job_and_the_ready_check(
    tmp_path, settings, site_a
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.PDVA_AUDIT_CHECKPOINT_DIR = blocker / "checkpoints"
    settings.PDVA_AUDIT_CHECKPOINT_EMAIL = []
    with pytest.raises(
        CommandError, match="no checkpoint written: checkpoint directory .*a-file/checkpoints"
    ):
        call_command("audit", "checkpoint")

    job = services.enqueue("audit.checkpoint")
    job = Job.objects.get(pk=job.pk)
    assert job.state == Job.FAILED
    assert "no audit checkpoint written" in job.error and "a-file/checkpoints" in job.error

    response = Client().get("/health/ready")
    body = response.json()
    assert response.status_code == 503 and body["failing"] == ["audit_checkpoints"]
    assert "a-file/checkpoints" in body["checks"]["audit_checkpoints"]["detail"]


def test_the_hourly_job_writes_a_checkpoint_and_mails_its_line(folder, settings, site_a, alice):
    assert {p.kind: p.cron for p in entries()}["audit.checkpoint"] == "20 * * * *"
    head = _trail(site_a, alice, edits=1)
    settings.PDVA_AUDIT_CHECKPOINT_EMAIL = ["governance@example.nhs.uk"]
    job = Job.objects.get(pk=services.enqueue("audit.checkpoint").pk)
    assert job.state == Job.SUCCEEDED, job.error
    (written,) = read_checkpoints().checkpoints
    assert written.seq == head and job.result["file"] == written.name
    (message,) = mail.outbox
    assert message.to == ["governance@example.nhs.uk"]
    assert f"seq={head}" in message.body and written.entry_hash in message.body


def test_a_checkpoint_written_while_verify_walks_is_not_taken_for_a_gap(
    folder, site_a, alice, capsys, monkeypatch
):
    import datetime as dt

    from pdva.audit import verify

    head = _trail(site_a, alice, edits=2)
    early = write_checkpoint()  # before the walk: checked
    late = write_checkpoint()
    real_now = verify.timezone.now
    # The walk "began" between the two: the later one may cover entries the walk's snapshot cannot see.
    monkeypatch.setattr(verify.timezone, "now", lambda: late.at - dt.timedelta(microseconds=1))
    _delete_entries_after(head - 1)
    with pytest.raises(CommandError) as failed:
        _verify(capsys)
    assert f"entry {head} covered by checkpoint {early.name} is missing" in str(failed.value)
    assert late.name not in str(failed.value)
    assert f"checkpoint {late.name} was written during this verification" in capsys.readouterr().out
    monkeypatch.setattr(verify.timezone, "now", real_now)
