"""Report snapshots: each report is computed once per data change, off the request path, and stored.

A scope is one report as one audience sees it:

    national                 the national benchmarking page (always suppressed)
    site:<id>                a site's governance dashboard as the site sees it
    site:<id>:suppressed     the same dashboard as national viewers see it (small counts hidden)
    prom:all                 the PROM reports page (/prom/reports/) over every site
    prom:<id>[,<id>...]      the same page over these sites (a viewer's sites, sorted)

Pages call ``latest(scope)``: the newest stored snapshot, whether the data (or the date) has moved on since,
and a refresh queued when it has, or when there is none yet. ``refresh_snapshot(scope_key)`` does the work
(a background job; never inside a web request).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

import pdva
from pdva.audit.models import AuditEntry
from pdva.reports.lib import snapshot_codec
from pdva.reports.models import ReportSnapshot, SnapshotRequest

log = logging.getLogger(__name__)

NATIONAL = "national"
PROM_ALL = "prom:all"
PROM_PREFIX = "prom:"
JOB_KIND = "reports.refresh_snapshot"  # registered in pdva/jobs/kinds/reports.py
KEEP_PER_SCOPE = 3  # older snapshots are pruned at each refresh
REQUEUE_AFTER = dt.timedelta(minutes=30)  # a request older than this (a lost job) is queued again

# Audit object types whose changes can change a report: clinical records, identities (age), sites,
# operators, PROM scores, sign-offs, and the follow-up schedule (national).
ANALYSIS_TYPE_PREFIX = "registry."
ANALYSIS_TYPES = ("proms.promscore", "capture.casesignoff")
NATIONAL_ANALYSIS_TYPES = ("followup.scheduleadoption",)
# Never stored: live or viewer-specific entries, and values too large to be worth keeping.
NOT_STORED = ("site", "analysis", "sap", "sends", "can_send")


class UnknownScope(ValueError):
    pass


@dataclass(frozen=True)
class Scope:
    key: str
    site_id: int | None  # None: national
    suppress: bool
    kind: str = "report"  # "report" (governance / national pages) or "prom" (the PROM reports page)
    site_ids: tuple[int, ...] | None = None  # prom scopes: the sites (None: every site)


def site_scope(site_id: int, *, suppress: bool) -> Scope:
    return parse_scope(f"site:{int(site_id)}{':suppressed' if suppress else ''}")


def national_scope() -> Scope:
    return Scope(NATIONAL, None, True)


def prom_scope(site_ids: Iterable[int] | None) -> Scope:
    """The PROM reports page over these sites (None: every site)."""
    if site_ids is None:
        return parse_scope(PROM_ALL)
    return parse_scope(PROM_PREFIX + ",".join(str(int(i)) for i in sorted(set(site_ids))))


def parse_scope(key: str) -> Scope:
    if key == NATIONAL:
        return national_scope()
    if key == PROM_ALL:
        return Scope(key, None, False, kind="prom", site_ids=None)
    if key.startswith(PROM_PREFIX):
        ids = key.removeprefix(PROM_PREFIX).split(",")
        if ids and all(i.isdigit() for i in ids):
            site_ids = tuple(int(i) for i in ids)
            if list(site_ids) == sorted(set(site_ids)):
                return Scope(key, None, False, kind="prom", site_ids=site_ids)
    parts = key.split(":")
    if parts[0] == "site" and len(parts) in (2, 3) and parts[1].isdigit():
        if len(parts) == 2:
            return Scope(key, int(parts[1]), False)
        if parts[2] == "suppressed":
            return Scope(key, int(parts[1]), True)
    raise UnknownScope(
        f"unknown report scope {key!r}: use 'national', 'site:<id>', 'site:<id>:suppressed', 'prom:all' "
        "or 'prom:<id>,<id>' (sorted site ids)"
    )


def _last_seq(entries: Any) -> int:
    return entries.order_by("-seq").values_list("seq", flat=True).first() or 0


def data_version(scope: Scope) -> int:
    """The last audit sequence number of a change the scope's report depends on (0: none yet)."""
    analysed = Q(object_type__startswith=ANALYSIS_TYPE_PREFIX) | Q(object_type__in=ANALYSIS_TYPES)
    # Rare entries: found through the object-type index. "seq + 0" stops PostgreSQL turning MAX(seq) into a
    # newest-first walk of the whole log looking for one.
    national = (
        AuditEntry.objects.filter(object_type__in=NATIONAL_ANALYSIS_TYPES).aggregate(m=Max(F("seq") + 0))["m"]
        or 0
    )
    if scope.kind == "prom" and scope.site_ids is not None:
        return max(
            [national] + [_last_seq(AuditEntry.objects.filter(analysed, site_id=i)) for i in scope.site_ids]
        )
    if scope.site_id is None:
        return max(_last_seq(AuditEntry.objects.filter(analysed)), national)
    # Newest first along (site_id, seq): stops at the site's latest analysed change.
    return max(_last_seq(AuditEntry.objects.filter(analysed, site_id=scope.site_id)), national)


def today_uk() -> dt.date:
    return timezone.localdate()


def compute(scope: Scope, cutoff: dt.date) -> dict[str, Any]:
    """The report context of a scope on ``cutoff`` (the expensive part: the whole endpoint analysis)."""
    if scope.kind == "prom":
        from pdva.proms.services.reports import prom_context

        return prom_context(None if scope.site_ids is None else list(scope.site_ids), cutoff)
    if scope.site_id is None:
        from pdva.reports.services.national import national_report

        context = national_report(cutoff=cutoff)
    else:
        from pdva.registry.models import Site
        from pdva.reports.services.site import site_report

        site = Site.objects.get(pk=scope.site_id)
        context = site_report(site, cutoff=cutoff, suppress=scope.suppress)
    return {k: v for k, v in context.items() if k not in NOT_STORED}


FRAGMENTS = {
    "site": {"intro": "reports/_dashboard_intro.html", "body": "reports/_dashboard_body.html"},
    "national": {"intro": "reports/_national_intro.html", "body": "reports/_national_body.html"},
    "prom": {"body": "proms/_reports_body.html"},
}


def render_fragments(scope: Scope, context: dict[str, Any]) -> dict[str, str]:
    """The computed parts of the scope's page as HTML: rendering thousands of template nodes once per
    snapshot instead of once per page view."""
    from django.template.loader import render_to_string

    from pdva.reports.services.common import sap_context

    if scope.kind == "prom":
        from pdva.proms.services.reports import prom_fragment_context

        full = prom_fragment_context(context)
        return {name: render_to_string(t, full) for name, t in FRAGMENTS["prom"].items()}
    templates = FRAGMENTS["national" if scope.site_id is None else "site"]
    full = {**context, "sap": sap_context()}
    if scope.site_id is not None:
        from pdva.registry.models import Site

        full["site"] = Site.objects.get(pk=scope.site_id)
    return {name: render_to_string(template, full) for name, template in templates.items()}


def refresh_snapshot(scope_key: str) -> ReportSnapshot:
    """Compute and store the scope's report now. Runs as a background job (or from ``pdva snapshots``)."""
    scope = parse_scope(scope_key)
    started = timezone.now()
    SnapshotRequest.objects.filter(scope_key=scope.key).update(started_at=started)
    # Read the version before the data: a change made during the computation leaves the snapshot stale
    # (refreshed again), never marked fresh without it.
    version = data_version(scope)
    clock = time.perf_counter()
    try:
        context = compute(scope, today_uk())
        payload = snapshot_codec.dumps(context)
        # From the stored form, so the page shows exactly what a later reader of the payload would.
        fragments = render_fragments(scope, snapshot_codec.loads(payload))
    except Exception as exc:
        SnapshotRequest.objects.filter(scope_key=scope.key).update(
            error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    with transaction.atomic():
        snapshot = ReportSnapshot.objects.create(
            scope_key=scope.key,
            as_of=started,
            data_version=version,
            cutoff=today_uk(),
            payload=payload,
            fragments=fragments,
            seconds=time.perf_counter() - clock,
            software_version=pdva.__version__,
        )
        old = ReportSnapshot.objects.filter(scope_key=scope.key).order_by("-as_of", "-pk")[KEEP_PER_SCOPE:]
        ReportSnapshot.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()
        # Done: a request made after this computation started stays, so its newer data is picked up.
        SnapshotRequest.objects.filter(scope_key=scope.key, requested_at__lte=started).delete()
    log.info("report snapshot %s computed in %.1f s", scope.key, snapshot.seconds)
    return snapshot


# --- queueing ------------------------------------------------------------------------------------------


def _dispatch(scope_key: str, run_after: dt.datetime | None = None) -> None:
    """Hand the refresh to the job queue (pdva.jobs, kind "reports.refresh_snapshot"). Without it the
    request row is the queue, run by ``pdva snapshots --pending``. A queue that refuses leaves the error on
    the request, so the page says so and the next view queues it again."""
    from django.apps import apps

    if not apps.is_installed("pdva.jobs"):
        return
    try:
        from pdva.jobs.services import enqueue

        enqueue(JOB_KIND, scope_key=scope_key, run_after=run_after)
    except Exception as exc:
        log.exception("could not queue the refresh of report snapshot %s", scope_key)
        SnapshotRequest.objects.filter(scope_key=scope_key).update(
            error=f"not queued: {type(exc).__name__}: {exc}"[:2000]
        )


def _next_refresh(last_as_of: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """When a refresh may start after a snapshot that started at ``last_as_of`` (None: now):
    PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS later, so a stream of changes costs one computation per interval."""
    interval = settings.PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS
    if not interval or last_as_of is None:
        return None
    due = last_as_of + dt.timedelta(seconds=interval)
    return due if due > now else None


def refresh_not_before(scope_key: str, now: dt.datetime) -> dt.datetime | None:
    """When the scope's next refresh may start (None: now), from its newest snapshot."""
    last = (
        ReportSnapshot.objects.filter(scope_key=scope_key)
        .order_by("-as_of", "-pk")
        .values_list("as_of", flat=True)
        .first()
    )
    return _next_refresh(last, now)


def queue_refresh(scope_key: str) -> bool:
    """Ask for a refresh of the scope unless one is already waiting; True when a new one was queued."""
    now = timezone.now()
    pending = SnapshotRequest.objects.filter(scope_key=scope_key).first()
    if pending is not None:
        if now - pending.requested_at < REQUEUE_AFTER and not pending.error:
            return False
        pending.requested_at, pending.started_at, pending.error = now, None, ""
        pending.save(update_fields=["requested_at", "started_at", "error"])
    else:
        try:
            with transaction.atomic():
                SnapshotRequest.objects.create(scope_key=scope_key, requested_at=now)
        except IntegrityError:  # another request queued it a moment ago
            return False
    _dispatch(scope_key, refresh_not_before(scope_key, now))
    return True


def run_pending(limit: int | None = None) -> tuple[list[str], list[str]]:
    """Refresh every scope with a waiting request, oldest first (the job-less runner): (done, failed).
    A failure is kept on its request (shown on the page) and the others still run."""
    keys = list(SnapshotRequest.objects.order_by("requested_at").values_list("scope_key", flat=True))
    done, failed = [], []
    for key in keys[:limit] if limit else keys:
        try:
            refresh_snapshot(key)
        except UnknownScope:
            SnapshotRequest.objects.filter(scope_key=key).delete()
        except Exception:
            log.exception("report snapshot %s failed", key)
            failed.append(key)
        else:
            done.append(key)
    return done, failed


# --- reading -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotView:
    """What a page needs: the stored page parts (None while the first one is computed) and freshness."""

    scope_key: str
    fragments: dict[str, str] | None
    as_of: dt.datetime | None
    cutoff: dt.date | None
    stale_data: bool  # the data changed after the computation started
    stale_date: bool  # computed on an earlier day (follow-up time and censoring move with the date)
    queued: bool  # a refresh is waiting or running
    error: str  # the last refresh failed with this
    refresh_at: dt.datetime | None = None  # the queued refresh waits until then (the minimum interval)

    @property
    def stale(self) -> bool:
        return self.stale_data or self.stale_date

    @property
    def refresh_interval(self) -> str:
        """The minimum interval in words, for the page."""
        seconds = settings.PDVA_SNAPSHOT_MIN_INTERVAL_SECONDS
        if seconds % 60:
            return f"{seconds} seconds"
        return "minute" if seconds == 60 else f"{seconds // 60} minutes"

    @property
    def ready(self) -> bool:
        return self.fragments is not None


def _newest(scope: Scope) -> ReportSnapshot | None:
    return (
        ReportSnapshot.objects.filter(scope_key=scope.key)
        .order_by("-as_of", "-pk")
        .only("as_of", "data_version", "cutoff", "fragments")
        .first()
    )


def latest(scope: Scope, *, queue: bool = True) -> SnapshotView:
    """The newest snapshot of the scope; queues a refresh when there is none or it is out of date."""
    snapshot = _newest(scope)
    # Read before queueing again, which clears it: the page says why the last attempt failed.
    error = SnapshotRequest.objects.filter(scope_key=scope.key).values_list("error", flat=True).first() or ""
    stale_data = stale_date = False
    if snapshot is not None:
        stale_data = data_version(scope) > snapshot.data_version
        stale_date = snapshot.cutoff < today_uk()
    if queue and (snapshot is None or stale_data or stale_date) and queue_refresh(scope.key):
        # A queue that runs jobs at once (the test suite's, `inline`) has just refreshed it.
        newer = _newest(scope)
        if newer is not None and (snapshot is None or newer.pk != snapshot.pk):
            snapshot = newer
            stale_data = data_version(scope) > snapshot.data_version
            stale_date = snapshot.cutoff < today_uk()
    request = SnapshotRequest.objects.filter(scope_key=scope.key).first()
    if request is not None and request.error:
        error = request.error
    return SnapshotView(
        scope_key=scope.key,
        fragments=snapshot.fragments if snapshot is not None else None,
        as_of=snapshot.as_of if snapshot is not None else None,
        cutoff=snapshot.cutoff if snapshot is not None else None,
        stale_data=stale_data,
        stale_date=stale_date,
        queued=request is not None,
        error=error,
        refresh_at=_next_refresh(snapshot.as_of if snapshot else None, timezone.now())
        if request is not None
        else None,
    )


def stored_context(scope: Scope) -> dict[str, Any] | None:
    """The newest snapshot's report context (for documents built from it), or None."""
    payload = (
        ReportSnapshot.objects.filter(scope_key=scope.key)
        .order_by("-as_of", "-pk")
        .values_list("payload", flat=True)
        .first()
    )
    return snapshot_codec.loads(payload) if payload is not None else None
