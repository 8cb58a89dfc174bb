"""Sign-in with a password, then a TOTP code. The first authenticator is set up only after a one-time
activation code issued to the user; recovery codes stand in for a lost authenticator; password reset by email."""

from __future__ import annotations

import base64
import io
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.accounts.forms import ActivationForm, PasswordAgainForm, RegistryPasswordResetForm, TokenForm
from pdva.accounts.models import RoleGrantNotice
from pdva.accounts.redirects import safe_next
from pdva.accounts.services import activation, grants, recovery
from pdva.accounts.services.lockout import ReauthFailed, count_failure, is_locked_out, reauthenticate
from pdva.audit.context import audit_context
from pdva.audit.models import record

JUST_ENROLLED = "pdva_just_enrolled"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def _qr_data_uri(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url).save(buf, kind="png", scale=5)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _setup_context(device: TOTPDevice) -> dict[str, str]:
    """What a page shows to add an unconfirmed device to an authenticator app: QR code and typed key."""
    return {"qr": _qr_data_uri(device.config_url), "secret": base64.b32encode(device.bin_key).decode()}


def _discard_unconfirmed(user: Any) -> None:
    """A key shown in an earlier, abandoned set-up is never reused: the next set-up gets a new key."""
    for stale in TOTPDevice.objects.filter(user=user, confirmed=False):
        stale.delete()


def _activated(request: HttpRequest) -> bool:
    return bool(request.session.get(activation.SESSION_KEY))


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if confirmed is None and not _activated(request):
        # Trust on first use is refused: the password alone never shows a secret.
        return render(
            request,
            "accounts/activation_needed.html",
            {"form": ActivationForm(), "next": safe_next(request)},
        )
    device = confirmed or TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        with audit_context(user):
            device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if is_locked_out(user, request):
            return redirect("accounts:login")  # the lockout page replaces this (axes middleware)
        token = form.cleaned_data["token"]
        with audit_context(user):
            if form.is_recovery_code and device.confirmed and recovery.use(user, token):
                otp_login(request, device)
                left = recovery.remaining(user)
                messages.warning(request, f"Signed in with a recovery code; {left} left.")
                return redirect(safe_next(request))
            if not form.is_recovery_code and device.verify_token(token):
                if not device.confirmed:
                    device.confirmed = True
                    device.save()
                    record("accounts.two_factor.enrolled", object_type="auth.user", object_id=user.pk)
                    request.session.pop(activation.SESSION_KEY, None)
                    otp_login(request, device)
                    request.session[JUST_ENROLLED] = True
                    return redirect("accounts:recovery_codes")
                otp_login(request, device)
                return redirect(safe_next(request))
        count_failure(user, request)
        if getattr(request, "axes_locked_out", False):
            return redirect("accounts:login")
        form.add_error("token", "That code is not valid. Check your device's clock and try again.")
    context: dict[str, Any] = {"form": form, "setting_up": not device.confirmed}
    if not device.confirmed:
        context.update(_setup_context(device))
    return render(request, "accounts/two_factor.html", context)


REPLACING = "pdva_replacing_device"  # session: the new, not yet confirmed device of a replacement


@login_required
@require_http_methods(["GET", "POST"])
def replace_authenticator(request: HttpRequest) -> HttpResponse:
    """Move to a new authenticator (a new phone) without an administrator: signed in with the second
    factor (the old app or a recovery code), the password again, then a code from the new app. The old
    device keeps working until the new one has proved itself; then it is removed."""
    user: Any = request.user
    if not user.is_verified():
        return redirect("accounts:two_factor")
    new = TOTPDevice.objects.filter(user=user, confirmed=False, pk=request.session.get(REPLACING)).first()
    if new is None:
        form: Any = PasswordAgainForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reauthenticate(user, password=form.cleaned_data["password"])
            except ReauthFailed as failed:
                if getattr(request, "axes_locked_out", False) or is_locked_out(user, request):
                    return redirect("accounts:login")
                form.add_error("password", failed.message)
            else:
                with audit_context(user):
                    _discard_unconfirmed(user)
                    new = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
                request.session[REPLACING] = new.pk
                return redirect("accounts:replace_authenticator")
        return render(request, "accounts/replace_authenticator.html", {"form": form, "step": "password"})
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if is_locked_out(user, request):
            return redirect("accounts:login")
        with audit_context(user):
            if not form.is_recovery_code and new.verify_token(form.cleaned_data["token"]):
                new.confirmed = True
                new.save()
                for old in TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=new.pk):
                    old.delete()
                record("accounts.two_factor.replaced", object_type="auth.user", object_id=user.pk)
                request.session.pop(REPLACING, None)
                otp_login(request, new)
                messages.success(request, "Your new authenticator is set up; the old one no longer works.")
                return redirect("web:home")
        count_failure(user, request)
        if getattr(request, "axes_locked_out", False):
            return redirect("accounts:login")
        form.add_error("token", "That code is not valid: enter the six-digit code your new app shows.")
    context = {"form": form, "step": "code", **_setup_context(new)}
    return render(request, "accounts/replace_authenticator.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def activate(request: HttpRequest, code: str = "") -> HttpResponse:
    """Redeem an activation code (typed, or from the emailed link: the link's page asks to confirm, so a
    mail scanner that opens it does not use it up)."""
    user: Any = request.user
    form = ActivationForm(request.POST or None, initial={"code": code})
    if request.method == "POST" and form.is_valid():
        if is_locked_out(user, request):
            return redirect("accounts:login")
        try:
            with audit_context(user):
                used = activation.redeem(user, form.cleaned_data["code"])
                _discard_unconfirmed(user)
        except activation.ActivationRefused as refused:
            count_failure(user, request)
            if getattr(request, "axes_locked_out", False):
                return redirect("accounts:login")
            form.add_error("code", str(refused))
        else:
            request.session[activation.SESSION_KEY] = used.pk
            return redirect("accounts:two_factor")
    return render(request, "accounts/activate.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Show how many codes are left; generate a new set (shown once). Needs a verified session."""
    user: Any = request.user
    if not user.is_verified():
        return redirect("accounts:two_factor")
    codes: list[str] = []
    just_enrolled = request.session.pop(JUST_ENROLLED, False)
    if request.method == "POST" or (just_enrolled and recovery.remaining(user) == 0):
        with audit_context(user):
            codes = recovery.generate(user)
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "remaining": recovery.remaining(user), "just_enrolled": just_enrolled},
    )


@login_required
@require_POST
def acknowledge_grant(request: HttpRequest, pk: int) -> HttpResponse:
    notice = get_object_or_404(RoleGrantNotice, pk=pk, acknowledged_at__isnull=True)
    if not grants.open_notices_for(request.user).filter(pk=notice.pk).exists():
        raise Http404
    approve = request.POST.get("decision", "approve") != "refuse"
    try:
        with audit_context(request.user):
            grants.acknowledge(notice, request.user, approve=approve)
    except grants.SecondPersonRequired as refused:
        messages.error(request, str(refused))
    else:
        if notice.needs_approval:
            messages.success(request, "Role approved: it is now in effect." if approve else "Role refused.")
        else:
            messages.success(request, "Noted.")
    return redirect(safe_next(request))


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    form_class = RegistryPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")

    def get_extra_email_context(self) -> dict[str, Any]:
        return {"base_url": settings.PDVA_PUBLIC_BASE_URL.rstrip("/")}

    def form_valid(self, form: Any) -> HttpResponse:
        self.extra_email_context = self.get_extra_email_context()
        with audit_context(label="anonymous:password-reset-form"):
            for user in form.get_users(form.cleaned_data["email"]):
                record("accounts.password_reset.requested", object_type="auth.user", object_id=user.pk)
            return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        # The person holding the emailed link acts as that user (the password change is then audited).
        with audit_context(self.user, label=f"{self.user.get_username()} (password reset link)"):
            response = super().form_valid(form)
            record("accounts.password_reset.completed", object_type="auth.user", object_id=self.user.pk)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


class LogoutView(auth_views.LogoutView):
    pass
