"""The API discloses what the pages disclose (one small-number rule for every output a role can reach), and
a request body says exactly what the handlers accept: unknown fields and nulls for required values are 422s
that name the field, as the OpenAPI document says."""

from __future__ import annotations

import json

from django.test import Client

from pdva.outcomes.suppress import is_small
from pdva.registry.models import FollowUpVisit
from pdva.reports.services.disclosure import suppresses_small_numbers
from tests.api.conftest import call, issue

COUNTS = ("n", "n_risk", "events")


def _summary(user, site):  # type: ignore[no-untyped-def]
    response = call(issue(user), f"/api/v1/summaries/endpoints?site={site.ods_code}")
    assert response.status_code == 200, response.content
    return response.json()["rows"]


def _shown_counts(row: dict) -> list[int]:  # type: ignore[type-arg]
    return [row[c] for c in COUNTS if row[c] is not None and not (c == "n_risk" and row["kind"] == "rate")]


def test_the_rule_follows_reach(alice, gina, nora):
    assert suppresses_small_numbers(nora)  # national: sees sites they do not belong to
    assert not suppresses_small_numbers(alice) and not suppresses_small_numbers(gina)


def test_a_national_auditor_gets_suppressed_counts_from_the_api(story, site_a, gina, nora):
    full = _summary(gina, site_a)
    seen = _summary(nora, site_a)
    # One patient at the site: the governance lead sees the small counts, so there is something to hide.
    small_rows = [i for i, row in enumerate(full) if any(is_small(x) for x in _shown_counts(row))]
    assert small_rows, full
    assert [(r["endpoint"], r["timepoint"]) for r in seen] == [(r["endpoint"], r["timepoint"]) for r in full]
    for i, row in enumerate(seen):
        assert not any(is_small(x) for x in _shown_counts(row)), row
        if i in small_rows:
            assert row["suppressed"] and row["estimate"] is None and row["lower"] is None, row
    assert not any(row["suppressed"] for row in full)


def _send(method: str, raw: str, path: str, payload: dict):  # type: ignore[no-untyped-def,type-arg]
    return getattr(Client(), method)(
        path, data=json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )


def test_an_unknown_field_is_refused_not_dropped(story, alice):
    visit = story["followups"]
    raw = issue(alice)
    patch = {"version": visit.version, "reason": "typo in a field name", "pain_nsr": 2}
    response = _send("patch", raw, f"/api/v1/followups/{visit.uuid}", patch)
    assert response.status_code == 422, response.content
    assert "pain_nsr" in json.dumps(response.json()["error"]["fields"])
    visit.refresh_from_db()
    assert visit.version == patch["version"]  # nothing saved
    new = {
        "procedure": str(story["procedures"].uuid),
        "visit_date": str(visit.visit_date),
        "timepoint": "m3",
        "contact_mode": "face_to_face",
        "notes_typo": "x",
    }
    before = FollowUpVisit.objects.count()
    response = _send("post", raw, "/api/v1/followups", new)
    assert response.status_code == 422 and "notes_typo" in json.dumps(response.json()["error"]["fields"])
    assert FollowUpVisit.objects.count() == before


def _patch_schema() -> dict:  # type: ignore[type-arg]
    doc = Client().get("/api/v1/openapi.json").json()
    return doc["components"]["schemas"]["FollowUpPatch"]["properties"]


def _nullable(prop: dict) -> bool:  # type: ignore[type-arg]
    return any(option.get("type") == "null" for option in prop.get("anyOf", [])) or prop.get(
        "nullable", False
    )


def test_the_openapi_document_says_which_fields_can_be_emptied(story, alice):
    props = _patch_schema()
    visit = story["followups"]
    raw = issue(alice)
    for name, prop in props.items():
        if name in ("version", "reason"):
            continue
        model_field = FollowUpVisit._meta.get_field(name)
        assert _nullable(prop) == model_field.null, (name, prop)
    # What the document says is what the handler does, both ways.
    refused = _send(
        "patch",
        raw,
        f"/api/v1/followups/{visit.uuid}",
        {"version": visit.version, "reason": "x", "alive": None},
    )
    assert refused.status_code == 422 and "alive" in json.dumps(refused.json()["error"]["fields"])
    emptied = _send(
        "patch",
        raw,
        f"/api/v1/followups/{visit.uuid}",
        {"version": visit.version, "reason": "not measured", "pain_nrs": None},
    )
    assert emptied.status_code == 200 and emptied.json()["pain_nrs"] is None
