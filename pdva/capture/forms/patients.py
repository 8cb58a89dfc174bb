"""Finding and registering a patient, and the patient's own (non-identifying) details."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from pdva.capture.forms.base import CaptureForm
from pdva.registry import models as m
from pdva.registry.choices import Ethnicity, Sex
from pdva.registry.models.patients import normalise_nhs_number


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Registry ID or NHS number",
        max_length=40,
        required=False,
        help_text="Registry IDs look like PD-ABCD-2345. Only roles that may see identifiers can search by NHS number.",
    )


class RegisterForm(forms.Form):
    """New patient: pseudonymous record plus identifiers (kept encrypted in PatientIdentity)."""

    site = forms.ModelChoiceField(queryset=m.Site.objects.none(), label="Treating site")
    nhs_number = forms.CharField(label="NHS number", max_length=14, help_text="10 digits, e.g. 943 476 5919")
    given_name = forms.CharField(label="Given name", max_length=100)
    family_name = forms.CharField(label="Family name", max_length=100)
    date_of_birth = forms.DateField(label="Date of birth", widget=forms.DateInput(attrs={"type": "date"}))
    postcode = forms.CharField(label="Postcode", max_length=10, required=False)
    sex = forms.ChoiceField(label="Sex", choices=Sex.choices)
    ethnicity = forms.ChoiceField(label="Ethnicity", choices=Ethnicity.choices, initial="not_known")
    national_data_opt_out = forms.BooleanField(
        label="National data opt-out applies",
        required=False,
        help_text="Excludes the patient from linkage and research exports",
    )
    confirm_other_site = forms.BooleanField(
        label="The patient is also registered at another site: register them here as well",
        required=False,
    )

    def __init__(self, *args: Any, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if sites.count() == 1:
            self.fields["site"].initial = sites.first()
        self.duplicate_here: m.Patient | None = None
        self.duplicate_elsewhere = False

    def clean_nhs_number(self) -> str:
        try:
            return normalise_nhs_number(self.cleaned_data["nhs_number"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict["nhs_number"][0]) from exc

    def clean_date_of_birth(self) -> dt.date:
        dob = self.cleaned_data["date_of_birth"]
        if dob > dt.date.today():
            raise forms.ValidationError("Date of birth cannot be in the future")
        if dob < dt.date.today().replace(year=dt.date.today().year - 120):
            raise forms.ValidationError("Date of birth is more than 120 years ago")
        return dob


class PatientForm(CaptureForm):
    fieldsets = [("Patient", ["sex", "ethnicity", "imd_decile", "national_data_opt_out", "withdrawn_date"])]
    mandatory = ("sex",)

    class Meta:
        model = m.Patient
        fields = ["sex", "ethnicity", "imd_decile", "national_data_opt_out", "withdrawn_date"]
