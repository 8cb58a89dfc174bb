"""Staff forms for PROM links and licensed labels."""

from __future__ import annotations

import json

from django import forms

from pdva.proms.services.labels import INSTRUMENT_NAMES
from pdva.registry.choices import Timepoint

INSTRUMENT_CHOICES = list(INSTRUMENT_NAMES.items())


class IssueLinkForm(forms.Form):
    registry_id = forms.CharField(label="Patient registry ID", max_length=20)
    timepoint = forms.ChoiceField(choices=Timepoint.choices)
    timepoint_year = forms.IntegerField(required=False, min_value=2, label="Year (annual time points)")
    instruments = forms.MultipleChoiceField(
        choices=INSTRUMENT_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["eq5d5l", "vascuqol6"]
    )
    channel = forms.ChoiceField(
        choices=[
            ("print", "Print a QR code to hand to the patient"),
            ("email", "Email the link to the patient"),
        ],
        widget=forms.RadioSelect,
        initial="print",
    )
    email = forms.EmailField(required=False, label="Patient's email address (email only)")

    def clean(self) -> dict:
        data = super().clean()
        if data.get("channel") == "email" and not data.get("email"):
            self.add_error("email", "Give the patient's email address to send the link")
        if data.get("timepoint") == "annual" and not data.get("timepoint_year"):
            self.add_error("timepoint_year", "Say which year after the procedure this annual time point is")
        return data


class LabelUploadForm(forms.Form):
    instrument = forms.ChoiceField(choices=INSTRUMENT_CHOICES)
    licence_reference = forms.CharField(max_length=200, help_text="Licence or written permission reference")
    labels_file = forms.FileField(help_text='JSON: {"MO": {"text": "...", "levels": {"1": "...", ...}}, ...}')

    def clean_labels_file(self) -> dict:
        raw = self.cleaned_data["labels_file"].read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise forms.ValidationError("the file must hold one JSON object of item code -> label")
        return data
