"""Upload forms for linkage and case ascertainment."""

from __future__ import annotations

from django import forms

from pdva.followup.models import LinkageBatch

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def read_text(upload) -> str:  # type: ignore[no-untyped-def]
    if upload.size > MAX_UPLOAD_BYTES:
        raise forms.ValidationError("the file is larger than 20 MB")
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise forms.ValidationError("the file is not UTF-8 text (save it as CSV UTF-8)") from exc


class LinkageUploadForm(forms.Form):
    kind = forms.ChoiceField(choices=LinkageBatch.KIND_CHOICES)
    file = forms.FileField(
        help_text="Deaths: nhs_number, date_of_death[, underlying_cause_icd10]. "
        "Episodes: nhs_number, episode_date, opcs_codes[, laterality]."
    )

    def clean_file(self) -> str:
        return read_text(self.cleaned_data["file"])


class AscertainmentUploadForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None)  # type: ignore[arg-type]
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    file = forms.FileField(help_text="CSV: nhs_number, procedure_date, limb[, opcs_code]")

    def __init__(self, *args, sites=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites

    def clean_file(self) -> str:
        return read_text(self.cleaned_data["file"])

    def clean(self) -> dict:
        data = super().clean()
        if data.get("period_start") and data.get("period_end") and data["period_start"] > data["period_end"]:
            self.add_error("period_end", "the period ends before it starts")
        return data


class RejectForm(forms.Form):
    note = forms.CharField(max_length=500)
