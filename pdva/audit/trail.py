"""The audit trail as auditors and governance leads read it: who may see which entries, filters, pages.

Reach: a national auditor (VIEW_NATIONAL) sees every entry, including those of no site (accounts,
reference data); a governance lead (MANAGE_GOVERNANCE) sees the entries of their sites; anyone else sees
nothing (fails closed). Values of identifier fields never appear here: the trail stores them redacted.
Pages go by sequence number (newest first, ``before=<seq>``), so no page counts a million-entry table.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from pdva.accounts.access import site_ids_for
from pdva.accounts.roles import Cap
from pdva.audit.models import AuditEntry

UK = zoneinfo.ZoneInfo("Europe/London")
PAGE_SIZE = 50


def reach(user: Any) -> set[int] | None:
    """Site ids whose entries ``user`` may read; None: every entry; empty: none."""
    if site_ids_for(user, Cap.VIEW_NATIONAL) is None:
        return None
    return site_ids_for(user, Cap.MANAGE_GOVERNANCE) or set()


def may_read(user: Any) -> bool:
    ids = reach(user)
    return ids is None or bool(ids)


@dataclass(frozen=True)
class TrailFilter:
    site_ids: list[int] | None = None  # chosen sites (within reach)
    actor: str = ""  # username or label, exact (case-insensitive)
    action: str = ""  # an action or its namespace: "registry.followupvisit" or "accounts."
    object_type: str = ""
    object_id: str = ""
    date_from: dt.date | None = None  # UK calendar dates, inclusive
    date_to: dt.date | None = None


def _uk_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=UK)


def entries(user: Any, f: TrailFilter) -> QuerySet[AuditEntry]:
    """The entries ``user`` may read that match ``f``, newest first."""
    ids = reach(user)
    qs = AuditEntry.objects.all()
    if ids is not None:
        qs = qs.filter(site_id__in=sorted(ids)) if ids else qs.none()
    if f.site_ids is not None:
        qs = qs.filter(site_id__in=f.site_ids)
    if f.actor:
        qs = qs.filter(actor_label__iexact=f.actor.strip())
    if f.action:
        action = f.action.strip()
        qs = qs.filter(Q(action=action) | Q(action__startswith=action.rstrip(".") + "."))
    if f.object_type:
        qs = qs.filter(object_type=f.object_type.strip())
    if f.object_id:
        qs = qs.filter(object_id=f.object_id.strip())
    if f.date_from:
        qs = qs.filter(timestamp__gte=_uk_midnight(f.date_from))
    if f.date_to:
        qs = qs.filter(timestamp__lt=_uk_midnight(f.date_to + dt.timedelta(days=1)))
    return qs.order_by("-seq")


def page(
    qs: QuerySet[AuditEntry], before: int | None, size: int = PAGE_SIZE
) -> tuple[list[AuditEntry], int | None]:
    """One page of entries older than ``before`` (or the newest), and the ``before`` of the next page."""
    if before is not None:
        qs = qs.filter(seq__lt=before)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].seq if more and rows else None)


EXPORT_HEADER = (
    "seq",
    "timestamp_utc",
    "actor",
    "action",
    "object_type",
    "object_id",
    "site_id",
    "reason",
    "changed_fields",
    "entry_hash",
)


def export_rows(qs: QuerySet[AuditEntry], chunk: int = 2000) -> Iterator[tuple[Any, ...]]:
    """The filtered trail for a CSV file, oldest first, streamed from the database (memory bounded)."""
    fields = ("seq", "timestamp", "actor_label", "action", "object_type", "object_id", "site_id", "reason")
    rows = qs.order_by("seq").values_list(*fields, "before", "after", "entry_hash").iterator(chunk_size=chunk)
    for seq, ts, actor, action, otype, oid, site, reason, before, after, entry_hash in rows:
        changed = sorted(
            name
            for name in set(before or {}) | set(after or {})
            if (before or {}).get(name) != (after or {}).get(name)
        )
        yield (
            seq,
            ts.astimezone(dt.UTC).isoformat(),
            actor,
            action,
            otype,
            oid,
            site,
            reason,
            " ".join(changed),
            entry_hash,
        )
