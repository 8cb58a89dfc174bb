"""Data queries, sign-off, unlock, governance and operators."""

from __future__ import annotations

from typing import Any

from django import forms

from pdva.capture.forms.base import CaptureForm
from pdva.registry import models as m


class OpenQueryForm(forms.Form):
    field_name = forms.ChoiceField(label="Field", required=False)
    question = forms.CharField(
        label="Question for the site", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )

    def __init__(self, *args: Any, field_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field_name"].choices = [("", "The record as a whole")] + field_choices


class AnswerQueryForm(forms.Form):
    # The query's version when the page was opened: an answer written against an older version is refused.
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    response = forms.CharField(label="Your answer", widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class CloseQueryForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    close_note = forms.CharField(
        label="Closing note", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )


class ReauthForm(forms.Form):
    """Re-authentication for signing: the password, or a current authenticator code."""

    password = forms.CharField(
        label="Your password",
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    token = forms.CharField(
        label="Or a six-digit code from your authenticator app",
        required=False,
        max_length=6,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.method = ""

    def clean(self) -> dict[str, Any]:
        from pdva.accounts.services.lockout import ReauthFailed, reauthenticate

        cleaned = super().clean()
        try:  # failures count towards the account lockout (django-axes), as at sign-in
            self.method = reauthenticate(
                self.user, password=cleaned.get("password") or "", token=cleaned.get("token") or ""
            )
        except ReauthFailed as failed:
            self.add_error(failed.field, failed.message)
        return cleaned


class SignOffForm(ReauthForm):
    confirm = forms.BooleanField(
        label="I confirm this case record is complete and accurate to the best of my knowledge"
    )


class UnlockForm(ReauthForm):
    reason = forms.CharField(
        label="Reason for unlocking", widget=forms.Textarea(attrs={"rows": 2}), max_length=1000
    )

    field_order = ["reason", "password", "token"]


class SiteGovernanceForm(CaptureForm):
    fieldsets = [
        (
            "Governance lead (IPG773 1.2)",
            ["governance_lead_name", "governance_lead_email", "governance_lead_informed_date"],
        ),
        (
            "Local approval",
            [
                "local_approval_reference",
                "local_approval_date",
                "registry_participation_date",
                "audit_or_research",
            ],
        ),
        ("Notes", ["notes"]),
    ]
    mandatory = ("governance_lead_name", "governance_lead_informed_date", "local_approval_date")

    class Meta:
        model = m.SiteGovernance
        exclude = ["site"]


class OperatorForm(CaptureForm):
    fieldsets = [
        ("Operator", ["code", "display_name", "professional_registration", "role", "user", "active"]),
        (
            "Training (IPG773 3.7)",
            [
                "training_documented",
                "training_date",
                "training_description",
                "prior_dva_experience_cases",
                "proctoring_completed_date",
            ],
        ),
    ]
    mandatory = ("code", "display_name", "role", "training_documented", "training_date")
    labels_override = {
        "prior_dva_experience_cases": "Prior DVA cases",
        "proctoring_completed_date": "Proctoring completed",
        "professional_registration": "Professional registration (GMC number)",
        "user": "Registry user account (optional)",
    }

    class Meta:
        model = m.Operator
        exclude = ["site"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        site_id = self.instance.site_id
        self.fields["user"].queryset = (
            get_user_model().objects.filter(memberships__site_id=site_id, memberships__active=True).distinct()
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        code = cleaned.get("code")
        if code and self.instance.site_id:
            clash = m.Operator.objects.filter(site_id=self.instance.site_id, code=code).exclude(
                pk=self.instance.pk or 0
            )
            if clash.exists():
                self.add_error("code", "another operator at this site already uses this code")
        return cleaned


class RemoveForm(forms.Form):
    """Confirm removing a record entered in error."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(
        label="Why is this being removed?",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=1000,
        help_text="For example: entered for the wrong patient, or a duplicate of another entry. "
        "Kept in the audit trail.",
        error_messages={"required": "Say why this record is being removed (it is kept in the audit trail)"},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(
                "Say why this record is being removed (it is kept in the audit trail)"
            )
        return reason
