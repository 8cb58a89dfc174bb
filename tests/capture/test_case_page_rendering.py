"""The case page's forms are written by a Python widget renderer: the HTML must be exactly what Django's
own widget templates write, for every capture form, new, filled in, and with errors."""

from __future__ import annotations

import re

import pytest
from django.forms.renderers import DjangoTemplates

from pdva.capture.forms import base
from pdva.capture.forms.renderer import RENDERERS, FastWidgetRenderer
from pdva.capture.kinds import KINDS

pytestmark = pytest.mark.django_db

TEMPLATES = DjangoTemplates()


def _widgets_html(form) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for bf in form:
        out.append(str(bf))
        out.extend(str(sub.tag()) for sub in bf.subwidgets)
        out.extend(str(sub.tag(wrap_label=True)) for sub in bf.subwidgets)
    return out


def _both(make):  # type: ignore[no-untyped-def]
    """Render the form ``make(renderer)`` builds with the fast renderer and with Django's templates."""
    fast, slow = make(FastWidgetRenderer()), make(TEMPLATES)
    assert isinstance(fast.renderer, FastWidgetRenderer) and fast.renderer is not slow.renderer
    return _widgets_html(fast), _widgets_html(slow)


def _records(case):  # type: ignore[no-untyped-def]
    return {
        "procedure": case,
        "baseline": case.baseline,
        "visit": case.visits.first(),
        "adverse-event": case.adverse_events.first(),
        "medication": case.medications.first(),
        "patient": case.patient,
    }


def test_every_capture_form_renders_the_same_html_both_ways(full_case_a):
    records = _records(full_case_a)
    checked = 0
    for slug, kind in KINDS.items():
        rec = records.get(slug)
        if rec is not None:
            fast, slow = _both(
                lambda r, rec=rec, kind=kind: kind.form(instance=rec, parent=kind.parent_of(rec), renderer=r)
            )
        else:
            instance = kind.model()
            parent = full_case_a.patient if kind.parent == "patient" else full_case_a
            kind.attach(instance, parent)
            fast, slow = _both(
                lambda r, i=instance, k=kind, p=parent: k.form(instance=i, parent=p, renderer=r)
            )
        assert fast == slow, slug
        checked += len(fast)
    assert checked > 300  # every field of every form, and each option of the choice fields


def test_a_bound_form_with_errors_and_awkward_values_renders_the_same(full_case_a):
    kind = KINDS["visit"]
    visit = full_case_a.visits.first()
    data = {
        "visit-visit_date": "not a date",
        "visit-notes": 'He said "<b>ouch</b>" & left',
        "visit-timepoint": "m3",
        "visit-version": "1",
    }

    def make(renderer):  # type: ignore[no-untyped-def]
        form = kind.form(data, instance=visit, parent=full_case_a, renderer=renderer, prefix="visit")
        form.is_valid()
        return form

    fast, slow = _both(make)
    assert fast == slow
    assert any("&lt;b&gt;ouch&lt;/b&gt;" in html for html in fast)  # escaped, as the templates escape


def test_the_case_page_is_the_same_page_with_either_renderer(full_case_a, alice, login, monkeypatch):
    client = login(alice)
    url = f"/cases/case/{full_case_a.uuid}/"

    def page() -> str:
        html = client.get(url).content.decode()
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)  # CSRF tokens are masked anew
        return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)  # on every page

    fast = page()
    monkeypatch.setattr(base.CaptureForm, "default_renderer", TEMPLATES)
    assert page() == fast
    assert fast.count("<select") > 20 and fast.count("<option") > 200


def test_unknown_templates_go_to_the_template_renderer():
    renderer = FastWidgetRenderer()
    assert "django/forms/widgets/clearable_file_input.html" not in RENDERERS
    html = renderer.render(
        "django/forms/widgets/clearable_file_input.html",
        {
            "widget": {
                "name": "f",
                "is_initial": False,
                "attrs": {},
                "type": "file",
                "value": None,
                "required": False,
                "template_name": "django/forms/widgets/clearable_file_input.html",
            }
        },
    )
    assert 'type="file"' in html and 'name="f"' in html
