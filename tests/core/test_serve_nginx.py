"""deploy/nginx/pdva.conf in front of `pdva serve`, as on a Debian server: Debian's nginx terminates TLS on
loopback and proxies to gunicorn. Health through the proxy, static files, forwarded HTTPS, request ids.

The site file is used as shipped; only its addresses, ports and certificate paths are replaced, and each
replacement must match exactly once (so a change to the file's shape fails here instead of going untested).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.core.test_serve import (
    PUBLIC_HOST,
    free_port,
    pdva_serve,
    production_env,
    static_root,  # noqa: F401  (the session fixture)
)

NGINX = "/usr/sbin/nginx"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
START_TIMEOUT_S = 60


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC_HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PUBLIC_HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx/pdva.conf no longer has exactly one {old!r}"
    return text.replace(old, new)


def nginx_config(directory: Path, *, app_port: int, https_port: int, http_port: int) -> Path:
    """A throw-away nginx.conf (own pid, logs, temp folders) including the shipped site file."""
    cert, key = self_signed_certificate(directory)
    site = (DEPLOY / "pdva.conf").read_text()
    site = replace_once(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = replace_once(site, "listen [::]:443 ssl http2;\n", "")
    site = replace_once(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = replace_once(site, "listen [::]:80;\n", "")
    site = replace_once(site, "/etc/ssl/pdva/fullchain.pem", str(cert))
    site = replace_once(site, "/etc/ssl/pdva/privkey.pem", str(key))
    site = site.replace("/var/log/nginx/pdva-access.log", str(directory / "access.log"))
    site = site.replace("server_name registry.example.nhs.uk;", f"server_name {PUBLIC_HOST};")
    (directory / "pdva.conf").write_text(site)
    upstream = replace_once(
        (DEPLOY / "pdva-upstream.conf").read_text(), "127.0.0.1:8000", f"127.0.0.1:{app_port}"
    )
    (directory / "pdva-upstream.conf").write_text(upstream)  # found by the site's relative include
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    main = directory / "nginx.conf"
    main.write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {directory}/pdva.conf;
}}
"""
    )
    return main


def https_fetch(port: int, path: str, cafile: Path, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    context = ssl.create_default_context(cafile=str(cafile))
    conn = http.client.HTTPSConnection(PUBLIC_HOST, port, timeout=120, context=context)
    # Resolve the public name to loopback without touching /etc/hosts.
    conn.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=120), server_hostname=PUBLIC_HOST
    )
    try:
        conn.request("GET", path, headers={"Host": PUBLIC_HOST, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def plain_fetch(port: int, path: str):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={"Host": PUBLIC_HOST})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@contextlib.contextmanager
def running_nginx(config: Path):  # type: ignore[no-untyped-def]
    process = subprocess.Popen(
        [NGINX, "-p", str(config.parent), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited with {process.returncode}: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        time.sleep(0.2)
    pytest.fail(f"nginx did not listen on {port} within {START_TIMEOUT_S} s")


@pytest.fixture
def nginx_binary() -> str:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is missing: run ./scripts/setup.sh (installs Debian's nginx)")
    return NGINX


def test_shipped_site_file_passes_nginx_t(nginx_binary, tmp_path):
    config = nginx_config(tmp_path, app_port=free_port(), https_port=free_port(), http_port=free_port())
    result = subprocess.run(
        [nginx_binary, "-t", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_registry_behind_nginx(nginx_binary, tmp_path, static_root):  # noqa: F811
    env = production_env(tmp_path / "var", static_root)
    with pdva_serve(env, tmp_path / "serve.log", "--workers", "2") as served:
        https_port, http_port = free_port(), free_port()
        config = nginx_config(tmp_path, app_port=served.port, https_port=https_port, http_port=http_port)
        cafile = tmp_path / "fullchain.pem"
        with running_nginx(config) as nginx:
            wait_for_port(https_port, nginx, tmp_path / "error.log")

            # Readiness through the proxy, over HTTPS and over plain HTTP (probes).
            status, _, body = https_fetch(https_port, "/health/ready", cafile)
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert plain_fetch(http_port, "/health/live")[0] == 200

            # A page: Django sees HTTPS (no redirect loop), sends HSTS once, secure cookies, our request id.
            status, headers, body = https_fetch(https_port, "/accounts/login/?next=/cases/", cafile)
            assert status == 200, body[:500]
            names = [k.lower() for k, _ in headers]
            values = {k.lower(): v for k, v in headers}
            assert names.count("strict-transport-security") == 1
            assert "secure" in values["set-cookie"].lower()
            assert "script-src 'self'" in values["content-security-policy"]
            request_id = values["x-request-id"]
            assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id, echoed by the registry

            # A client cannot claim HTTPS on the plain port: nginx sends it to HTTPS.
            status, plain_headers, _ = plain_fetch(http_port, "/accounts/login/")
            assert status == 301 and plain_headers["location"] == f"https://{PUBLIC_HOST}/accounts/login/"

            # Static files through the proxy, hashed and compressed by whitenoise.
            css = re.search(r'href="(/static/pdva/registry\.[0-9a-f]{12}\.css)"', body.decode())
            assert css
            status, headers, _ = https_fetch(https_port, css.group(1), cafile, {"Accept-Encoding": "gzip"})
            values = {k.lower(): v for k, v in headers}
            assert (
                status == 200
                and values["content-encoding"] == "gzip"
                and "immutable" in values["cache-control"]
            )

            # Questionnaire tokens and query strings stay out of nginx's access log too.
            https_fetch(https_port, "/prom/p/secret-token-value/", cafile)
            https_fetch(https_port, "/cases/?q=9434765919", cafile)
        access = (tmp_path / "access.log").read_text()
        assert f"rid={request_id}" in access
        assert "secret-token-value" not in access and "9434765919" not in access
        assert '"GET /prom/p/<token>/"' in access

    logged = [line for line in served.json_lines() if line.get("request_id") == request_id]
    assert logged and logged[0]["path"] == "/accounts/login/" and logged[0]["status"] == 200
