"""Shared pieces of the clinical models."""

from __future__ import annotations

import functools
import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models

from pdva.audit.models import AuditedModel
from pdva.registry import rules
from pdva.registry.choices import NOT_KNOWN, YesNo


def yes_no(verbose_name: str, **kwargs: Any) -> models.CharField:
    """A clinical yes/no that can also be 'not known' (never a bare boolean)."""
    kwargs.setdefault("default", NOT_KNOWN)
    return models.CharField(verbose_name, max_length=10, choices=YesNo.choices, **kwargs)


def choice(
    verbose_name: str, choices: type[models.TextChoices], *, default: str | None = NOT_KNOWN, **kwargs: Any
) -> models.CharField:
    if default is not None:
        kwargs.setdefault("default", default)
    return models.CharField(verbose_name, max_length=40, choices=choices.choices, **kwargs)


# Free-entry text limits. A TextField's max_length alone reaches forms only (the textarea's maxlength and the
# form field's check); the validator makes the model's own checks, and so the importer, refuse longer text.
NOTES_MAX_LENGTH = 10_000  # clinical notes, descriptions, treatment
SHORT_TEXT_MAX_LENGTH = 2_000  # a note on one decision (eligibility, closing a query, a sign-off reason)


def free_text(
    verbose_name: str | None = None, *, max_length: int = NOTES_MAX_LENGTH, **kwargs: Any
) -> models.TextField:
    """Free-entry text with one limit that forms, the API and imports all enforce (from this definition)."""
    kwargs.setdefault("blank", True)
    return models.TextField(
        verbose_name, max_length=max_length, validators=[MaxLengthValidator(max_length)], **kwargs
    )


def multi_choice(verbose_name: str) -> models.JSONField:
    return models.JSONField(verbose_name, default=list, blank=True)


@functools.cache
def _codes(choices: type[models.TextChoices]) -> tuple[str, ...]:
    return tuple(choices.values)


class ClinicalRecord(AuditedModel):
    """An audited clinical record with a stable public UUID (used in URLs, exports and the API)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    multi_choice_fields: ClassVar[dict[str, type[models.TextChoices]]] = {}

    class Meta:
        abstract = True

    def clean_for_save(self) -> None:
        errors: dict[str, str] = {}
        for name, choices in self.multi_choice_fields.items():
            values = getattr(self, name)
            if not isinstance(values, list):
                errors[name] = "must be a list of codes"
                continue
            allowed = _codes(choices)  # not choices.values per item: the enum builds a new list each time
            bad = [v for v in values if v not in allowed]
            if bad:
                errors[name] = f"unknown code(s) {bad}; allowed: {list(choices.values)}"
            if len(set(values)) != len(values):
                errors[name] = "codes must not repeat"
        if self._meta.model_name in rules.NOT_NEGATIVE:
            errors.update(rules.negative_values(self._meta.model_name, self.__dict__))
        if errors:
            raise ValidationError(errors)
