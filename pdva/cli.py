"""The ``pdva`` command: the one entry point. It runs our commands and Django's (``pdva migrate``)."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pdva.settings")
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "pdva"
    if len(argv) == 1:
        argv.append("help")
    if argv[1] == "demo":
        os.environ.setdefault("PDVA_DEMO_MODE", "true")
    from pdva.core.config import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(argv)
    except ConfigError as exc:
        sys.stderr.write(f"pdva: configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
