"""The patient page: each index limb's story in date order, with days since the procedure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch

from pdva.capture.kinds import KINDS, Kind
from pdva.capture.models import CaseSignOff, DataQuery
from pdva.capture.prom_scores import ScoreLine, ordered, score_line
from pdva.capture.services.completeness import alive, case_missing, completeness
from pdva.capture.services.records import locking_procedure
from pdva.proms.lib.scoring import PRIMARY_MEASURE
from pdva.proms.models import PromScore
from pdva.registry import models as m


@dataclass
class TimelineEvent:
    date: dt.date
    day: int
    kind: Kind
    record: Any
    title: str
    detail: str = ""
    flag: str = ""  # e.g. "serious", "major"
    scores: list[ScoreLine] = field(default_factory=list)  # PROM administrations
    locked: bool = False  # part of the signed case: cannot be edited or removed


@dataclass
class MedicationBar:
    record: Any
    label: str
    start_day: int
    stop_day: int | None
    left_pct: float = 0.0
    width_pct: float = 0.0
    locked: bool = False

    @property
    def patient_level(self) -> bool:
        """Not tied to one procedure: shown on every case of the patient."""
        return self.record.procedure_id is None


@dataclass
class RemovedRecord:
    """A record removed as entered in error: listed so its audit history can still be found."""

    kind: Kind
    record: Any
    title: str


@dataclass
class CaseView:
    procedure: m.Procedure
    events: list[TimelineEvent]
    bars: list[MedicationBar]
    present: int
    expected: int
    missing: list[tuple[str, list[tuple[str, str]]]]
    queries: list[DataQuery] = field(default_factory=list)
    signoffs: list[CaseSignOff] = field(default_factory=list)
    removed: list[RemovedRecord] = field(default_factory=list)

    def of_kind(self, slug: str) -> list[TimelineEvent]:
        return [e for e in self.events if e.kind.slug == slug]

    @property
    def percent(self) -> int:
        return round(100 * self.present / self.expected) if self.expected else 100


def patient_queryset() -> Any:
    """The patient with every record the page shows, in a fixed number of queries."""
    procedures = m.Procedure.objects.alive().select_related(
        "baseline", "consent", "operator", "signed_off_by"
    )
    return m.Patient.objects.select_related("site", "death").prefetch_related(
        Prefetch("procedures", queryset=procedures),
        "procedures__visits",
        "procedures__adverse_events",
        "procedures__reinterventions",
        "procedures__medications",
        "procedures__proms",
        Prefetch("procedures__proms__scores", queryset=PromScore.objects.alive()),
        Prefetch("procedures__signoffs", queryset=CaseSignOff.objects.select_related("user")),
        Prefetch(
            "data_queries", queryset=DataQuery.objects.alive().select_related("opened_by", "answered_by")
        ),
        "amputations",
        "medications",
        "proms",
        Prefetch("proms__scores", queryset=PromScore.objects.alive()),
    )


def prom_score_lines(adm: m.PromAdministration) -> list[ScoreLine]:
    """Every score of the administration (one per value set or rule); the stored primary score when the
    per-method scores have not been derived (e.g. data loaded before pdva.proms scored it)."""
    lines = [
        score_line(s.measure, s.method, s.value, verified=s.verified, note=s.note) for s in adm.scores.all()
    ]
    if not lines and adm.score is not None and adm.score_method:
        measure = PRIMARY_MEASURE.get(adm.instrument, adm.instrument)
        lines = [score_line(measure, adm.score_method, adm.score)]
    return ordered(lines)


def case_view(patient: m.Patient, procedure: m.Procedure) -> CaseView:
    events: list[TimelineEvent] = []
    procedures = list(patient.procedures.all())

    def add(
        slug: str,
        rec: Any,
        when: dt.date | None,
        title: str,
        detail: str = "",
        flag: str = "",
        scores: list[ScoreLine] | None = None,
    ) -> None:
        if when is not None:
            locked = locking_procedure(rec, procedures=procedures) is not None
            events.append(
                TimelineEvent(
                    when, procedure.day(when), KINDS[slug], rec, title, detail, flag, scores or [], locked
                )
            )

    add(
        "procedure",
        procedure,
        procedure.procedure_date,
        f"Index pDVA, {procedure.get_index_limb_display().lower()} limb",
        f"{procedure.get_technique_family_display()}; technical success: {procedure.get_technical_success_display()}",
    )
    baseline = getattr(procedure, "baseline", None)
    if baseline is not None and baseline.deleted_at is None:
        stage = (
            f"WIfI stage {baseline.reported_wifi_stage}"
            if baseline.reported_wifi_stage
            else "WIfI not staged"
        )
        glass = f", GLASS {baseline.glass_stage}" if baseline.glass_stage else ""
        add("baseline", baseline, baseline.assessment_date, "Baseline assessment", stage + glass)
    consent = getattr(procedure, "consent", None)
    if consent is not None and consent.deleted_at is None:
        add("consent", consent, consent.consent_date, "Consent", consent.get_registry_consent_display())
    for v in alive(procedure.visits.all()):
        add(
            "visit",
            v,
            v.visit_date,
            f"Follow-up: {v.get_timepoint_display()}",
            f"{v.get_contact_mode_display()}; wound {v.get_wound_status_display().lower()}; circuit {v.get_circuit_patency_display().lower()}",
        )
    for ae in alive(procedure.adverse_events.all()):
        flag = "serious" if ae.serious == "yes" else ("device" if ae.device_related else "")
        add(
            "adverse-event",
            ae,
            ae.onset_date,
            f"Adverse event: {ae.get_category_display()}",
            f"Clavien-Dindo {ae.get_clavien_dindo_display()}; {ae.get_outcome_display().lower()}",
            flag,
        )
    for r in alive(procedure.reinterventions.all()):
        add(
            "reintervention",
            r,
            r.date,
            f"Reintervention ({r.get_planned_display().lower()})",
            r.get_indication_display(),
            "major" if r.is_major else "",
        )
    patient_level_proms = [p for p in alive(patient.proms.all()) if p.procedure_id is None]
    for p in alive(procedure.proms.all()) + patient_level_proms:
        add(
            "prom",
            p,
            p.completed_date,
            f"PROM: {p.get_instrument_display()}",
            p.get_completion_status_display(),
            scores=prom_score_lines(p),
        )
    for a in alive(patient.amputations.all()):
        if a.limb == procedure.index_limb:
            add(
                "amputation",
                a,
                a.date,
                f"Amputation: {a.get_level_display()}",
                "",
                "major" if a.is_major else "",
            )
    death = getattr(patient, "death", None)
    if death is not None and death.deleted_at is None:
        add("death", death, death.date_of_death, "Death", death.get_cause_category_display())
    events.sort(key=lambda e: (e.date, e.title))

    meds = alive(procedure.medications.all()) + [
        med for med in alive(patient.medications.all()) if med.procedure_id is None
    ]
    bars = [
        MedicationBar(
            med,
            med.get_agent_display()
            + (f" {med.dose.normalize():f} {med.dose_unit}" if med.dose is not None else ""),
            procedure.day(med.start_date),
            procedure.day(med.stop_date) if med.stop_date else None,
            locked=locking_procedure(med, procedures=procedures) is not None,
        )
        for med in sorted(meds, key=lambda x: x.start_date)
    ]
    today_day = procedure.day(dt.date.today())
    lo = min([0, *(b.start_day for b in bars), *(e.day for e in events)])
    hi = max([today_day, *(e.day for e in events)])
    span = max(1, hi - lo)
    for b in bars:
        stop = b.stop_day if b.stop_day is not None else today_day
        b.left_pct = round(100 * (b.start_day - lo) / span, 1)
        b.width_pct = max(0.5, round(100 * (stop - b.start_day) / span, 1))
    present, expected = completeness(procedure)
    queries = [q for q in patient.data_queries.all() if q.procedure_id == procedure.pk]
    return CaseView(
        procedure,
        events,
        bars,
        present,
        expected,
        case_missing(procedure),
        queries,
        list(procedure.signoffs.all()),
        removed_records(patient, procedure),
    )


def removed_records(patient: m.Patient, procedure: m.Procedure) -> list[RemovedRecord]:
    """Records of this case (and the patient's records shown with it) removed as entered in error."""
    found: list[tuple[str, Any]] = []
    for slug, related in (
        ("visit", procedure.visits),
        ("adverse-event", procedure.adverse_events),
        ("reintervention", procedure.reinterventions),
        ("medication", procedure.medications),
        ("prom", procedure.proms),
    ):
        found += [(slug, r) for r in related.all()]
    found += [("medication", r) for r in patient.medications.all() if r.procedure_id is None]
    found += [("prom", r) for r in patient.proms.all() if r.procedure_id is None]
    found += [("amputation", r) for r in patient.amputations.all() if r.limb == procedure.index_limb]
    death = getattr(patient, "death", None)
    if death is not None:
        found.append(("death", death))
    out = []
    for slug, rec in found:
        if rec.deleted_at is None:
            continue
        kind = KINDS[slug]
        when = getattr(rec, kind.date_field, None)
        out.append(RemovedRecord(kind, rec, f"{kind.title}{f' of {when:%d %b %Y}' if when else ''}"))
    return sorted(out, key=lambda r: r.record.deleted_at)
