"""The audit trail's filter form (GET): every field optional, each error named on its field."""

from __future__ import annotations

from typing import Any

from django import forms

from pdva.audit.trail import TrailFilter
from pdva.registry.models import Site


class TrailFilterForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label="All your sites")
    actor = forms.CharField(required=False, max_length=150, label="User", help_text="username, exactly")
    action = forms.CharField(
        required=False, max_length=100, help_text="an action or its start, e.g. registry.followupvisit"
    )
    object_type = forms.CharField(required=False, max_length=100, label="Record type")
    object_id = forms.CharField(required=False, max_length=64, label="Record id")
    date_from = forms.DateField(
        required=False, label="From (UK date)", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To (UK date)", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, sites: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def trail_filter(self) -> TrailFilter:
        d = self.cleaned_data
        return TrailFilter(
            site_ids=[d["site"].pk] if d.get("site") else None,
            actor=d.get("actor") or "",
            action=d.get("action") or "",
            object_type=d.get("object_type") or "",
            object_id=d.get("object_id") or "",
            date_from=d.get("date_from"),
            date_to=d.get("date_to"),
        )
