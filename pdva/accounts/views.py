"""Sign-in with a password, then a TOTP code; first sign-in sets up the authenticator."""

from __future__ import annotations

import base64
import io

import segno
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from pdva.accounts.forms import TokenForm
from pdva.audit.context import audit_context
from pdva.audit.models import record


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def _qr_data_uri(url: str) -> str:
    buf = io.BytesIO()
    segno.make(url).save(buf, kind="png", scale=5)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@login_required
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    user = request.user
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    device = confirmed or TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            if not device.confirmed:
                device.confirmed = True
                device.save()
                with audit_context(user):
                    record("accounts.two_factor.enrolled", object_type="auth.user", object_id=user.pk)
            otp_login(request, device)
            return redirect(request.GET.get("next") or "web:home")
        form.add_error("token", "That code is not valid. Check your device's clock and try again.")
    context = {"form": form, "setting_up": not device.confirmed}
    if not device.confirmed:
        context["qr"] = _qr_data_uri(device.config_url)
        context["secret"] = base64.b32encode(device.bin_key).decode()
    return render(request, "accounts/two_factor.html", context)


class LogoutView(auth_views.LogoutView):
    pass
