"""A form renderer that writes Django's standard widgets in Python instead of through templates.

The case page shows three whole forms (about a hundred widgets, most of them selects with their options):
through Django's template renderer that was about 70% of the page's time, a template include per widget,
per attribute list and per option. This renderer produces the same HTML as Django's own widget templates,
character for character (tests/capture/test_case_page_rendering.py compares every capture form both ways),
and hands any template it does not know to the standard renderer.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from django.forms.renderers import DjangoTemplates
from django.utils.functional import Promise
from django.utils.safestring import SafeData, SafeString, mark_safe

W = "django/forms/widgets/"


def _text(value: Any) -> str:
    """``{{ value }}`` autoescaped: django.utils.html.conditional_escape without its lazy-function
    wrapper, which cost more than the escaping (thousands of calls a page)."""
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


def _s(value: Any) -> str:
    """``{{ value|stringformat:'s' }}``: %s of the raw value; the filter keeps safe input unescaped."""
    if isinstance(value, SafeData):
        return str(value)
    return _text(str(value))  # "%s" % value


def _attrs(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(f" {_text(name)}" if value is True else f' {_text(name)}="{_s(value)}"')
    return "".join(out)


# Each function returns exactly what its template writes, trailing newlines included (they show where a
# template is included in another); the renderer strips the outer result, as Django's renderer does.


def _input(w: dict[str, Any]) -> str:
    """input.html (and text, number, date, hidden, checkbox ... which include it)."""
    value = w["value"]
    shown = f' value="{_s(value)}"' if value != None else ""  # noqa: E711 - the template's "!= None"
    return f'<input type="{_text(w["type"])}" name="{_text(w["name"])}"{shown}{_attrs(w["attrs"])}>\n'


def _input_option(w: dict[str, Any]) -> str:
    """input_option.html."""
    if not w.get("wrap_label"):
        return _input(w) + "\n"
    ident = w["attrs"].get("id")
    label_for = f' for="{_text(ident)}"' if ident else ""
    return f"<label{label_for}>{_input(w)} {_text(w['label'])}</label>\n"


def _checkbox_option(w: dict[str, Any]) -> str:
    """checkbox_option.html and radio_option.html: input_option.html included."""
    return _input_option(w) + "\n"


def _select_option(w: dict[str, Any]) -> str:
    """select_option.html."""
    return f'<option value="{_s(w["value"])}"{_attrs(w["attrs"])}>{_text(w["label"])}</option>\n'


OPTION_RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    W + "select_option.html": _select_option,
    W + "input_option.html": _input_option,
    W + "checkbox_option.html": _checkbox_option,
    W + "radio_option.html": _checkbox_option,
}


def _option(option: dict[str, Any]) -> str:
    return OPTION_RENDERERS[option["template_name"]](option)


def _select(w: dict[str, Any]) -> str:
    """select.html."""
    out = [f'<select name="{_text(w["name"])}"{_attrs(w["attrs"])}>']
    for group_name, group_choices, _index in w["optgroups"]:
        if group_name:
            out.append(f'\n  <optgroup label="{_text(group_name)}">')
        for option in group_choices:
            out.append("\n  " + _option(option))
        if group_name:
            out.append("\n  </optgroup>")
    out.append("\n</select>\n")
    return "".join(out)


def _multiple_input(w: dict[str, Any]) -> str:
    """multiple_input.html (checkbox_select.html and radio.html include it)."""
    ident, css = w["attrs"].get("id"), w["attrs"].get("class")
    out = ["<div"]
    if ident:
        out.append(f' id="{_text(ident)}"')
    if css:
        out.append(f' class="{_text(css)}"')
    out.append(">")
    for group, options, _index in w["optgroups"]:
        if group:
            out.append(f"\n  <div><label>{_text(group)}</label>")
        for option in options:
            out.append("<div>\n    " + _option(option) + "</div>")
        if group:
            out.append("\n  </div>")
    out.append("\n</div>\n")
    return "".join(out)


def _textarea(w: dict[str, Any]) -> str:
    """textarea.html."""
    value = _text(w["value"]) if w["value"] else ""
    return f'<textarea name="{_text(w["name"])}"{_attrs(w["attrs"])}>\n{value}</textarea>\n'


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    **{
        W + name: _input
        for name in (
            "input.html",
            "text.html",
            "number.html",
            "email.html",
            "url.html",
            "password.html",
            "hidden.html",
            "date.html",
            "datetime.html",
            "time.html",
            "checkbox.html",
        )
    },
    **OPTION_RENDERERS,
    W + "select.html": _select,
    W + "checkbox_select.html": _multiple_input,
    W + "radio.html": _multiple_input,
    W + "multiple_input.html": _multiple_input,
    W + "textarea.html": _textarea,
}


class FastWidgetRenderer(DjangoTemplates):
    """Standard widgets in Python (same HTML); everything else through Django's template renderer."""

    def render(self, template_name: str, context: dict[str, Any], request: Any = None) -> SafeString:
        write = RENDERERS.get(template_name)
        widget = context.get("widget")
        if (
            write is None
            or not isinstance(widget, dict)
            or widget.get("template_name", template_name) != template_name
        ):
            return super().render(template_name, context, request)
        # .strip(): what Django's renderer does with a template's output. Values are escaped as above.
        return mark_safe(write(widget).strip())  # noqa: S308


FAST_RENDERER = FastWidgetRenderer()  # one instance: its template engine (for the fallbacks) is built once
