"""Every capture URL × every role × own site / other site, with the exact expected status.

A record at a site the user cannot see is a 404 (its existence is not revealed); a page the role may
never use is a 403; signed-out users are sent to the sign-in page (302)."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.capture.kinds import KINDS
from pdva.capture.services.queries import open_query
from tests.factories import (
    AdverseEventFactory,
    AmputationFactory,
    DeathFactory,
    MedicationFactory,
    ReinterventionFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db

ACTORS = ["alice", "bob", "dave", "gina", "nora", "rita", "sam", "nobody"]
NO_ACCESS = {"rita": (403, 403), "sam": (403, 403), "nobody": (403, 403)}

# (status for the site A record, status for the site B record) per actor.
VIEW = {
    "alice": (200, 404),
    "bob": (404, 200),
    "dave": (200, 404),
    "gina": (200, 404),
    "nora": (200, 200),
    **NO_ACCESS,
}
EDIT = {
    "alice": (200, 404),
    "bob": (404, 200),
    "dave": (200, 404),
    "gina": (403, 404),
    "nora": (403, 403),
    **NO_ACCESS,
}
EDIT_EXISTING = {a: tuple(302 if s == 200 else s for s in v) for a, v in EDIT.items()}
SIGN = {
    "alice": (200, 404),
    "bob": (404, 200),
    "dave": (403, 403),
    "gina": (403, 403),
    "nora": (403, 403),
    **NO_ACCESS,
}
UNLOCK = {
    a: tuple(302 if s == 200 else s for s in v) for a, v in SIGN.items()
}  # not locked: back to the case
GOVERN = {
    "alice": (403, 403),
    "bob": (403, 403),
    "dave": (403, 403),
    "gina": (200, 404),
    "nora": (403, 403),
    **NO_ACCESS,
}
RAISE = {
    "alice": (403, 403),
    "bob": (403, 403),
    "dave": (302, 404),
    "gina": (302, 404),
    "nora": (302, 302),
    **NO_ACCESS,
}
ANSWER = {
    "alice": (302, 404),
    "bob": (404, 302),
    "dave": (302, 404),
    "gina": (403, 404),
    "nora": (403, 403),
    **NO_ACCESS,
}
NOT_A_PAGE = {a: (404, 404) for a in ("alice", "bob", "dave", "gina", "nora")} | NO_ACCESS
# Removing a record entered in error: anyone who may edit at the site (roles without editing: 403 everywhere,
# which reveals nothing); a POST without a reason re-shows the form (200) and removes nothing.
REMOVE = {
    "alice": (200, 404),
    "bob": (404, 200),
    "dave": (200, 404),
    "gina": (403, 403),
    "nora": (403, 403),
    **NO_ACCESS,
}
# A whole case or patient: the site's data manager only (dave at A; site B has none).
REMOVE_WHOLE = {
    "alice": (403, 404),
    "bob": (404, 403),
    "dave": (200, 404),
    "gina": (403, 403),
    "nora": (403, 403),
    **NO_ACCESS,
}
# Baseline and consent are corrected by editing, never removed.
NOT_REMOVABLE = {
    "alice": (404, 404),
    "bob": (404, 404),
    "dave": (404, 404),
    "gina": (403, 403),
    "nora": (403, 403),
}
NOT_REMOVABLE |= NO_ACCESS
# A removed record: its page says it was removed (410) and its audit history stays readable.
REMOVED = {a: tuple(410 if s == 200 else s for s in v) for a, v in VIEW.items()}

SITE_WIDE = {  # pages not about one record: (method, url, {actor: status})
    "patients": ("get", "/cases/", {"alice": 200, "bob": 200, "dave": 200, "gina": 200, "nora": 200}),
    "register": (
        "get",
        "/cases/register/",
        {"alice": 200, "bob": 200, "dave": 200, "gina": 403, "nora": 403},
    ),
    "stage": (
        "get",
        "/cases/stage/?wifi_w=1&wifi_i=1&wifi_fi=1",
        {"alice": 200, "bob": 200, "dave": 200, "gina": 200, "nora": 200},
    ),
    "worklist": (
        "get",
        "/cases/worklist/",
        {"alice": 200, "bob": 200, "dave": 200, "gina": 200, "nora": 200},
    ),
    "queries": ("get", "/cases/queries/", {"alice": 200, "bob": 200, "dave": 200, "gina": 200, "nora": 200}),
    "governance": (
        "get",
        "/cases/governance/",
        {"alice": 200, "bob": 200, "dave": 200, "gina": 200, "nora": 200},
    ),
}


@pytest.fixture
def world(site_a, site_b, alice, bob, dave, gina, nora, rita, sam, nobody):  # type: ignore[no-untyped-def]
    """One case with every kind of record at each site, and an open query on each."""
    from tests.capture.conftest import make_complete
    from tests.factories import ProcedureFactory, make_identity

    out = {}
    for label, site, nhs in (("A", site_a, "9434765919"), ("B", site_b, "4010232137")):
        procedure = ProcedureFactory(patient__site=site)
        make_identity(procedure.patient, nhs_number=nhs)
        make_complete(procedure)
        records = {
            "patient": procedure.patient,
            "procedure": procedure,
            "baseline": procedure.baseline,
            "consent": procedure.consent,
            "visit": VisitFactory(procedure=procedure),
            "adverse-event": AdverseEventFactory(procedure=procedure),
            "reintervention": ReinterventionFactory(procedure=procedure),
            "medication": MedicationFactory(patient=procedure.patient, procedure=procedure),
            "amputation": AmputationFactory(patient=procedure.patient, date=dt.date(2025, 6, 1)),
            "death": DeathFactory(patient=procedure.patient, date_of_death=dt.date(2025, 9, 1)),
        }
        from pdva.registry import models as m

        with audit_context(label="test:factory", reason="fixture"):
            prom = m.PromAdministration(
                patient=procedure.patient,
                procedure=procedure,
                instrument="pain_nrs",
                mode="paper",
                completed_date=dt.date(2025, 4, 1),
                responses={"NRS": 4},
            )
            prom.save()
        records["prom"] = prom
        removed_visit = VisitFactory(procedure=procedure, visit_date=dt.date(2025, 5, 1))
        with audit_context(label="test:factory", reason="fixture"):
            removed_visit.soft_delete(reason="entered in error")
        opener = dave if label == "A" else nora
        with audit_context(opener):
            query = open_query(
                opener, KINDS["baseline"], procedure.baseline, field_name="rutherford", question="?"
            )
        out[label] = {
            "records": records,
            "site": site,
            "query": query,
            "operator": procedure.operator,
            "removed_visit": removed_visit,
        }
    return out


def status(client, method: str, url: str, data: dict | None = None) -> int:  # type: ignore[no-untyped-def]
    return (client.post(url, data or {}) if method == "post" else client.get(url)).status_code


def object_urls(w: dict) -> list[tuple[str, str, str, dict | None, dict]]:
    """(name, method, url, data, expected table) for one site's records."""
    rec = w["records"]
    urls: list[tuple[str, str, str, dict | None, dict]] = [
        ("patient page", "get", f"/cases/patients/{rec['patient'].uuid}/", None, VIEW),
        ("case page", "get", f"/cases/case/{rec['procedure'].uuid}/", None, VIEW),
        ("sign", "get", f"/cases/case/{rec['procedure'].uuid}/sign/", None, SIGN),
        ("unlock", "get", f"/cases/case/{rec['procedure'].uuid}/unlock/", None, UNLOCK),
        ("query", "get", f"/cases/queries/{w['query'].pk}/", None, VIEW),
        (
            "answer query",
            "post",
            f"/cases/queries/{w['query'].pk}/",
            {"action": "answer", "response": "ok"},
            ANSWER,
        ),
        (
            "long-term medication new",
            "get",
            f"/cases/medication/new/{rec['patient'].uuid}/",
            None,
            EDIT,
        ),
        ("removed visit", "get", f"/cases/visit/{w['removed_visit'].uuid}/", None, REMOVED),
        ("removed visit history", "get", f"/cases/visit/{w['removed_visit'].uuid}/history/", None, VIEW),
        ("governance edit", "get", f"/cases/governance/{w['site'].pk}/", None, GOVERN),
        ("operator new", "get", f"/cases/governance/{w['site'].pk}/operators/new/", None, GOVERN),
        ("operator edit", "get", f"/cases/operators/{w['operator'].pk}/", None, GOVERN),
    ]
    for slug, kind in KINDS.items():
        obj = rec[slug]
        urls.append((f"{slug} record", "get", f"/cases/{slug}/{obj.uuid}/", None, VIEW))
        urls.append((f"{slug} edit", "post", f"/cases/{slug}/{obj.uuid}/", {}, EDIT))
        urls.append((f"{slug} history", "get", f"/cases/{slug}/{obj.uuid}/history/", None, VIEW))
        urls.append(
            (f"{slug} query", "post", f"/cases/{slug}/{obj.uuid}/query/", {"question": "why?"}, RAISE)
        )
        removal = {"edit": REMOVE, "data_manager": REMOVE_WHOLE, "": NOT_REMOVABLE}[kind.removable]
        urls.append((f"{slug} remove", "get", f"/cases/{slug}/{obj.uuid}/remove/", None, removal))
        urls.append((f"{slug} remove (no reason)", "post", f"/cases/{slug}/{obj.uuid}/remove/", {}, removal))
        if kind.parent:
            parent = rec[kind.parent]
            table = EDIT_EXISTING if kind.single else EDIT
            urls.append((f"{slug} new", "get", f"/cases/{slug}/new/{parent.uuid}/", None, table))
        else:
            urls.append(
                (f"{slug} new", "get", f"/cases/{slug}/new/{rec['procedure'].uuid}/", None, NOT_A_PAGE)
            )
    return urls


def test_url_list_covers_every_capture_route():
    from pdva.capture import urls

    names = {p.name for p in urls.urlpatterns}
    assert names == {
        "patients", "register", "patient", "case", "sign", "unlock", "stage", "worklist", "queries", "query",
        "governance", "governance_edit", "operator_new", "operator_edit", "record_new", "record", "history", "query_new",
        "remove",
    }  # fmt: skip


@pytest.mark.parametrize("actor", ACTORS)
def test_record_urls_per_role_and_site(actor, request, login, world):
    user = request.getfixturevalue(actor)
    failures = []
    for index, site in enumerate(("A", "B")):
        for name, method, url, data, table in object_urls(world[site]):
            client = login(user)
            expected = table[actor][index]
            got = status(client, method, url, data)
            if got != expected:
                failures.append(
                    f"{name} at site {site}: expected {expected}, got {got} ({method.upper()} {url})"
                )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("actor", ACTORS)
def test_site_wide_pages_per_role(actor, request, login, world):
    user = request.getfixturevalue(actor)
    client = login(user)
    for name, (method, url, table) in SITE_WIDE.items():
        expected = table.get(actor, 403)
        assert status(client, method, url) == expected, name


def test_signed_out_users_are_sent_to_sign_in(client, world):
    urls = [url for _, url, _ in [(n, u, t) for n, (_, u, t) in SITE_WIDE.items()]]
    urls += [url for _, method, url, _, _ in object_urls(world["A"]) if method == "get"]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/"), url
