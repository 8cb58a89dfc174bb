"""What the exports app stores: the record of every file imported, so the same file is never loaded twice."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pdva.audit.models import AuditedModel


class ImportBatch(AuditedModel):
    """One committed import: the file's SHA-256 (unique: a second load of the same bytes is refused), who
    loaded it and how many records of each table it created. Written in the import's own transaction, so an
    import that fails or is killed leaves no batch and can simply be run again."""

    KIND_FULL = "full"
    KIND_REDCAP = "redcap"

    site_path = "site"
    sha256 = models.CharField(max_length=64, unique=True)
    source_name = models.CharField(max_length=255)
    kind = models.CharField(
        max_length=20, choices=[(KIND_FULL, "Full export / dictionary CSV"), (KIND_REDCAP, "REDCap")]
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The one site the import wrote to (its audit entry is then scoped to that site); empty for several.
    site = models.ForeignKey(
        "registry.Site", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created = models.JSONField(default=dict, blank=True, help_text="table -> records created")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"import of {self.source_name} ({self.sha256[:12]}…)"

    @property
    def records(self) -> int:
        return sum(self.created.values())
