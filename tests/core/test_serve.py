"""pdva serve: gunicorn serving the registry with production settings, static files by whitenoise.

The server runs in a subprocess on a free loopback port against this test run's database. Timeouts are
generous (several engineers share two cores): they bound a hang, they do not measure speed.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from pdva.core.server import ServeOptions, gunicorn_settings
from pdva.core.static_storage import ensure_static

START_TIMEOUT_S = 240  # includes the first collection of static files on a busy machine
STOP_TIMEOUT_S = 60
PUBLIC_HOST = "registry.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The URL of the database this test run uses (pytest-django's test database)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def production_env(var_dir: Path, static_root: Path, **extra: str) -> dict[str, str]:
    """The documented production configuration, on this run's database and keys."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PDVA_ENV": "production",
        "PDVA_DATABASE_URL": database_url(),
        "PDVA_SECRET_KEY": secrets.token_urlsafe(50),
        "PDVA_AUDIT_KEY": settings.PDVA_AUDIT_KEY,
        "PDVA_IDENTITY_KEY": settings.PDVA_IDENTITY_KEY,
        "PDVA_ALLOWED_HOSTS": f"{PUBLIC_HOST},127.0.0.1",
        "PDVA_PUBLIC_BASE_URL": f"https://{PUBLIC_HOST}",
        "PDVA_BEHIND_PROXY": "true",
        "PDVA_VAR_DIR": str(var_dir),
        "PDVA_STATIC_ROOT": str(static_root),
        **extra,
    }


@dataclass
class Served:
    port: int
    process: subprocess.Popen
    log_path: Path

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def json_lines(self) -> list[dict]:
        lines = []
        for line in self.log_lines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET", body: str | None = None
):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wait_until_listening(served: Served, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(
                f"pdva serve exited with {served.process.returncode}:\n" + "\n".join(served.log_lines())
            )
        with contextlib.suppress(OSError):
            if fetch(served.port, "/health/live")[0] == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"pdva serve did not answer within {timeout} s:\n" + "\n".join(served.log_lines()))


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
    return process.returncode


@contextlib.contextmanager
def pdva_serve(env: dict[str, str], log_path: Path, *args: str) -> Iterator[Served]:
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pdva", "serve", "--bind", f"127.0.0.1:{port}", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: nothing is left behind if the test fails
        )
    served = Served(port, process, log_path)
    try:
        wait_until_listening(served)
        yield served
    finally:
        if process.poll() is None:
            stop(process)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any worker that outlived its master


@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """Collected once per test session (the first `pdva serve` does it) and shared by the serving tests."""
    return tmp_path_factory.mktemp("static") / "static"


HTTPS = {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https"}


@pytest.mark.django_db(transaction=True)
def test_serve_runs_the_registry_under_gunicorn_with_static_files(tmp_path, static_root):
    env = production_env(tmp_path / "var", static_root)
    with pdva_serve(env, tmp_path / "serve.log", "--workers", "2", "--threads", "2") as served:
        status, headers, body = fetch(served.port, "/health/ready")
        ready = json.loads(body)
        assert status == 200, ready
        assert ready["checks"]["database"]["status"] == "ok" and ready["checks"]["keys"]["status"] == "ok"

        status, headers, body = fetch(
            served.port, "/accounts/login/?next=/cases/", {**HTTPS, "X-Request-ID": "t-42"}
        )
        page = body.decode()
        assert status == 200
        assert headers["x-request-id"] == "t-42"
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["strict-transport-security"].startswith("max-age=31536000")
        assert "secure" in headers["set-cookie"].lower()

        # Hashed, compressed, cached for ever: whitenoise with the manifest storage.
        css = re.search(r'href="(/static/pdva/registry\.[0-9a-f]{12}\.css)"', page)
        assert css, "the page links the hashed stylesheet"
        status, headers, body = fetch(served.port, css.group(1), {**HTTPS, "Accept-Encoding": "gzip"})
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert "immutable" in headers["cache-control"] and "max-age=315360000" in headers["cache-control"]
        js = re.search(r'src="(/static/django_htmx/htmx-2\.min\.[0-9a-f]{12}\.js)"', page)
        assert js and fetch(served.port, js.group(1), HTTPS)[0] == 200
        assert fetch(served.port, "/static/pdva/no-such-file.css", HTTPS)[0] == 404

        # Plain HTTP is sent to HTTPS at the public name; an unknown host is refused.
        status, headers, _ = fetch(served.port, "/accounts/login/", {"Host": PUBLIC_HOST})
        assert status == 301 and headers["location"] == f"https://{PUBLIC_HOST}/accounts/login/"
        assert (
            fetch(served.port, "/accounts/login/", {"Host": "evil.example", "X-Forwarded-Proto": "https"})[0]
            == 400
        )

        # A graceful restart of the workers keeps serving.
        served.process.send_signal(signal.SIGHUP)
        time.sleep(1)
        wait_until_listening(served)
        assert fetch(served.port, "/accounts/login/", HTTPS)[0] == 200

        assert stop(served.process) == 0  # TERM: finish in-flight requests, then exit cleanly

    lines = served.json_lines()
    [login] = [line for line in lines if line.get("request_id") == "t-42"]
    assert login["logger"] == "pdva.request" and login["path"] == "/accounts/login/"
    assert login["query_keys"] == ["next"] and login["status"] == 200 and login["user_id"] is None
    assert any(
        line.get("logger") == "gunicorn.error" and "Booting worker" in line["message"] for line in lines
    )
    assert "Using worker: gthread" in served.log_path.read_text()


def test_serve_refuses_a_bad_bind_address(tmp_path, static_root):
    env = production_env(
        tmp_path / "var", static_root, PDVA_DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pdva", "serve", "--bind", "all-interfaces", "--no-collectstatic"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "--bind must be HOST:PORT" in result.stderr


def test_serve_refuses_to_start_without_a_production_setting(tmp_path, static_root):
    env = production_env(tmp_path / "var", static_root)
    del env["PDVA_PUBLIC_BASE_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "pdva", "serve"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and "PDVA_PUBLIC_BASE_URL is required" in result.stderr


def test_gunicorn_settings_follow_the_options():
    sync = gunicorn_settings(ServeOptions(bind="127.0.0.1:8000", workers=3, threads=1, timeout=60))
    assert (sync["bind"], sync["workers"], sync["worker_class"]) == (["127.0.0.1:8000"], 3, "sync")
    assert sync["accesslog"] is None and sync["secure_scheme_headers"] == {}
    threaded = gunicorn_settings(ServeOptions(bind="unix:/run/pdva.sock", workers=2, threads=4, timeout=30))
    assert threaded["worker_class"] == "gthread" and threaded["threads"] == 4
    assert sync["preload_app"] is True  # the master warms the application once, before forking


def test_warm_up_imports_what_first_requests_need_without_keeping_a_connection():
    code = (
        "import django, sys; django.setup()\n"
        "from django.db import connections\n"
        "from pdva.core.server import warm_up\n"
        "assert 'pandas' not in sys.modules, 'pandas already imported at start-up'\n"
        "warm_up()\n"
        "assert 'pandas' in sys.modules and 'pdva.reports.urls' in sys.modules\n"
        "assert all(c.connection is None for c in connections.all(initialized_only=True))\n"
        "print('warm')\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="pdva.settings")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and result.stdout.strip() == "warm", result.stderr[-2000:]


def test_static_files_are_collected_only_when_they_changed(settings, tmp_path):
    source = tmp_path / "source"
    (source / "pdva").mkdir(parents=True)
    (source / "pdva" / "extra.css").write_text("body { color: black }")
    settings.STATICFILES_DIRS = [source]
    settings.STATIC_ROOT = tmp_path / "collected"
    # Only our folder (the apps' own files would make this test copy megabytes).
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]

    assert ensure_static() is True
    assert (tmp_path / "collected" / "pdva" / "extra.css").exists()
    assert ensure_static() is False  # nothing changed
    changed = source / "pdva" / "extra.css"
    changed.write_text("body { color: navy }")
    later = time.time() + 10  # collectstatic compares whole seconds: an upgrade comes later than that
    os.utime(changed, (later, later))
    assert ensure_static() is True
    assert "navy" in (tmp_path / "collected" / "pdva" / "extra.css").read_text()
