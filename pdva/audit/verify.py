"""Walk the whole audit chain from the database, and check it against the checkpoints kept outside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from pdva.audit import chain
from pdva.audit.checkpoints import Checkpoint, Loaded, read_checkpoints
from pdva.audit.models import AuditEntry

FIELDS = (*chain.HASHED_FIELDS, "prev_hash", "entry_hash", "seal")
RESTORE_ACTION = "audit.restore"  # written by pdva.core.backup.restore after the restored chain


def verify_chain(batch_size: int = 5000) -> int:
    """Return the number of entries verified; raise chain.ChainBreak naming the first bad entry."""
    rows = AuditEntry.objects.order_by("seq").values(*FIELDS).iterator(chunk_size=batch_size)
    try:
        return chain.verify_entries(rows, settings.PDVA_AUDIT_KEY)
    finally:
        rows.close()  # release the cursor even when the walk stops at a broken entry


@dataclass(frozen=True)
class Restore:
    """A restore recorded in the chain."""

    seq: int
    backup: str
    restored_head: int
    at: Any
    acknowledged: frozenset[tuple[str, str]]  # (checkpoint file name, entry hash) the operator accepted


@dataclass
class AnchoredReport:
    entries: int = 0
    head_seq: int = 0
    chain_break: chain.ChainBreak | None = None
    problems: list[str] = field(default_factory=list)  # each one fails verification
    notes: list[str] = field(default_factory=list)  # shown, not failing
    checkpoints: Loaded = field(default_factory=Loaded)
    agreeing: int = 0

    @property
    def ok(self) -> bool:
        return self.chain_break is None and not self.problems


def _restore_of(entry: dict[str, Any]) -> Restore:
    after = entry.get("after") or {}
    acknowledged = after.get("acknowledged_checkpoints") or []
    return Restore(
        seq=entry["seq"],
        backup=str(after.get("backup_file", "?")),
        restored_head=int(after.get("restored_head_seq") or 0),
        at=entry["timestamp"],
        acknowledged=frozenset((str(a.get("file")), str(a.get("entry_hash"))) for a in acknowledged),
    )


def conflicts(
    checkpoints: list[Checkpoint], hashes_at: dict[int, str], head_seq: int
) -> list[tuple[Checkpoint, str]]:
    """Each checkpoint the chain does not agree with, and how ('missing' or 'differs')."""
    out = []
    for cp in checkpoints:
        if cp.seq == 0:
            continue  # a checkpoint of the empty chain covers nothing
        if cp.seq > head_seq:
            out.append((cp, "missing"))
        elif hashes_at.get(cp.seq) != cp.entry_hash:
            out.append((cp, "differs"))
    return out


def verify_anchored(batch_size: int = 5000) -> AnchoredReport:
    """Walk the chain (as verify_chain) and compare it with every readable checkpoint, streaming: only
    the hashes at checkpointed sequence numbers and the restore entries are kept."""
    # A checkpoint written after this walk began may cover entries committed after it: not a gap.
    started = timezone.now()
    report = AnchoredReport(checkpoints=read_checkpoints())
    for bad in report.checkpoints.bad:
        report.problems.append(f"checkpoint {bad.path.name} {bad.problem}")
    if report.checkpoints.unsigned_unchecked:
        report.notes.append(
            f"{report.checkpoints.unsigned_unchecked} checkpoint signature(s) not checked: "
            "no PDVA_AUDIT_CHECKPOINT_PUBLIC_KEY or signing key is configured here"
        )
    wanted = {cp.seq for cp in report.checkpoints.checkpoints}
    hashes_at: dict[int, str] = {}
    restores: list[Restore] = []

    def watched(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            if row["seq"] in wanted:
                hashes_at[row["seq"]] = row["entry_hash"]
            if row["action"] == RESTORE_ACTION:
                restores.append(_restore_of(row))
            report.head_seq = row["seq"]
            yield row

    rows = AuditEntry.objects.order_by("seq").values(*FIELDS).iterator(chunk_size=batch_size)
    try:
        report.entries = chain.verify_entries(watched(rows), settings.PDVA_AUDIT_KEY)
    except chain.ChainBreak as exc:
        report.chain_break = exc
    finally:
        rows.close()
    if report.chain_break is not None:
        report.head_seq = report.entries  # the last entry known good
    acknowledged = {key for r in restores for key in r.acknowledged}
    for cp, how in conflicts(report.checkpoints.checkpoints, hashes_at, report.head_seq):
        restore = next(
            (r for r in restores if r.restored_head < cp.seq and r.at > cp.at),
            None,
        )
        if restore is not None:
            text = (
                f"chain rolled back: checkpoint {cp.name} covers seq {cp.seq} but head is "
                f"{restore.restored_head}; restore entry at seq {restore.seq} from backup {restore.backup}"
            )
            if (cp.name, cp.entry_hash) in acknowledged:
                report.notes.append(text + " (acknowledged in the trail)")
                continue
            report.problems.append(text)
        elif how == "missing" and cp.at >= started:
            report.notes.append(f"checkpoint {cp.name} was written during this verification (not checked)")
            continue
        elif how == "missing":
            first = report.head_seq + 1
            span = f"entries {first}\u2013{cp.seq} covered by checkpoint {cp.name} are"
            if first == cp.seq:
                span = f"entry {cp.seq} covered by checkpoint {cp.name} is"
            report.problems.append(f"{span} missing (the chain ends at {report.head_seq})")
        else:
            report.problems.append(f"entry {cp.seq} differs from checkpoint {cp.name}")
    report.agreeing = len(report.checkpoints.checkpoints) - len(
        conflicts(report.checkpoints.checkpoints, hashes_at, report.head_seq)
    )
    return report


@contextmanager
def consistent_snapshot() -> Iterator[None]:
    """On PostgreSQL, one read-only REPEATABLE READ snapshot for the chain walk and the reconciliation, so
    rows and entries written meanwhile are seen together or not at all. SQLite's transactions take the
    write lock (IMMEDIATE), which would stop the registry for the whole run: there the walk reads live."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:  # (inside a caller's transaction)
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


def contradicted_checkpoints() -> list[dict[str, Any]]:
    """The checkpoints the chain as it is now contradicts (a restore records them): file, seq, hash, time."""
    loaded = read_checkpoints()
    seqs = [cp.seq for cp in loaded.checkpoints]
    hashes_at = dict(AuditEntry.objects.filter(seq__in=seqs).values_list("seq", "entry_hash"))
    head_seq = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    return [
        {"file": cp.name, "seq": cp.seq, "entry_hash": cp.entry_hash, "at": cp.at.isoformat()}
        for cp, _ in conflicts(loaded.checkpoints, hashes_at, head_seq)
    ]
