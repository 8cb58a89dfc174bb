"""The production web server: gunicorn running the registry's WSGI application, as a library.

``pdva serve`` builds a :class:`RegistryServer` from settings.PDVA_WEB (environment) and its options.
gunicorn's master handles the signals: TERM finishes the requests in flight (up to the graceful timeout)
and stops; HUP replaces the workers gracefully (the master has loaded Django, so code and settings stay as
they were: an upgrade restarts the service, see docs/deploy.md); TTIN/TTOU add or remove a worker.
Static files are served by whitenoise inside the application.

The master loads the application and warms it (``warm_up``) before it forks the workers: the URLconf and
the libraries the pages use (pandas, the report services, the job kinds) are imported once, shared by every
worker, and no user's first request in a new worker pays seconds of imports. Nothing in the master opens a
database connection that a worker would inherit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from pdva.core.logging_json import JsonLineFormatter

GRACEFUL_TIMEOUT_S = 30
# Imported lazily by `pdva` commands (a short command should not pay for them), eagerly by the server.
WARM_MODULES = (
    "pandas",
    "numpy",
    "pdva.stats",  # scipy.stats: 1.2 s, paid by the first follow-up compliance page of each worker otherwise
    "pdva.reports.services.common",
    "pdva.reports.services.snapshots",
    "pdva.jobs.kinds",
)


KEEPALIVE_S = 15


@dataclass(frozen=True)
class ServeOptions:
    bind: str
    workers: int
    threads: int
    timeout: int


def gunicorn_settings(options: ServeOptions) -> dict[str, Any]:
    return {
        "bind": [options.bind],
        "workers": options.workers,
        "threads": options.threads,
        # Threads need the gthread worker; one thread per worker is the plain sync worker.
        "worker_class": "gthread" if options.threads > 1 else "sync",
        "timeout": options.timeout,
        # Threaded workers keep a client's connection open between requests; longer than a person's pause
        # between clicks, so a connection the client reuses is not closed under it (gunicorn's 2 s default
        # reset about one request in 400 in the load test).
        "keepalive": KEEPALIVE_S,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "proc_name": "pdva",
        "accesslog": None,  # pdva.core.middleware.RequestLogMiddleware writes the request log
        "errorlog": "-",
        "logger_class": JsonGunicornLogger,
        # X-Forwarded-Proto is Django's business (PDVA_BEHIND_PROXY), decided in one place.
        "secure_scheme_headers": {},
        "forwarded_allow_ips": "",
        # gunicorn 25+ opens a control socket at one path per user: two servers would fight over it.
        "control_socket_disable": True,
        "preload_app": True,  # see warm_up
    }


OPTIONAL_SETTINGS = frozenset({"control_socket_disable"})  # not known to every gunicorn we accept


class JsonGunicornLogger(Logger):
    """gunicorn's own messages (workers booting, timeouts) as JSON lines, like the request log."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonLineFormatter())


class RegistryServer(BaseApplication):
    def __init__(self, options: dict[str, Any], load: Callable[[], Any] | None = None) -> None:
        self.options = options
        self._load = load
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in OPTIONAL_SETTINGS and key not in self.cfg.settings:
                continue
            self.cfg.set(key, value)

    def load(self) -> Any:
        if self._load is not None:
            return self._load()
        from django.core.wsgi import get_wsgi_application

        application = get_wsgi_application()
        warm_up()
        return application


def warm_up() -> list[str]:
    """Import what the first requests would (the URLconf, WARM_MODULES); return the modules imported.
    Closes any database connection it caused, so forked workers each open their own."""
    from django.db import connections
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every app's urls and views
    for name in WARM_MODULES:
        importlib.import_module(name)
    connections.close_all()
    return list(WARM_MODULES)
