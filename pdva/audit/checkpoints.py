"""Signed checkpoints of the audit chain's head, kept outside the database.

The hash chain proves that no entry was edited, inserted or reordered, but on its own it cannot tell a
chain that was cut short (the last entries deleted, or all of them) from one that simply ends there.
A checkpoint records the head (sequence number, entry hash, number of entries, time) in a file outside
the database, in ``PDVA_AUDIT_CHECKPOINT_DIR`` (meant for append-only or WORM storage). ``pdva audit
verify`` compares the chain with every checkpoint it can read: entries a checkpoint covers that are
missing, or that differ from it, fail the verification and are named.

Each checkpoint is one new file, written atomically (a temporary file, fsync, then a hard link to its
final name, which fails rather than replace an existing file), owner-only (0600, folder 0700), never
rewritten. It carries an HMAC with the audit key, and optionally an Ed25519 signature made with a
private key the database never sees (``PDVA_AUDIT_CHECKPOINT_SIGNING_KEY``); a checkpoint whose HMAC or
signature does not match is reported as forged or edited.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

FORMAT = "pdva-audit-checkpoint"
VERSION = 1
PREFIX = "checkpoint-"
SUFFIX = ".json"
SIGNED_FIELDS = ("format", "version", "seq", "entry_hash", "count", "at", "host")
HMAC_CONTEXT = b"pdva-audit-checkpoint:"  # keeps a checkpoint's HMAC apart from the entries' seals


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (the folder is missing, not writable, or the key unreadable)."""


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    seq: int
    entry_hash: str
    count: int
    at: dt.datetime
    signed: bool = False

    @property
    def name(self) -> str:
        return self.path.name

    def line(self) -> str:
        """The one line an operator keeps or mails: enough to check the chain against by hand."""
        return (
            f"pdva audit checkpoint seq={self.seq} entry_hash={self.entry_hash} count={self.count} "
            f"at={self.at.isoformat()} file={self.name}" + (" signed=ed25519" if self.signed else "")
        )


@dataclass(frozen=True)
class BadCheckpoint:
    """A file in the checkpoint folder that cannot be trusted: unreadable, forged or edited."""

    path: Path
    problem: str


@dataclass
class Loaded:
    checkpoints: list[Checkpoint] = field(default_factory=list)
    bad: list[BadCheckpoint] = field(default_factory=list)
    unsigned_unchecked: int = 0  # signed files whose signature no configured key can check


def checkpoint_dir() -> Path:
    return Path(settings.PDVA_AUDIT_CHECKPOINT_DIR)


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(
        {name: payload[name] for name in SIGNED_FIELDS}, sort_keys=True, separators=(",", ":")
    ).encode()


def checkpoint_hmac(key: str, payload: dict[str, Any]) -> str:
    return hmac.new(key.encode(), HMAC_CONTEXT + canonical(payload), hashlib.sha256).hexdigest()


# --- Ed25519 keys ------------------------------------------------------------------------------------


def _private_key() -> Any:
    path = getattr(settings, "PDVA_AUDIT_CHECKPOINT_SIGNING_KEY", "") or ""
    if not path:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(
            f"PDVA_AUDIT_CHECKPOINT_SIGNING_KEY {path}: cannot read the key ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"PDVA_AUDIT_CHECKPOINT_SIGNING_KEY {path}: not an Ed25519 private key")
    return key


def _public_key() -> Any:
    """The key signatures are checked with: the configured public key, else the signing key's own."""
    path = getattr(settings, "PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY", "") or ""
    if not path:
        private = _private_key()
        return private.public_key() if private is not None else None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY {path}: cannot read the key ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY {path}: not an Ed25519 public key")
    return key


# --- writing -----------------------------------------------------------------------------------------


def directory_problem(directory: Path | None = None) -> str | None:
    """Why checkpoints cannot be written to the folder, or None. Creates a missing folder (0700); writes
    no probe file (append-only storage may refuse to delete one)."""
    directory = directory or checkpoint_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        return f"checkpoint directory {directory} cannot be created: {exc.strerror or exc}"
    if not directory.is_dir():
        return f"checkpoint directory {directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"checkpoint directory {directory} is not writable by this user"
    return None


def head() -> tuple[int, str, int]:
    """(seq, entry hash, number of entries) of the chain as committed now."""
    from pdva.audit import chain
    from pdva.audit.models import AuditEntry

    last = AuditEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first()
    count = AuditEntry.objects.count()
    return (last[0], last[1], count) if last else (0, chain.GENESIS_HASH, count)


def write_checkpoint(directory: Path | None = None) -> Checkpoint:
    """Write a new checkpoint of the chain's head; raise CheckpointError if it cannot be written."""
    directory = directory or checkpoint_dir()
    problem = directory_problem(directory)
    if problem:
        raise CheckpointError(problem)
    seq, entry_hash, count = head()
    now = timezone.now().astimezone(dt.UTC)
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "seq": seq,
        "entry_hash": entry_hash,
        "count": count,
        "at": now.isoformat(timespec="microseconds"),
        "host": socket.gethostname(),
    }
    payload["hmac"] = checkpoint_hmac(settings.PDVA_AUDIT_KEY, payload)
    private = _private_key()
    if private is not None:
        payload["signature"] = base64.b64encode(private.sign(canonical(payload))).decode()
    name = f"{PREFIX}{seq:012d}-{now.strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
    path = directory / name
    _write_new_file(path, (json.dumps(payload, sort_keys=True, indent=1) + "\n").encode())
    return Checkpoint(path, seq, entry_hash, count, now, signed=private is not None)


def _write_new_file(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, owner-only, all or nothing, never replacing an existing file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(temporary, path)  # fails if the name exists: a checkpoint is never rewritten
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} could not be written: {exc.strerror or exc}") from exc
    finally:
        try:
            temporary.unlink()
        except OSError:
            pass
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # some file systems cannot fsync a folder; the file itself is on disk
        pass


# --- reading -----------------------------------------------------------------------------------------


def read_checkpoints(directory: Path | None = None) -> Loaded:
    """Every checkpoint file in the folder, checked; oldest head first."""
    directory = directory or checkpoint_dir()
    loaded = Loaded()
    if not directory.is_dir():
        return loaded
    public = _public_key()
    for path in sorted(directory.glob(f"{PREFIX}*{SUFFIX}")):
        result = _read_one(path, public)
        if isinstance(result, BadCheckpoint):
            loaded.bad.append(result)
        else:
            checkpoint, unchecked = result
            loaded.checkpoints.append(checkpoint)
            loaded.unsigned_unchecked += unchecked
    loaded.checkpoints.sort(key=lambda c: (c.seq, c.at))
    return loaded


def read_newest(directory: Path | None = None) -> Checkpoint | BadCheckpoint | None:
    """The most recently written checkpoint file, checked (for a page: one file read, not the folder's
    thousands); None when there is none."""
    directory = directory or checkpoint_dir()
    if not directory.is_dir():
        return None
    paths = list(directory.glob(f"{PREFIX}*{SUFFIX}"))
    if not paths:
        return None
    newest = max(paths, key=lambda p: (p.stat().st_mtime, p.name))
    result = _read_one(newest, _public_key())
    return result if isinstance(result, BadCheckpoint) else result[0]


def _read_one(path: Path, public: Any) -> tuple[Checkpoint, int] | BadCheckpoint:
    try:
        payload = json.loads(path.read_text())
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            return BadCheckpoint(path, "not a pdva audit checkpoint")
        if payload.get("version") != VERSION:
            return BadCheckpoint(path, f"unknown checkpoint version {payload.get('version')!r}")
        expected = checkpoint_hmac(settings.PDVA_AUDIT_KEY, payload)
        seq, count, entry_hash = payload["seq"], payload["count"], payload["entry_hash"]
        at = dt.datetime.fromisoformat(payload["at"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return BadCheckpoint(path, f"cannot be read ({type(exc).__name__}: {exc})")
    if not hmac.compare_digest(expected, str(payload.get("hmac", ""))):
        return BadCheckpoint(path, "forged or edited: its HMAC does not match (or PDVA_AUDIT_KEY changed)")
    if not (isinstance(seq, int) and isinstance(count, int) and isinstance(entry_hash, str)):
        return BadCheckpoint(path, "malformed fields")
    unchecked = 0
    signature = payload.get("signature")
    if signature is not None:
        if public is None:
            unchecked = 1
        else:
            from cryptography.exceptions import InvalidSignature

            try:
                public.verify(base64.b64decode(signature), canonical(payload))
            except (InvalidSignature, ValueError):
                return BadCheckpoint(path, "forged or edited: its Ed25519 signature does not match")
    elif public is not None and getattr(settings, "PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY", ""):
        # A public key is configured for checking: an unsigned checkpoint is not trusted to be ours.
        return BadCheckpoint(path, "unsigned, but PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY requires a signature")
    return Checkpoint(path, seq, entry_hash, count, at, signed=signature is not None), unchecked


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: (c.at, c.seq), default=None)


# --- mail --------------------------------------------------------------------------------------------


def mail_recipients() -> list[str]:
    return list(getattr(settings, "PDVA_AUDIT_CHECKPOINT_EMAIL", []) or [])


def mail_checkpoint(checkpoint: Checkpoint) -> list[str]:
    """Send the checkpoint line to PDVA_AUDIT_CHECKPOINT_EMAIL (a copy outside the server). Returns the
    recipients; raises the mail error (the caller decides whether it fails a job)."""
    recipients = mail_recipients()
    if not recipients:
        return []
    from django.core.mail import send_mail

    send_mail(
        f"pDVA audit checkpoint: seq {checkpoint.seq}",
        "The audit trail's head, for your records (keep this message; it lets anyone check later that "
        "no audit entry up to this one was removed or changed):\n\n" + checkpoint.line() + "\n",
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    return recipients
