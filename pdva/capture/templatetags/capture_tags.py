from __future__ import annotations

from typing import Any

from django import forms, template

register = template.Library()


@register.filter
def is_multi(bound: Any) -> bool:
    return isinstance(bound.field.widget, forms.CheckboxSelectMultiple)


@register.filter
def is_checkbox(bound: Any) -> bool:
    return isinstance(bound.field.widget, forms.CheckboxInput)


@register.filter
def days(value: int | None) -> str:
    if value is None:
        return ""
    return f"day {value}" if value >= 0 else f"{-value} days before"
