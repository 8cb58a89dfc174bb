from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pdva.audit.checkpoints import CheckpointError, checkpoint_dir, latest, mail_checkpoint, write_checkpoint
from pdva.audit.reconcile import reconcile
from pdva.audit.verify import verify_anchored
from pdva.core.progress import Progress


class Command(BaseCommand):
    help = (
        "Audit trail tools. 'pdva audit verify' walks the hash chain, checks it against every checkpoint in "
        "PDVA_AUDIT_CHECKPOINT_DIR and (unless --chain-only) replays the trail against the data; "
        "'pdva audit checkpoint' writes a signed checkpoint of the chain's head there. See docs/audit.md."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("action", choices=["verify", "checkpoint"])
        parser.add_argument(
            "--chain-only", action="store_true", help="verify: the chain and checkpoints only, not the data"
        )
        parser.add_argument("--no-mail", action="store_true", help="checkpoint: do not mail the checkpoint")
        parser.add_argument("--quiet", action="store_true", help="no progress line")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        if opts["action"] == "checkpoint":
            return self._checkpoint(mail=not opts["no_mail"])
        return self._verify(chain_only=opts["chain_only"], quiet=opts["quiet"])

    def _checkpoint(self, *, mail: bool) -> None:
        try:
            checkpoint = write_checkpoint()
        except CheckpointError as exc:
            raise CommandError(f"no checkpoint written: {exc}") from exc
        self.stdout.write(checkpoint.line())
        if mail:
            try:
                sent = mail_checkpoint(checkpoint)
            except Exception as exc:  # any mail failure: the file is written, the copy by mail is not
                raise CommandError(
                    f"checkpoint written to {checkpoint.path}, but mailing it failed: {exc}"
                ) from exc
            if sent:
                self.stdout.write(f"mailed to {', '.join(sent)}")

    def _verify(self, *, chain_only: bool, quiet: bool) -> None:
        report = verify_anchored()
        failures: list[str] = []
        if report.chain_break is not None:
            failures.append(
                f"audit chain BROKEN at entry {report.chain_break.seq}: {report.chain_break.problem}"
            )
        failures.extend(report.problems)
        loaded = report.checkpoints
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        if not loaded.checkpoints and not loaded.bad:
            self.stdout.write(
                f"warning: no checkpoints in {checkpoint_dir()}: the chain's head is not anchored "
                "(run pdva audit checkpoint; the scheduled job does hourly)"
            )
        if report.chain_break is None:
            newest = latest(loaded.checkpoints)
            anchored = (
                f"; {report.agreeing} of {len(loaded.checkpoints)} checkpoints agree"
                + (f" (latest: seq {newest.seq}, {newest.at.isoformat()})" if newest else "")
                if loaded.checkpoints
                else ""
            )
            state = "OK" if not report.problems else "FAILS its checkpoints"
            self.stdout.write(f"audit chain {state}: {report.entries} entries verified{anchored}")
        if not chain_only:
            progress = None if quiet else Progress("reconcile", self.stderr._out, unit="rows+entries")
            result = reconcile(progress=progress)
            rate = (result.rows + result.entries) / result.seconds if result.seconds > 0 else 0.0
            for finding in result.findings:
                self.stdout.write(f"unaudited change: {finding}")
            if result.more_findings:
                self.stdout.write(f"... and {result.more_findings} more")
            summary = (
                f"{result.rows} rows in {result.tables} tables against {result.entries} entries "
                f"({rate:,.0f}/s)"
            )
            if result.ok:
                self.stdout.write(f"data reconciled with the trail: {summary}")
            else:
                failures.append(
                    f"data does not match the trail: {result.total_findings} finding(s); {summary}"
                )
        if failures:
            raise CommandError("\n".join(failures))
