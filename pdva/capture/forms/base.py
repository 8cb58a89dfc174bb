"""The base of every capture form: fieldsets, branching, soft warnings, NICE mandatory items,
reason for change and the loaded version for the concurrent-edit check."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from django import forms
from django.db import models

from pdva.capture.forms.renderer import FAST_RENDERER
from pdva.registry.choices import NOT_KNOWN

EMPTY_VALUES = (None, "", [], {}, NOT_KNOWN)


def is_missing(value: Any) -> bool:
    return value in EMPTY_VALUES


def display_value(model_field: models.Field | None, value: Any) -> str:
    """A stored value as a person reads it: choice labels, dates as '3 Mar 2025', lists joined."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    choices = dict(getattr(model_field, "flatchoices", None) or [])
    multi = getattr(model_field, "_capture_choices", None)
    if isinstance(value, list):
        labels = dict(multi.choices) if multi else {}
        return ", ".join(str(labels.get(v, v)) for v in value)
    if choices:
        return str(choices.get(value, value))
    if isinstance(value, dt.datetime):
        return f"{value:%d %b %Y %H:%M}"
    if isinstance(value, dt.date):
        return f"{value:%d %b %Y}"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


# The same limit as the API's reason for change (pdva.api.schemas.FollowUpPatch.reason).
REASON_MAX_LENGTH = 500


class CaptureForm(forms.ModelForm):
    """Subclasses set Meta.model/fields and the class-level rules below."""

    # Widgets written in Python, the same HTML as Django's templates: the case page renders ~100 of them.
    default_renderer = FAST_RENDERER

    fieldsets: ClassVar[list[tuple[str, list[str]]]] = []
    # field -> (controlling field, values for which it is shown and kept)
    show_when: ClassVar[dict[str, tuple[str, tuple[Any, ...]]]] = {}
    # Mandatory items (NICE IPG773 / data dictionary 'M'): may be saved blank, but the case is incomplete.
    mandatory: ClassVar[tuple[str, ...]] = ()
    labels_override: ClassVar[dict[str, str]] = {}
    control_names = ("version", "reason", "confirm_warnings", "warning_reason")

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(
        label="Reason for change",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required for any change after first entry; it is kept in the audit trail.",
    )
    confirm_warnings = forms.BooleanField(
        required=False, label="I have checked the values flagged above and they are correct"
    )
    warning_reason = forms.CharField(
        required=False, label="How the flagged values were checked", max_length=REASON_MAX_LENGTH
    )

    def __init__(self, *args: Any, parent: Any = None, **kwargs: Any) -> None:
        # Several forms share a page (case page): a prefix per record type keeps ids and names apart.
        kwargs.setdefault("prefix", self._meta.model._meta.model_name)
        super().__init__(*args, **kwargs)
        self.parent = parent
        self.warnings: list[tuple[str, str]] = []
        self.changes: list[tuple[str, str, str]] = []
        self.conflict: dict[str, Any] | None = None
        model = self._meta.model
        multi = getattr(model, "multi_choice_fields", {})
        for name, field in list(self.fields.items()):
            if name in self.control_names:
                continue
            if name in multi:
                self.fields[name] = forms.MultipleChoiceField(
                    label=field.label,
                    choices=multi[name].choices,
                    required=False,
                    widget=forms.CheckboxSelectMultiple,
                    help_text=field.help_text,
                )
                field = self.fields[name]
            if name in self.labels_override:
                field.label = self.labels_override[name]
            elif field.label:
                field.label = field.label[0].upper() + field.label[1:]
            if isinstance(field, forms.DateTimeField):
                field.widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
                field.input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
            elif isinstance(field, forms.DateField):
                field.widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
            elif isinstance(field.widget, forms.Textarea):
                field.widget.attrs["rows"] = 3
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version

    # --- structure for templates ---------------------------------------------------------
    @property
    def is_edit(self) -> bool:
        return bool(self.instance.pk)

    def grouped(self) -> list[tuple[str, list[dict[str, Any]]]]:
        listed = {n for _, names in self.fieldsets for n in names}
        sets = list(self.fieldsets)
        rest = [n for n in self.fields if n not in listed and n not in self.control_names]
        if rest:
            sets.append(("Other details", rest))
        missing = {n for n, _ in self.missing_mandatory()} if self.is_bound or self.is_edit else set()
        out = []
        for legend, names in sets:
            rows = []
            for name in names:
                if name not in self.fields:
                    continue
                rule = self.show_when.get(name)
                rows.append(
                    {
                        "field": self[name],
                        "mandatory": name in self.mandatory,
                        "missing": name in missing,
                        "depends_on": self.add_prefix(rule[0]) if rule else "",
                        "depends_values": "|".join(str(v) for v in rule[1]) if rule else "",
                        "warning": [m for f, m in self.warnings if f == name],
                    }
                )
            out.append((legend, rows))
        return out

    # --- rules -------------------------------------------------------------------------
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, (controller, values) in self.show_when.items():
            if name in cleaned and cleaned.get(controller) not in values:
                cleaned[name] = self.empty_value_for(name)
        return cleaned

    def empty_value_for(self, name: str) -> Any:
        field = self._meta.model._meta.get_field(name)
        if isinstance(field, models.JSONField):
            return []
        if isinstance(field, models.BooleanField):
            return False
        if field.null:
            return None
        return ""

    def soft_warnings(self, data: dict[str, Any]) -> list[tuple[str, str]]:
        """Possible but unusual values: (field, message). Saved only when confirmed with a reason."""
        return []

    @classmethod
    def conditional_mandatory(cls, values: dict[str, Any]) -> list[str]:
        """Items mandatory only in some branches (e.g. dialysis modality when dialysis-dependent)."""
        return []

    @classmethod
    def label_for(cls, name: str) -> str:
        if name in cls.labels_override:
            return cls.labels_override[name]
        label = str(cls._meta.model._meta.get_field(name).verbose_name)
        return label[0].upper() + label[1:]

    @classmethod
    def missing_in(cls, values: dict[str, Any]) -> list[tuple[str, str]]:
        """(field, label) of mandatory items missing from ``values``; 'not known' counts as missing."""
        names = list(cls.mandatory)
        names += [n for n in cls.conditional_mandatory(values) if n not in names]
        return [(n, cls.label_for(n)) for n in names if is_missing(values.get(n))]

    @classmethod
    def values_of(cls, instance: models.Model) -> dict[str, Any]:
        """Stored values by field name (foreign keys as ids, so no query is made)."""
        return {f.name: getattr(instance, f.attname, None) for f in instance._meta.concrete_fields}

    def current_values(self) -> dict[str, Any]:
        if self.is_bound and hasattr(self, "cleaned_data"):
            values = self.values_of(self.instance)
            values.update({n: self.cleaned_data.get(n) for n in self.fields if n in self.cleaned_data})
            return values
        return self.values_of(self.instance)

    def missing_mandatory(self) -> list[tuple[str, str]]:
        return self.missing_in(self.current_values())

    def describe_changes(self) -> list[tuple[str, str, str]]:
        """(label, before, after) for every changed field of an edit."""
        out = []
        model = self._meta.model
        for name in self.changed_data:
            if name in self.control_names:
                continue
            try:
                mf = model._meta.get_field(name)
            except Exception:
                mf = None
            if mf is not None and name in getattr(model, "multi_choice_fields", {}):
                mf._capture_choices = model.multi_choice_fields[name]
            before = display_value(mf, self.initial.get(name))
            after = display_value(mf, self.cleaned_data.get(name))
            if before != after:
                out.append((str(self.fields[name].label), before, after))
        return out


def bounded(value: Any, lo: float | None, hi: float | None) -> bool:
    """True when value is set and outside [lo, hi]."""
    if value is None:
        return False
    return (lo is not None and value < lo) or (hi is not None and value > hi)
