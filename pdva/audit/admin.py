from django.contrib import admin

from pdva.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only view of the audit trail (the table itself refuses updates and deletes)."""

    list_display = ("seq", "timestamp", "actor_label", "action", "object_type", "object_id", "site_id")
    list_filter = ("action",)
    search_fields = ("object_id", "actor_label")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
