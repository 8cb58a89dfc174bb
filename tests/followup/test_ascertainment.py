"""Case ascertainment: a site's own procedure list against the registry; missing cases and the rate."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from pdva.audit.context import audit_context
from pdva.followup.models import AscertainmentUpload
from pdva.followup.services.ascertainment import (
    AscertainmentInvalid,
    import_ascertainment,
    missing_rows,
    rates,
    registered_not_listed,
)
from tests.factories import PatientFactory, make_identity
from tests.followup.conftest import make_procedure
from tests.followup.test_linkage_import import nhs

START, END = dt.date(2024, 1, 1), dt.date(2024, 3, 31)


@pytest.fixture
def registered(site_a, site_b):  # type: ignore[no-untyped-def]
    out = {}
    for name, site, number, day, limb in [
        ("ann", site_a, nhs(500000001), dt.date(2024, 1, 15), "right"),
        ("ben", site_a, nhs(500000101), dt.date(2024, 2, 20), "left"),
        ("dan", site_a, nhs(500000401), dt.date(2024, 3, 5), "left"),  # registered but not on the site's list
        ("cat", site_b, nhs(500000201), dt.date(2024, 2, 1), "right"),
    ]:
        patient = PatientFactory(site=site)
        make_identity(patient, nhs_number=number)
        out[name] = (make_procedure(site, day, patient=patient, index_limb=limb), number)
    return out


def load(site, text: str):  # type: ignore[no-untyped-def]
    with audit_context(label="system:test", reason="test"):
        return import_ascertainment(site, text, filename="theatre.csv", start=START, end=END)


@pytest.mark.django_db
def test_missing_cases_and_rate(site_a, registered) -> None:
    ann, ben, cat = (registered[k][1] for k in ("ann", "ben", "cat"))
    text = (
        "nhs_number,procedure_date,limb,opcs_code\n"
        f"{ann},17/01/2024,R,L71.8\n"  # two days out: still a match
        f"{ben},2024-02-20,right,\n"  # wrong limb: not this procedure
        f"{nhs(500000301)},2024-03-01,left,\n"  # not in the registry at all
        f"{cat},2024-02-01,right,\n"  # registered at site B, not site A
    )
    upload = load(site_a, text)
    assert (upload.listed, upload.matched) == (4, 1) and upload.rate == 0.25
    missing = missing_rows(upload)
    assert [r.line for r in missing] == [3, 4, 5]
    assert missing[1].nhs_number == nhs(500000301)  # kept encrypted, readable for action
    assert nhs(500000301) not in missing[1].nhs_number_enc
    extra = registered_not_listed(upload)
    assert {p.pk for p in extra} == {registered["ben"][0].pk, registered["dan"][0].pk}
    per_site, overall = rates(None)
    assert [(r.ods_code, r.listed, r.matched) for r in per_site] == [("AAA", 4, 1)]
    assert overall.rate == 0.25
    assert rates([])[1].listed == 0


@pytest.mark.django_db
def test_each_registry_procedure_matches_once_and_the_latest_upload_counts(site_a, registered) -> None:
    ann = registered["ann"][1]
    twice = f"nhs_number,procedure_date,limb\n{ann},2024-01-15,right\n{ann},2024-01-16,right\n"
    first = load(site_a, twice)
    assert first.matched == 1
    load(site_a, f"nhs_number,procedure_date,limb\n{ann},2024-01-15,right\n")
    per_site, _ = rates([site_a.pk])
    assert [(r.listed, r.matched) for r in per_site] == [(1, 1)]


@pytest.mark.django_db
def test_malformed_list_is_rejected_with_line_numbers(site_a, registered) -> None:
    text = (
        "nhs_number,procedure_date,limb\n"
        f"{registered['ann'][1]},2024-01-15,right\n"
        "999,2024-01-15,right\n"
        f"{registered['ben'][1]},2024-05-01,left\n"
        f"{registered['ben'][1]},2024-02-20,both\n"
    )
    with pytest.raises(AscertainmentInvalid) as caught:
        load(site_a, text)
    assert [e.line for e in caught.value.errors] == [3, 4, 5]
    assert "outside the period" in caught.value.errors[1].message
    assert not AscertainmentUpload.objects.exists()


@pytest.mark.django_db
def test_command(site_a, registered, tmp_path, capsys) -> None:
    path = tmp_path / "list.csv"
    path.write_text(f"nhs_number,procedure_date,limb\n{registered['ann'][1]},2024-01-15,right\n")
    call_command(
        "followup",
        "import-ascertainment",
        str(path),
        "--site",
        "AAA",
        "--from",
        "2024-01-01",
        "--to",
        "2024-03-31",
    )
    assert "1 of 1 listed procedures are in the registry" in capsys.readouterr().out
    path.write_text("nhs_number,procedure_date,limb\nbad,2024-01-15,right\n")
    with pytest.raises(CommandError, match="nothing imported"):
        call_command(
            "followup",
            "import-ascertainment",
            str(path),
            "--site",
            "AAA",
            "--from",
            "2024-01-01",
            "--to",
            "2024-03-31",
        )
