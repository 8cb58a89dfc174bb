from django.contrib import admin

from pdva.accounts.models import Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "site", "active")
    list_filter = ("role", "site", "active")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        obj.save(reason="changed in administration screens")
