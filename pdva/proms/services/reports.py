"""PROM completion and change from baseline per time point, for the /prom/reports/ page.

Change from baseline is not computed here: it comes from pdva.outcomes (``load_frames`` -> ``derive`` ->
``pdva.outcomes.proms.prom_columns``), the same rule the governance dashboard, the governance PDF and
``pdva outcomes`` use (``pdva.outcomes.definitions.PROM_BASELINE_RULE``): baseline = the latest scored
administration of the patient in the 90 days up to and including the procedure date, linked to this
procedure or to none (another procedure's, e.g. the other limb's, does not count); else the first scored
discharge administration linked to the procedure; each measure (EQ-5D index, EQ VAS, VascuQoL-6 total, pain
NRS) takes its own baseline. Follow-up = the first scored administration labelled 3, 6 or 12 months.

Completion here is the operational view (time points whose window has OPENED, from pdva.followup's
worklist), which is why it is kept apart from the audit's completion (windows that have CLOSED).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from pdva.followup.lib.schedule import Status
from pdva.followup.services import followup_items
from pdva.outcomes import definitions as d
from pdva.outcomes.derive import derive
from pdva.outcomes.load import current_prom_targets, load_frames
from pdva.registry.models import PromAdministration

TIMEPOINT_ORDER = ["discharge", "w2_6", "m3", "m6", "m12", "annual"]


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
    timepoint: str  # schedule code (m3, m6, m12)
    timepoint_label: str
    measure: str
    label: str
    n: int
    mean_baseline: float | None
    mean_followup: float | None
    mean_change: float | None
    sd_change: float | None


def _order(timepoint: str) -> int:
    return TIMEPOINT_ORDER.index(timepoint) if timepoint in TIMEPOINT_ORDER else len(TIMEPOINT_ORDER)


def completion_rows(site_ids: list[int] | None, today: dt.date) -> list[CompletionRow]:
    """Per (time point, instrument): procedures whose window has opened and for which the schedule expects
    the questionnaire (not made inapplicable), and how many have a complete administration linked to them."""
    qs = PromAdministration.objects.alive().filter(procedure__isnull=False, completion_status="complete")
    if site_ids is not None:
        qs = qs.filter(patient__site_id__in=site_ids)
    done = set(qs.values_list("procedure_id", "timepoint", "instrument"))
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
    return [
        CompletionRow(tp, inst, expected[(tp, inst)], completed[(tp, inst)])
        for tp, inst in sorted(expected, key=lambda k: (_order(k[0]), k[1]))
    ]


def change_rows(table: pd.DataFrame) -> list[ChangeRow]:
    """Pairs (baseline, follow-up) per measure and time point from pdva.outcomes' per-procedure columns."""
    out = []
    for code, (tp_label, _day) in d.PROM_CHANGE_TIMEPOINTS.items():
        for measure, (_instrument, label, _better) in d.PROM_MEASURES.items():
            cols = (f"prom_{measure}_base", f"prom_{measure}_{code}", f"prom_{measure}_{code}_change")
            if any(c not in table for c in cols):
                continue
            base, follow, diff = (table[c].to_numpy(dtype=float) for c in cols)
            paired = ~np.isnan(diff)
            n = int(paired.sum())
            if n == 0:
                continue
            diffs = diff[paired].tolist()
            out.append(
                ChangeRow(
                    code,
                    tp_label,
                    measure,
                    label,
                    n,
                    statistics.fmean(base[paired].tolist()),
                    statistics.fmean(follow[paired].tolist()),
                    statistics.fmean(diffs),
                    statistics.stdev(diffs) if n > 1 else None,
                )
            )
    return out


def prom_summary(
    site_ids: Iterable[int] | None, today: dt.date
) -> tuple[list[CompletionRow], list[ChangeRow]]:
    """(completion rows, change rows) for the sites (None = every site, empty = nothing) as of ``today``."""
    ids = None if site_ids is None else sorted(site_ids)
    completion = completion_rows(ids, today)
    derived = derive(load_frames(ids), today, prom_targets=current_prom_targets())
    return completion, change_rows(derived.table)


# --- the page's stored form (pdva.reports.services.snapshots, scopes "prom:all" / "prom:<ids>") -----------
# The page reads a snapshot computed off the request: the summary walks every follow-up item and derives
# every procedure's PROM columns, which takes seconds on a national registry.


def prom_context(site_ids: Iterable[int] | None, today: dt.date) -> dict[str, Any]:
    """prom_summary as plain values, for storing."""
    completion, change = prom_summary(site_ids, today)
    return {"completion": [asdict(r) for r in completion], "change": [asdict(r) for r in change]}


def prom_fragment_context(stored: dict[str, Any]) -> dict[str, Any]:
    """The stored context back as the rows the page's template reads."""
    from pdva.outcomes.definitions import PROM_BASELINE_RULE
    from pdva.proms.lib.scoring import VQ6_NOTE

    return {
        "completion": [CompletionRow(**r) for r in stored["completion"]],
        "change": [ChangeRow(**r) for r in stored["change"]],
        "vq6_note": VQ6_NOTE,
        "baseline_rule": PROM_BASELINE_RULE,
    }
