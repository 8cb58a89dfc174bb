"""The audit trail's background jobs (discovered by pdva.jobs): an hourly checkpoint of the chain's head,
and a daily verification (chain, checkpoints, data against the trail) that fails visibly when anything is
wrong."""

from __future__ import annotations

from pdva.jobs.registry import JobError, JobKind, register
from pdva.jobs.runner import JobContext


def _checkpoint(ctx: JobContext) -> None:
    from pdva.audit.checkpoints import CheckpointError, mail_checkpoint, write_checkpoint

    try:
        checkpoint = write_checkpoint()
    except CheckpointError as exc:
        # Fails visibly (the job's page, the jobs log, /health/ready names the folder too); not retried
        # here: the next hour's run tries again.
        raise JobError(f"no audit checkpoint written: {exc}") from exc
    ctx.summary.update(seq=checkpoint.seq, entry_hash=checkpoint.entry_hash, file=checkpoint.name)
    try:
        sent = mail_checkpoint(checkpoint)
    except Exception as exc:  # the file is written; its copy by mail is not: say so
        raise JobError(f"checkpoint {checkpoint.name} written, but mailing it failed: {exc}") from exc
    ctx.summary.update(mailed_to=len(sent))


register(
    JobKind(
        "audit.checkpoint",
        "Checkpoint of the audit chain's head (written outside the database)",
        _checkpoint,
        system_label="system:audit",
        max_attempts=1,
    )
)


def _verify(ctx: JobContext) -> None:
    from pdva.audit.verification import verify_all

    result = verify_all(chain_only=bool(ctx.params.get("chain_only")))
    ctx.summary.update(result.summary)
    if result.failures:
        shown = [line for line in result.lines if line.startswith("unaudited change:")][:50]
        raise JobError(
            "audit verification FAILED: " + "; ".join(result.failures),
            details=[{"message": line} for line in shown],
        )


register(
    JobKind(
        "audit.verify",
        "Verify the audit trail: chain, checkpoints and data against the trail",
        _verify,
        system_label="system:audit",
        max_attempts=1,
    )
)
