"""PROM completion and change from baseline per time point, for the reports (constant number of queries).

Baseline: the latest administration of the instrument completed on or before the index procedure date;
if there is none, the discharge administration. Change = follow-up value - baseline value, per patient.
EQ-5D index: the primary value set's index stored on each administration (``score``); VAS and VQ-6 total
are derived from the raw responses.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from pdva.followup.lib.schedule import Status
from pdva.followup.services import followup_items
from pdva.proms.lib import scoring
from pdva.registry.models import PromAdministration

TIMEPOINT_ORDER = ["discharge", "w2_6", "m3", "m6", "m12", "annual"]
MEASURES = {
    "eq5d_index": ("eq5d5l", "EQ-5D-5L index (primary value set)"),
    "eq5d_vas": ("eq5d5l", "EQ VAS (0-100)"),
    "vq6_total": ("vascuqol6", "VascuQoL-6 total (unverified scoring rule)"),
}


@dataclass(frozen=True)
class CompletionRow:
    timepoint: str
    instrument: str
    expected: int
    completed: int

    @property
    def rate(self) -> float | None:
        return self.completed / self.expected if self.expected else None


@dataclass(frozen=True)
class ChangeRow:
    timepoint: str
    measure: str
    label: str
    n: int
    mean_baseline: float | None
    mean_followup: float | None
    mean_change: float | None
    sd_change: float | None


def _value(adm: dict, measure: str) -> float | None:
    if measure == "eq5d_index":
        return float(adm["score"]) if adm["score"] is not None and adm["score_method"] else None
    if measure == "eq5d_vas":
        vas = (adm["responses"] or {}).get("VAS")
        return float(vas) if isinstance(vas, int) else None
    return scoring.score_vascuqol6(adm["responses"] or {})[0].value


def prom_summary(
    site_ids: Iterable[int] | None, today: dt.date
) -> tuple[list[CompletionRow], list[ChangeRow]]:
    if site_ids is not None:
        site_ids = list(site_ids)
    qs = PromAdministration.objects.alive().filter(procedure__isnull=False)
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=site_ids)
    adms = list(
        qs.values(
            "procedure_id",
            "procedure__procedure_date",
            "instrument",
            "timepoint",
            "completed_date",
            "completion_status",
            "responses",
            "score",
            "score_method",
        )
    )
    done = {
        (a["procedure_id"], a["timepoint"], a["instrument"])
        for a in adms
        if a["completion_status"] == "complete"
    }
    expected: dict[tuple[str, str], int] = defaultdict(int)
    completed: dict[tuple[str, str], int] = defaultdict(int)
    for item in followup_items(site_ids, today):
        if item.status in (Status.NOT_YET_DUE, Status.NOT_APPLICABLE):
            continue
        for e in item.expects:
            if not e.startswith("prom:"):
                continue
            instrument = e.removeprefix("prom:")
            expected[(item.timepoint, instrument)] += 1
            completed[(item.timepoint, instrument)] += (item.procedure_id, item.timepoint, instrument) in done
    completion = [
        CompletionRow(tp, inst, expected[(tp, inst)], completed[(tp, inst)])
        for tp, inst in sorted(expected, key=lambda k: (TIMEPOINT_ORDER.index(k[0]), k[1]))
    ]

    baseline: dict[tuple[int, str], dict] = {}
    for a in sorted(adms, key=lambda a: a["completed_date"]):
        key = (a["procedure_id"], a["instrument"])
        if a["completed_date"] <= a["procedure__procedure_date"]:
            baseline[key] = a
        elif a["timepoint"] == "discharge" and key not in baseline:
            baseline[key] = a
    pairs: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for a in adms:
        base = baseline.get((a["procedure_id"], a["instrument"]))
        if base is None or base is a or a["timepoint"] in ("discharge", "unscheduled"):
            continue
        for measure, (instrument, _) in MEASURES.items():
            if instrument != a["instrument"]:
                continue
            before, after = _value(base, measure), _value(a, measure)
            if before is not None and after is not None:
                pairs[(a["timepoint"], measure)].append((before, after))
    change = []
    for (tp, measure), values in sorted(
        pairs.items(), key=lambda kv: (TIMEPOINT_ORDER.index(kv[0][0]), list(MEASURES).index(kv[0][1]))
    ):
        diffs = [b - a for a, b in values]
        change.append(
            ChangeRow(
                tp,
                measure,
                MEASURES[measure][1],
                len(values),
                statistics.fmean(a for a, _ in values),
                statistics.fmean(b for _, b in values),
                statistics.fmean(diffs),
                statistics.stdev(diffs) if len(diffs) > 1 else None,
            )
        )
    return completion, change
