"""Administration screens for reference data: sites, governance and operators.

Clinical records are entered in the capture screens, not here.
"""

from django.contrib import admin

from pdva.registry.models import Operator, Site, SiteGovernance


class AuditedAdmin(admin.ModelAdmin):
    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        obj.save(reason="changed in administration screens")

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ("ods_code", "name", "region", "active")
    search_fields = ("ods_code", "name")


@admin.register(SiteGovernance)
class SiteGovernanceAdmin(AuditedAdmin):
    list_display = (
        "site",
        "governance_lead_informed_date",
        "local_approval_reference",
        "local_approval_date",
    )


@admin.register(Operator)
class OperatorAdmin(AuditedAdmin):
    list_display = ("code", "display_name", "site", "role", "training_documented")
    list_filter = ("site", "role")
