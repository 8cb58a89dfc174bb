"""Case ascertainment (NICE: audit everyone having the procedure): compare a site's own list of pDVA
procedures (theatre system or hospital episodes) with the registry, list what is missing, report the rate.

A listed procedure matches a registry index procedure at the same site for the same patient (NHS number
index) and limb, within ``DATE_TOLERANCE_DAYS`` of the listed date; each registry procedure matches once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from pdva.followup.lib.linkage import OPCS, RowError, csv_rows, normalise_code, parse_date
from pdva.followup.models import AscertainmentRow, AscertainmentUpload
from pdva.registry.crypto import encrypt
from pdva.registry.models import PatientIdentity, Procedure, Site
from pdva.registry.models.patients import nhs_number_index, normalise_nhs_number

DATE_TOLERANCE_DAYS = 3
LIMBS = {"left": "left", "l": "left", "right": "right", "r": "right"}


class AscertainmentInvalid(ValueError):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the procedure list")
        self.errors = errors


@dataclass
class Listed:
    line: int
    nhs: str
    day: dt.date
    limb: str
    opcs: str


def parse(text: str, start: dt.date, end: dt.date) -> list[Listed]:
    data, header_error = csv_rows(
        text,
        ("nhs_number", "procedure_date", "limb"),
        expected="nhs_number, procedure_date, limb[, opcs_code]",
    )
    if header_error:
        raise AscertainmentInvalid([header_error])
    rows: list[Listed] = []
    errors: list[RowError] = []
    for number, raw in data:
        problems = []
        try:
            nhs = normalise_nhs_number(raw["nhs_number"])
        except ValidationError as exc:
            problems.append("; ".join(exc.messages))
            nhs = ""
        day = parse_date(raw["procedure_date"])
        if day is None:
            problems.append(
                f"procedure_date {raw['procedure_date']!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)"
            )
        elif not start <= day <= end:
            problems.append(f"procedure_date {day} is outside the period {start} to {end}")
        limb = LIMBS.get(raw["limb"].lower())
        if limb is None:
            problems.append(f"limb {raw['limb']!r} must be left or right")
        opcs = normalise_code(raw.get("opcs_code", "")) if raw.get("opcs_code") else ""
        if opcs and not OPCS.match(opcs):
            problems.append(f"opcs_code {opcs!r} is not an OPCS-4 code")
        if problems:
            errors.extend(RowError(number, p) for p in problems)
        else:
            rows.append(Listed(number, nhs, day, limb, opcs))  # type: ignore[arg-type]
    if not rows and not errors:
        errors.append(RowError(1, "the file has no data rows"))
    if start > end:
        errors.insert(0, RowError(0, "the period starts after it ends"))
    if errors:
        raise AscertainmentInvalid(errors)
    return rows


def import_ascertainment(
    site: Site, text: str, *, filename: str, start: dt.date, end: dt.date, user: Any = None
) -> AscertainmentUpload:
    listed = parse(text, start, end)
    tolerance = dt.timedelta(days=DATE_TOLERANCE_DAYS)
    indexes = {nhs_number_index(r.nhs) for r in listed}
    patient_by_index: dict[str, list[int]] = {}
    for idx, patient_id in (
        PatientIdentity.objects.alive()
        .filter(nhs_number_index__in=indexes, patient__site=site, patient__deleted_at__isnull=True)
        .values_list("nhs_number_index", "patient_id")
    ):
        patient_by_index.setdefault(idx, []).append(patient_id)
    candidates = list(
        Procedure.objects.alive().filter(
            patient__site=site,
            patient_id__in=[p for ids in patient_by_index.values() for p in ids],
            procedure_date__gte=start - tolerance,
            procedure_date__lte=end + tolerance,
        )
    )
    used: set[int] = set()
    rows = []
    for item in listed:
        patients = set(patient_by_index.get(nhs_number_index(item.nhs), []))
        options = sorted(
            (
                p
                for p in candidates
                if p.patient_id in patients
                and p.index_limb == item.limb
                and p.pk not in used
                and abs((p.procedure_date - item.day).days) <= DATE_TOLERANCE_DAYS
            ),
            key=lambda p: abs((p.procedure_date - item.day).days),
        )
        match = options[0] if options else None
        if match is not None:
            used.add(match.pk)
        rows.append(
            AscertainmentRow(
                line=item.line,
                nhs_number_enc=encrypt(item.nhs),
                procedure_date=item.day,
                limb=item.limb,
                opcs_code=item.opcs,
                matched_procedure=match,
            )
        )
    with transaction.atomic():
        upload = AscertainmentUpload(
            site=site,
            filename=filename[:200],
            uploaded_by=user,
            period_start=start,
            period_end=end,
            listed=len(rows),
            matched=sum(1 for r in rows if r.matched_procedure is not None),
        )
        upload.save(reason="case ascertainment list loaded")
        for r in rows:
            r.upload = upload
        AscertainmentRow.objects.audited_bulk_create(rows, reason="case ascertainment list loaded")
    return upload


def missing_rows(upload: AscertainmentUpload) -> list[AscertainmentRow]:
    return list(upload.rows.filter(matched_procedure__isnull=True, deleted_at__isnull=True).order_by("line"))


def registered_not_listed(upload: AscertainmentUpload) -> list[Procedure]:
    """Registry procedures at the site in the period that the site's list does not contain (worth checking)."""
    matched = upload.rows.filter(matched_procedure__isnull=False).values_list(
        "matched_procedure_id", flat=True
    )
    return list(
        Procedure.objects.alive()
        .filter(
            patient__site=upload.site,
            procedure_date__gte=upload.period_start,
            procedure_date__lte=upload.period_end,
        )
        .exclude(pk__in=list(matched))
        .select_related("patient")
        .order_by("procedure_date")
    )


@dataclass(frozen=True)
class AscertainmentRate:
    site_id: int | None
    ods_code: str
    period_start: dt.date | None
    period_end: dt.date | None
    listed: int
    matched: int

    @property
    def rate(self) -> float | None:
        return self.matched / self.listed if self.listed else None


def rates(site_ids: Iterable[int] | None) -> tuple[list[AscertainmentRate], AscertainmentRate]:
    """Per site and period (the latest upload for each period), and overall."""
    qs = AscertainmentUpload.objects.alive().select_related("site").order_by("-created_at")
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    latest: dict[tuple[int, dt.date, dt.date], AscertainmentUpload] = {}
    for upload in qs:
        latest.setdefault((upload.site_id, upload.period_start, upload.period_end), upload)
    rows = sorted(
        (
            AscertainmentRate(u.site_id, u.site.ods_code, u.period_start, u.period_end, u.listed, u.matched)
            for u in latest.values()
        ),
        key=lambda r: (r.ods_code, r.period_start),
    )
    total = AscertainmentRate(
        None, "ALL", None, None, sum(r.listed for r in rows), sum(r.matched for r in rows)
    )
    return rows, total
