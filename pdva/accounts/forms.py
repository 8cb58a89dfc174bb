from __future__ import annotations

from django import forms
from django.contrib.auth.forms import PasswordResetForm

from pdva.accounts.services.recovery import looks_like_recovery_code


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Six-digit code from your authenticator app (or one of your recovery codes)",
        min_length=6,
        max_length=24,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if not (len(token) == 6 and token.isdigit()) and not looks_like_recovery_code(token):
            raise forms.ValidationError("The code is six digits (a recovery code is 16 letters and digits)")
        return token

    @property
    def is_recovery_code(self) -> bool:
        return looks_like_recovery_code(self.cleaned_data["token"])


class PasswordAgainForm(forms.Form):
    password = forms.CharField(
        label="Your password", widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class ActivationForm(forms.Form):
    code = forms.CharField(
        label="Activation code from your administrator or your email",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )


class RegistryPasswordResetForm(PasswordResetForm):
    """Django's reset form; a mail that cannot be sent is logged, and the page still says the same thing
    whether or not the address belongs to an account (no user enumeration)."""

    def send_mail(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        import logging

        try:
            super().send_mail(*args, **kwargs)
        except Exception as exc:
            logging.getLogger(__name__).warning("password reset mail not sent (%s)", type(exc).__name__)
