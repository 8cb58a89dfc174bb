from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pdva.audit.checkpoints import CheckpointError, mail_checkpoint, write_checkpoint
from pdva.audit.verification import verify_all
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
        progress = (
            None if quiet or chain_only else Progress("reconcile", self.stderr._out, unit="rows+entries")
        )
        result = verify_all(chain_only=chain_only, progress=progress)
        for line in result.lines:
            self.stdout.write(line)
        if result.failures:
            raise CommandError("\n".join(result.failures))
