"""Walk the whole audit chain from the database."""

from __future__ import annotations

from django.conf import settings

from pdva.audit import chain
from pdva.audit.models import AuditEntry

FIELDS = (*chain.HASHED_FIELDS, "prev_hash", "entry_hash", "seal")


def verify_chain(batch_size: int = 5000) -> int:
    """Return the number of entries verified; raise chain.ChainBreak naming the first bad entry."""
    rows = AuditEntry.objects.order_by("seq").values(*FIELDS).iterator(chunk_size=batch_size)
    try:
        return chain.verify_entries(rows, settings.PDVA_AUDIT_KEY)
    finally:
        rows.close()  # release the cursor even when the walk stops at a broken entry
