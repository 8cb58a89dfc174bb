"""Health endpoints for load balancers, orchestrators and monitoring.

``/health/live`` says the process answers (no database: a restart would not cure a database outage).
``/health/ready`` says whether this instance can serve users: database reachable, migrations applied, job
queue reachable, keys configured and matching the stored data, the audit checkpoint folder writable. Any
failing check gives HTTP 503 and names it. ``/healthz`` (the old address) answers as ``/health/live``.

The probes are answered by a middleware ahead of the host check and the HTTPS redirect: a load balancer
probes over plain HTTP with its own address as the Host header, and neither is an error here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger("pdva.health")

OK = "ok"
FAIL = "fail"
NOT_CONFIGURED = "not configured"
SKIPPED = "skipped"
JOBS_APP = "pdva.jobs"
PROCRASTINATE_TABLE = "procrastinate_jobs"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def as_json(self) -> dict[str, str]:
        return {"status": self.status, "detail": self.detail} if self.detail else {"status": self.status}


def check_database(alias: str = DEFAULT_DB_ALIAS) -> Check:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means the same thing to a load balancer
        # The full message (host, database name) goes to the operators' log, not to the public answer.
        log.warning("readiness: database unreachable: %s", exc)
        return Check("database", FAIL, f"database unreachable ({type(exc).__name__})")
    return Check("database", OK, connections[alias].vendor)


def check_migrations(alias: str = DEFAULT_DB_ALIAS) -> Check:
    executor = MigrationExecutor(connections[alias])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = [f"{m.app_label}.{m.name}" for m, _ in pending]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return Check("migrations", FAIL, f"{len(names)} not applied: {shown} (run pdva migrate)")
    return Check("migrations", OK)


def jobs_configured() -> bool:
    return apps.is_installed(JOBS_APP)


def check_jobs(alias: str = DEFAULT_DB_ALIAS) -> Check:
    """The job queue: pdva.jobs' own answer when it has one; else procrastinate's table on PostgreSQL
    (on SQLite jobs run in-process)."""
    if not jobs_configured():
        return Check("jobs", NOT_CONFIGURED, f"{JOBS_APP} is not installed")
    try:
        from pdva.jobs.services import queue_health
    except ImportError:
        queue_health = None
    if queue_health is not None:
        ok, detail = queue_health()
        return Check("jobs", OK if ok else FAIL, detail)
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return Check("jobs", OK, "in-process (SQLite)")
    if PROCRASTINATE_TABLE not in connection.introspection.table_names():
        return Check(
            "jobs", FAIL, f"the job queue's table {PROCRASTINATE_TABLE} is missing (run pdva migrate)"
        )
    return Check("jobs", OK, "procrastinate on PostgreSQL")


def check_keys() -> Check:
    """Keys are present, and match what is stored: a wrong key would seal or encrypt new data unreadably."""
    from cryptography.fernet import Fernet, InvalidToken

    from pdva.audit.chain import seal
    from pdva.audit.models import AuditEntry
    from pdva.registry.models import PatientIdentity

    missing = [
        name
        for name, value in (
            ("PDVA_SECRET_KEY", settings.SECRET_KEY),
            ("PDVA_AUDIT_KEY", settings.PDVA_AUDIT_KEY),
            ("PDVA_IDENTITY_KEY", settings.PDVA_IDENTITY_KEY),
        )
        if not value
    ]
    if missing:
        return Check("keys", FAIL, f"not configured: {', '.join(missing)}")
    newest = AuditEntry.objects.order_by("-seq").values_list("entry_hash", "seal").first()
    if newest is not None and seal(settings.PDVA_AUDIT_KEY, newest[0]) != newest[1]:
        return Check("keys", FAIL, "PDVA_AUDIT_KEY does not match the audit trail's seals")
    sample = (
        PatientIdentity.objects.exclude(nhs_number_enc="").values_list("nhs_number_enc", flat=True).first()
    )
    if sample:
        try:
            Fernet(settings.PDVA_IDENTITY_KEY.encode()).decrypt(sample.encode())
        except (InvalidToken, ValueError):
            return Check("keys", FAIL, "PDVA_IDENTITY_KEY does not decrypt the stored identifiers")
    return Check("keys", OK)


def check_audit_checkpoints() -> Check:
    """The folder the audit chain's checkpoints go to can be written (else the hourly job fails too)."""
    from pdva.audit.checkpoints import checkpoint_dir, directory_problem

    problem = directory_problem()
    if problem:
        return Check("audit_checkpoints", FAIL, problem)
    if settings.PDVA_PRODUCTION and not getattr(settings, "PDVA_AUDIT_CHECKPOINT_DIR_SET", True):
        return Check(
            "audit_checkpoints",
            NOT_CONFIGURED,
            f"PDVA_AUDIT_CHECKPOINT_DIR is not set: checkpoints go to {checkpoint_dir()} on this server",
        )
    return Check("audit_checkpoints", OK, str(checkpoint_dir()))


def readiness(alias: str = DEFAULT_DB_ALIAS) -> list[Check]:
    """Every check in order; those that need a working, migrated database are skipped without one."""
    database = check_database(alias)
    if database.failed:
        return (
            [database]
            + [Check(name, SKIPPED, "database unreachable") for name in ("migrations", "jobs", "keys")]
            + [check_audit_checkpoints()]
        )
    migrations = check_migrations(alias)
    jobs = check_jobs(alias)
    keys = check_keys() if not migrations.failed else Check("keys", SKIPPED, "migrations not applied")
    return [database, migrations, jobs, keys, check_audit_checkpoints()]


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


def live(request: HttpRequest) -> HttpResponse:
    return _no_store(JsonResponse({"status": OK}))


def ready(request: HttpRequest) -> HttpResponse:
    checks = readiness()
    failing = [c.name for c in checks if c.failed]
    payload = {
        "status": "unavailable" if failing else OK,
        "failing": failing,
        "checks": {c.name: c.as_json() for c in checks},
    }
    return _no_store(JsonResponse(payload, status=503 if failing else 200))


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/health/live": live,
    "/health/ready": ready,
    "/healthz": live,
}


class HealthProbeMiddleware:
    """Answers the probe addresses before host validation, the HTTPS redirect, sessions and sign-in."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/") or "/"
        probe = PROBES.get(path)
        if probe is not None and request.method in ("GET", "HEAD"):
            request.health_probe = path  # type: ignore[attr-defined]  # for the request log
            return probe(request)
        return self.get_response(request)
