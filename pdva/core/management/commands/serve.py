"""pdva serve: the registry under gunicorn, static files by whitenoise (see pdva.core.server)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from pdva.core.config import ConfigError, parse_bind
from pdva.core.server import RegistryServer, ServeOptions, gunicorn_settings
from pdva.core.static_storage import StaticFilesNotWritable, ensure_static


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Serve the registry with gunicorn (static files by whitenoise). Defaults come from PDVA_WEB_BIND, "
        "PDVA_WEB_WORKERS, PDVA_WEB_THREADS and PDVA_WEB_TIMEOUT. TERM stops after the requests in flight; "
        "HUP replaces the workers gracefully."
    )
    requires_system_checks: list[str] = []  # run below, with the deployment checks in production

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--bind", help="HOST:PORT or unix:/path (default PDVA_WEB_BIND, 127.0.0.1:8000)")
        parser.add_argument(
            "--workers", type=_at_least_one, help="worker processes (default PDVA_WEB_WORKERS)"
        )
        parser.add_argument(
            "--threads", type=_at_least_one, help="threads per worker (default PDVA_WEB_THREADS)"
        )
        parser.add_argument(
            "--timeout", type=_at_least_one, help="seconds before a stuck worker is restarted"
        )
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help="do not collect static files first (they were collected at build time)",
        )
        parser.add_argument(
            "--collect-only",
            action="store_true",
            help="collect static files if they changed since the last collection, then exit (setup, image builds)",
        )

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        self.check(include_deployment_checks=settings.PDVA_PRODUCTION)
        web = settings.PDVA_WEB
        try:
            options = ServeOptions(
                bind=parse_bind(opts["bind"], "--bind") if opts["bind"] else web.bind,
                workers=opts["workers"] or web.workers,
                threads=opts["threads"] or web.threads,
                timeout=opts["timeout"] or web.timeout,
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc
        if not opts["no_collectstatic"]:
            try:
                if ensure_static():
                    self.stdout.write(f"static files collected into {settings.STATIC_ROOT}")
            except StaticFilesNotWritable as exc:
                raise CommandError(str(exc)) from exc
        if opts["collect_only"]:
            return
        where = options.bind if options.bind.startswith("unix:") else f"http://{options.bind}/"
        self.stdout.write(
            f"pdva serve: {where} ({options.workers} workers x {options.threads} threads, "
            f"{settings.ENV.name} settings)"
        )
        self.stdout.flush()
        connections.close_all()  # no database connection may be shared with the forked workers
        RegistryServer(gunicorn_settings(options)).run()
