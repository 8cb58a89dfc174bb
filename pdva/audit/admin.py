from typing import Any

from django.contrib import admin

from pdva.audit.models import AuditEntry

# What the system administrator may see of an entry: who, when, what kind of change to which record, why.
# Never 'before' and 'after': they hold clinical values and (fingerprinted) identifiers, which the
# administrator's role does not include (README: "no clinical records"); auditors read them elsewhere.
METADATA_FIELDS = (
    "seq",
    "timestamp",
    "actor_label",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "site_id",
    "reason",
    "entry_hash",
)
HIDDEN_FIELDS = ("before", "after")


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only view of the audit trail's metadata (the table itself refuses updates and deletes)."""

    list_display = ("seq", "timestamp", "actor_label", "action", "object_type", "object_id", "site_id")
    list_filter = ("action",)
    search_fields = ("object_id", "actor_label")
    fields = METADATA_FIELDS
    readonly_fields = METADATA_FIELDS
    show_full_result_count = False  # a count of a million-row table per page view is not needed

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        # The clinical columns are not even read for these pages.
        return super().get_queryset(request).defer(*HIDDEN_FIELDS)

    def lookup_allowed(self, lookup: str, value: Any, request: Any = None) -> bool:
        # ?after__notes__contains=... would turn the list into an oracle for the hidden values.
        if lookup.split("__", 1)[0] in HIDDEN_FIELDS:
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_ordering(self, request):  # type: ignore[no-untyped-def]
        return ("-seq",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
