from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse

from pdva.accounts.models import Membership
from pdva.accounts.services import activation


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "site", "active")
    list_filter = ("role", "site", "active")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        obj.save(reason="changed in administration screens")


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class RegistryUserAdmin(UserAdmin):
    """Django's user screens, plus issuing the one-time code a new user needs to set up two-factor sign-in.
    Every change made here is audited (pdva.accounts.signals)."""

    actions = ["issue_activation_codes", "email_activation_links"]

    @admin.action(description="Issue a two-factor activation code (shown once)")
    def issue_activation_codes(self, request: Any, queryset: Any) -> Any:
        issued = [(user, activation.issue(user)) for user in queryset.order_by("username")]
        return TemplateResponse(
            request,
            "accounts/admin_activation_codes.html",
            {
                **self.admin_site.each_context(request),
                "title": "Two-factor activation codes",
                "issued": [(user, code, raw, activation.activation_url(raw)) for user, (code, raw) in issued],
            },
        )

    @admin.action(description="Email a two-factor activation link to each user")
    def email_activation_links(self, request: Any, queryset: Any) -> None:
        for user in queryset.order_by("username"):
            if not user.email:
                self.message_user(request, f"{user.username}: no email address", messages.ERROR)
                continue
            _, raw = activation.issue(user)
            try:
                activation.email_code(user, raw)
            except Exception as exc:
                self.message_user(
                    request,
                    f"{user.username}: the mail could not be sent ({exc}); issue a code here instead",
                    messages.ERROR,
                )
            else:
                self.message_user(request, f"{user.username}: activation link sent to their address")
