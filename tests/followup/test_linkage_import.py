"""Linkage import: matches, non-matches, duplicates, opt-outs and malformed rows; accept and reject."""

from __future__ import annotations

import datetime as dt

import pytest

from pdva.audit.context import audit_context
from pdva.audit.models import AuditEntry
from pdva.followup.models import LinkageBatch, LinkageProposal
from pdva.followup.services.linkage import DecisionError, LinkageInvalid, accept, import_linkage, reject
from pdva.registry.models import Amputation, Death, Reintervention
from tests.factories import PatientFactory, make_identity
from tests.followup.conftest import make_procedure

PROC = dt.date(2024, 2, 1)


def nhs(n: int) -> str:
    """A valid NHS number (modulus 11) built from ``n``."""
    while True:
        body = f"{n:09d}"
        total = sum(int(d) * (10 - i) for i, d in enumerate(body))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10 and len(set(body + str(check))) > 1:
            return body + str(check)
        n += 1


@pytest.fixture
def cohort(site_a, site_b):  # type: ignore[no-untyped-def]
    people = {}
    for name, site, number, opt_out in [
        ("ann", site_a, nhs(400000001), False),
        ("ben", site_a, nhs(400000101), False),
        ("cat", site_b, nhs(400000201), False),
        ("opt", site_a, nhs(400000301), True),
    ]:
        patient = PatientFactory(site=site, national_data_opt_out=opt_out)
        make_identity(patient, nhs_number=number)
        make_procedure(site, PROC, patient=patient, index_limb="right")
        people[name] = (patient, number)
    return people


def run_import(kind: str, text: str, **kwargs):  # type: ignore[no-untyped-def]
    with audit_context(label="system:linkage", reason="test"):
        return import_linkage(kind, text, filename="test.csv", **kwargs)


@pytest.mark.django_db
def test_deaths_matched_unmatched_duplicate_and_opted_out(cohort, site_a) -> None:
    ann, ben, cat, opt = (cohort[k][1] for k in ("ann", "ben", "cat", "opt"))
    text = (
        "nhs_number,date_of_death,underlying_cause_icd10\n"
        f"{ann},2025-01-10,I21\n"
        f"{nhs(400000901)},2025-01-11,\n"  # nobody in the registry
        f"{ann[:3]} {ann[3:6]} {ann[6:]},2025-01-10,I21\n"  # the same row, spaced NHS number
        f"{opt},2025-02-01,\n"
        f"{cat},2025-03-01,C34\n"  # at site B: outside a site-A data manager's scope
    )
    batch = run_import("deaths", text, site_ids=[site_a.pk])
    r = batch.report
    assert [p["line"] for p in r["proposed"]] == [2]
    assert r["proposed"][0]["registry_id"] == cohort["ann"][0].registry_id
    assert [u["line"] for u in r["unmatched"]] == [3, 6]
    assert r["duplicates"] == [{"line": 4, "same_as": 2}]
    assert r["excluded"] == [{"line": 5, "why": "national data opt-out"}]
    assert ann not in str(r) and opt not in str(r)  # no NHS numbers in the stored report
    proposal = LinkageProposal.objects.get()
    assert (proposal.kind, proposal.event_date, proposal.data) == (
        "death",
        dt.date(2025, 1, 10),
        {"cause_icd10": "I21"},
    )
    assert not Death.objects.exists()  # nothing in the registry until a data manager accepts

    # A national import (no site scope) matches site B too; the already-proposed death is not proposed again.
    again = run_import("deaths", text)
    assert [p["line"] for p in again.report["proposed"]] == [6]
    assert again.report["already_recorded"] == [
        {"line": 2, "registry_id": cohort["ann"][0].registry_id, "kind": "death"}
    ]
    assert ben


@pytest.mark.django_db
def test_malformed_rows_reject_the_whole_file_with_line_numbers(cohort) -> None:
    ann = cohort["ann"][1]
    text = (
        "nhs_number,date_of_death\n"
        f"{ann},2025-01-10\n"
        "1234567890,2025-01-10\n"  # fails the modulus-11 check
        f"{cohort['ben'][1]},10 Jan 2025\n"
        f"{cohort['cat'][1]},2099-01-01\n"
        f"{ann},2025-01-12\n"  # conflicts with line 2
    )
    with pytest.raises(LinkageInvalid) as caught:
        run_import("deaths", text)
    lines = [(e.line, e.message) for e in caught.value.errors]
    assert [line for line, _ in lines] == [3, 4, 5, 6]
    assert "modulus-11" in lines[0][1] and "is not a date" in lines[1][1] and "in the future" in lines[2][1]
    assert "conflicting date of death: line 2" in lines[3][1]
    assert not LinkageBatch.objects.exists() and not LinkageProposal.objects.exists()
    with pytest.raises(LinkageInvalid, match="problem") as header:
        run_import("episodes", "nhs,date\n1,2\n")
    assert header.value.errors[0].line == 1 and "missing column" in header.value.errors[0].message


@pytest.mark.django_db
def test_episodes_propose_amputations_and_reinterventions(cohort) -> None:
    ann, ben, cat = (cohort[k][1] for k in ("ann", "ben", "cat"))
    text = (
        "nhs_number,episode_date,opcs_codes,laterality\n"
        f"{ann},2024-06-01,X09.5 Z94.2,\n"  # right below-knee amputation (laterality from Z94.2)
        f"{ben},2024-05-01,L63.1;Y53.2,right\n"  # angioplasty on the index limb
        f"{cat},2024-05-02,H01.1,\n"  # appendicectomy: not relevant
        f"{ben},2024-07-01,X12.1,right\n"  # stump operation: noted only
        f"{cat},2023-01-01,L63.1,right\n"  # before the index procedure
        f"{ann},2024-08-01,X095,left\n"  # X095 without the dot is accepted
        f"{ann},2024-09-01,X09.5,left;right\n"
    )
    with pytest.raises(LinkageInvalid) as caught:
        run_import("episodes", text)
    assert [e.line for e in caught.value.errors] == [8]
    batch = run_import("episodes", text.rsplit("\n", 2)[0] + "\n")
    r = batch.report
    kinds = {(p["line"], p["kind"]) for p in r["proposed"]}
    assert kinds == {(2, "amputation"), (3, "reintervention"), (7, "amputation")}
    assert r["not_relevant"] == [{"line": 4, "codes": ["H01.1"]}]
    assert r["noted"][0]["line"] == 5 and r["noted"][0]["code"] == "X12.1"
    assert r["before_index"][0]["line"] == 6
    amp = LinkageProposal.objects.get(line=2)
    assert amp.data["level"] == "below_knee" and amp.data["limb"] == "right"
    reint = LinkageProposal.objects.get(line=3)
    assert reint.data["modalities"] == ["pta"] and reint.procedure.patient == cohort["ben"][0]


@pytest.mark.django_db
def test_accepting_creates_the_audited_record_and_rejecting_needs_a_reason(cohort, dave) -> None:
    ann, ben = cohort["ann"][1], cohort["ben"][1]
    run_import(
        "episodes",
        "nhs_number,episode_date,opcs_codes,laterality\n"
        f"{ann},2024-06-01,X09.5,right\n{ben},2024-05-01,L63.1,right\n{ann},2024-07-01,X09.9,right\n",
    )
    amputation, reintervention, unspecified = LinkageProposal.objects.order_by("line")
    with audit_context(dave):
        created = accept(amputation, user=dave)
        assert isinstance(created, Amputation) and created.is_major and created.limb == "right"
        with pytest.raises(DecisionError, match="already accepted"):
            accept(amputation, user=dave)
        with pytest.raises(DecisionError, match="choose the limb and the amputation level"):
            accept(unspecified, user=dave)
        accept(unspecified, user=dave, overrides={"level": "above_knee"})
        with pytest.raises(DecisionError, match="say why"):
            reject(reintervention, user=dave, note=" ")
        reject(reintervention, user=dave, note="planned staged procedure, already recorded differently")
    amputation.refresh_from_db()
    assert (
        amputation.status == "accepted" and amputation.created_object == f"registry.amputation:{created.pk}"
    )
    assert not Reintervention.objects.exists()
    entry = AuditEntry.objects.get(action="registry.amputation.created", object_id=str(created.pk))
    assert entry.actor_label == "dave" and "linkage batch" in entry.reason
    assert AuditEntry.objects.filter(action="followup.linkage.accepted").count() == 2
    # Once recorded, the same episode is not proposed again.
    again = run_import(
        "episodes", f"nhs_number,episode_date,opcs_codes,laterality\n{ann},2024-06-01,X09.5,right\n"
    )
    assert again.report["already_recorded"][0]["kind"] == "amputation"


@pytest.mark.django_db
def test_accept_reports_registry_validation_errors(cohort, dave) -> None:
    ann = cohort["ann"][1]
    run_import("deaths", f"nhs_number,date_of_death\n{ann},2024-01-01\n")  # before the index procedure
    proposal = LinkageProposal.objects.get()
    with audit_context(dave), pytest.raises(DecisionError, match="date_of_death"):
        accept(proposal, user=dave)
    proposal.refresh_from_db()
    assert proposal.status == "proposed" and not Death.objects.exists()
