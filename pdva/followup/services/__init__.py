"""Follow-up engine: what is due for whom, computed from the registry and the clock.

Public API (used by the site worklist and reports)::

    followup_items(site_ids: Iterable[int] | None, today: date, *, schedule: Schedule | None = None,
                   statuses: Collection[str] | None = None) -> list[FollowUpItem]
        One item per (index procedure, time point) that matters on ``today`` (see
        pdva.followup.lib.schedule.course_statuses). ``site_ids`` None means every site; an empty
        collection gives nothing (fail closed: callers pass ``site_ids_for(user, Cap.VIEW_CLINICAL)``).
        ``statuses`` keeps only items with those status codes (e.g. {"due", "overdue"}).
        Runs a constant number of queries (4) whatever the cohort size.
        FollowUpItem fields: procedure_id, procedure_uuid, patient_id, patient_registry_id, site_id,
        site_ods_code, index_limb, procedure_date, timepoint (code), year (annual only), label,
        window_start, due_date, window_end, status, visit_date, expects (assessments still applicable),
        limb_assessments_apply, reason (why not applicable), schedule_version; .status_label.

    compliance_12m(site_ids: Iterable[int] | None, today: date, *, schedule: Schedule | None = None)
        -> ComplianceReport
        Long-term follow-up compliance: of procedures whose 12-month time point is decided (completed,
        or window closed) and applicable, the share completed inside the window (9-21 months).
        ``.sites`` is a list of SiteCompliance (site_id, ods_code, eligible, completed_in_window, rate,
        ci_low, ci_high) and ``.national`` the same over the sites asked for.

    current_schedule() -> Schedule
        The schedule version adopted most recently (ScheduleAdoption), else the default version.

Statuses are codes of pdva.followup.lib.schedule.Status: not_yet_due, due, overdue,
completed_in_window, completed_out_of_window, missed, not_applicable.
"""

from __future__ import annotations

from pdva.followup.services.items import (
    ComplianceReport,
    FollowUpItem,
    SiteCompliance,
    compliance_12m,
    current_schedule,
    followup_items,
)

__all__ = [
    "ComplianceReport",
    "FollowUpItem",
    "SiteCompliance",
    "compliance_12m",
    "current_schedule",
    "followup_items",
]
