"""The production web server: gunicorn running the registry's WSGI application, as a library.

``pdva serve`` builds a :class:`RegistryServer` from settings.PDVA_WEB (environment) and its options.
gunicorn's master handles the signals: TERM finishes the requests in flight (up to the graceful timeout)
and stops; HUP replaces the workers gracefully (the master has loaded Django, so code and settings stay as
they were: an upgrade restarts the service, see docs/deploy.md); TTIN/TTOU add or remove a worker.
Static files are served by whitenoise inside the application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from pdva.core.logging_json import JsonLineFormatter

GRACEFUL_TIMEOUT_S = 30


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

        return get_wsgi_application()
