"""One verification of the audit trail, as `pdva audit verify` and the daily job run it: the chain, the
chain against every checkpoint, and (unless chain_only) the data against the trail, in one snapshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pdva.audit.checkpoints import checkpoint_dir, latest
from pdva.audit.reconcile import ProgressFn, reconcile
from pdva.audit.verify import consistent_snapshot, verify_anchored


@dataclass
class Verification:
    lines: list[str] = field(default_factory=list)  # what to show, in order
    failures: list[str] = field(default_factory=list)  # each one fails the verification
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def verify_all(*, chain_only: bool = False, progress: ProgressFn | None = None) -> Verification:
    out = Verification()
    with consistent_snapshot():
        report = verify_anchored()
        if not chain_only:
            result = reconcile(progress=progress)
    loaded = report.checkpoints
    if report.chain_break is not None:
        out.failures.append(
            f"audit chain BROKEN at entry {report.chain_break.seq}: {report.chain_break.problem}"
        )
    out.failures.extend(report.problems)
    out.lines.extend(f"note: {note}" for note in report.notes)
    if not loaded.checkpoints and not loaded.bad:
        out.lines.append(
            f"warning: no checkpoints in {checkpoint_dir()}: the chain's head is not anchored "
            "(run pdva audit checkpoint; the scheduled job does hourly)"
        )
    newest = latest(loaded.checkpoints)
    if report.chain_break is None:
        anchored = ""
        if loaded.checkpoints:
            anchored = f"; {report.agreeing} of {len(loaded.checkpoints)} checkpoints agree"
            if newest is not None:
                anchored += f" (latest: seq {newest.seq}, {newest.at.isoformat()})"
        state = "OK" if not report.problems else "FAILS its checkpoints"
        out.lines.append(f"audit chain {state}: {report.entries} entries verified{anchored}")
    out.summary.update(
        entries=report.entries,
        checkpoints=len(loaded.checkpoints),
        checkpoints_agreeing=report.agreeing,
        latest_checkpoint=newest.name if newest else None,
    )
    if not chain_only:
        rate = (result.rows + result.entries) / result.seconds if result.seconds > 0 else 0.0
        out.lines.extend(f"unaudited change: {finding}" for finding in result.findings)
        if result.more_findings:
            out.lines.append(f"... and {result.more_findings} more")
        text = (
            f"{result.rows} rows in {result.tables} tables against {result.entries} entries ({rate:,.0f}/s)"
        )
        if result.ok:
            out.lines.append(f"data reconciled with the trail: {text}")
        else:
            out.failures.append(f"data does not match the trail: {result.total_findings} finding(s); {text}")
        out.summary.update(rows=result.rows, findings=result.total_findings, seconds=round(result.seconds, 1))
    out.summary.update(failures=len(out.failures))
    return out
