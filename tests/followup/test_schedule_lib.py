"""The schedule as data and the status of each time point, driven by a fixed clock (no database)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdva.followup.lib.schedule import (
    PatientCourse,
    Schedule,
    ScheduleError,
    Status,
    anniversary,
    available_versions,
    course_statuses,
    load_schedule,
    status_of,
    windows,
)

SCHEDULE = load_schedule("2026.1")
PROC = dt.date(2020, 1, 15)
DAY = dt.timedelta(days=1)


def window(code: str, year: int | None = None):
    for w in windows(SCHEDULE, PROC):
        if w.key == (code, year):
            return w
    raise AssertionError


def status_on(code: str, today: dt.date, year: int | None = None, **course) -> Status:
    return status_of(window(code, year), PatientCourse(PROC, **course), SCHEDULE, today).status


def test_default_schedule_matches_the_protocol() -> None:
    assert "2026.1" in available_versions()
    codes = [t.code for t in SCHEDULE.timepoints]
    assert codes == ["discharge", "w2_6", "m3", "m6", "m12"]
    m12 = window("m12")
    # 12-month window 9-21 months (SVS VQI): day 274 to day 639.
    assert (m12.opens - PROC).days == 274 and (m12.closes - PROC).days == 639
    year2 = window("annual", 2)
    assert year2.target == dt.date(2022, 1, 15)
    assert year2.opens > m12.closes  # windows never overlap


@pytest.mark.parametrize("code", ["discharge", "w2_6", "m3", "m6", "m12"])
def test_every_window_edge_without_a_visit(code: str) -> None:
    w = window(code)
    assert status_on(code, w.opens - DAY) == Status.NOT_YET_DUE
    assert status_on(code, w.opens) == Status.DUE
    assert status_on(code, w.target) == Status.DUE
    if w.target < w.closes:
        assert status_on(code, w.target + DAY) == Status.OVERDUE
        assert status_on(code, w.closes) == Status.OVERDUE
    assert status_on(code, w.closes + DAY) == Status.MISSED


@pytest.mark.parametrize("year", [2, 3, 10, 40])
def test_annual_edges_for_life(year: int) -> None:
    w = window("annual", year)
    assert w.target == anniversary(PROC, year)
    assert status_on("annual", w.opens - DAY, year) == Status.NOT_YET_DUE
    assert status_on("annual", w.opens, year) == Status.DUE
    assert status_on("annual", w.target + DAY, year) == Status.OVERDUE
    assert status_on("annual", w.closes + DAY, year) == Status.MISSED


def test_visit_inside_and_outside_the_window() -> None:
    w = window("m12")
    today = dt.date(2030, 1, 1)
    for day, expected in [
        (w.opens, Status.COMPLETED_IN_WINDOW),
        (w.closes, Status.COMPLETED_IN_WINDOW),
        (w.opens - DAY, Status.COMPLETED_OUT_OF_WINDOW),
        (w.closes + DAY, Status.COMPLETED_OUT_OF_WINDOW),
    ]:
        assert status_on("m12", today, visits=(("m12", None, day),)) == expected
    # A visit labelled for another time point does not count.
    assert status_on("m12", today, visits=(("m6", None, w.target),)) == Status.MISSED
    # Of two visits, the one inside the window counts.
    both = (("m12", None, w.closes + DAY * 5), ("m12", None, w.target))
    result = status_of(w, PatientCourse(PROC, visits=both), SCHEDULE, today)
    assert result.status == Status.COMPLETED_IN_WINDOW and result.visit_date == w.target


def test_death_stops_what_it_should() -> None:
    m6, m12 = window("m6"), window("m12")
    death = m6.closes + DAY * 10  # after the 6-month window closed, before the 12-month one closes
    today = dt.date(2030, 1, 1)
    assert status_on("m6", today, death_date=death) == Status.MISSED  # missed while alive
    assert status_on("m12", today, death_date=death) == Status.NOT_APPLICABLE
    assert status_on("annual", today, 5, death_date=death) == Status.NOT_APPLICABLE
    # Edge: death on the last day of the window makes it not applicable; the day after, it was missed.
    assert status_on("m12", today, death_date=m12.closes) == Status.NOT_APPLICABLE
    assert status_on("m12", today, death_date=m12.closes + DAY) == Status.MISSED
    # A visit recorded before death still counts.
    assert (
        status_on("m12", today, death_date=death, visits=(("m12", None, m12.opens),))
        == Status.COMPLETED_IN_WINDOW
    )
    # The lifelong list ends with the first annual time point made not applicable.
    statuses = course_statuses(PatientCourse(PROC, death_date=death), SCHEDULE, today)
    assert statuses[-1].window.key == ("annual", 2)
    assert statuses[-1].reason == "died"


def test_withdrawal_stops_like_death() -> None:
    m3 = window("m3")
    today = dt.date(2030, 1, 1)
    assert status_on("m3", today, withdrawn_date=m3.opens) == Status.NOT_APPLICABLE
    assert status_on("w2_6", today, withdrawn_date=m3.opens) == Status.MISSED
    result = status_of(m3, PatientCourse(PROC, withdrawn_date=m3.opens), SCHEDULE, today)
    assert result.reason == "withdrew from follow-up"


def test_major_amputation_drops_limb_assessments_only() -> None:
    m6 = window("m6")
    amputation = m6.opens - DAY
    result = status_of(
        m6, PatientCourse(PROC, index_limb_major_amputation_date=amputation), SCHEDULE, m6.opens
    )
    assert result.status == Status.DUE  # the patient is still followed up (survival, PROMs)
    assert not result.limb_assessments_apply
    assert "duplex" not in result.expects and "wound" not in result.expects
    assert "prom:eq5d5l" in result.expects and "clinical_review" in result.expects
    # The amputation after the window closed leaves that window's assessments in place.
    m3 = window("m3")
    before = status_of(
        m3, PatientCourse(PROC, index_limb_major_amputation_date=amputation), SCHEDULE, m6.opens
    )
    assert before.limb_assessments_apply and "duplex" in before.expects


def limb_only_schedule() -> Schedule:
    data = json.loads((SCHEDULE_DIR_FILE()).read_text())
    data["version"] = "test-limb"
    data["timepoints"].append(
        {
            "code": "duplex_9m",
            "label": "9-month duplex",
            "open": 250,
            "target": 270,
            "close": 300,
            "expects": ["duplex"],
        }
    )
    return Schedule.from_dict(data)


def SCHEDULE_DIR_FILE():  # noqa: N802
    from pdva.followup.lib.schedule import SCHEDULE_DIR

    return SCHEDULE_DIR / "2026.1.json"


def test_a_limb_only_time_point_is_not_applicable_after_major_amputation() -> None:
    schedule = limb_only_schedule()
    w = next(w for w in windows(schedule, PROC) if w.code == "duplex_9m")
    course = PatientCourse(PROC, index_limb_major_amputation_date=w.opens)
    assert status_of(w, course, schedule, w.target).status == Status.NOT_APPLICABLE
    assert status_of(w, PatientCourse(PROC), schedule, w.target).status == Status.DUE
    # Amputated the day after the window closed: the time point was simply missed.
    late = PatientCourse(PROC, index_limb_major_amputation_date=w.closes + DAY)
    assert status_of(w, late, schedule, w.closes + DAY).status == Status.MISSED


def test_schedule_change_recomputes_from_the_procedure_date() -> None:
    data = json.loads(SCHEDULE_DIR_FILE().read_text())
    data["version"] = "test-wider"
    for t in data["timepoints"]:
        if t["code"] == "m12":
            t["close"] = 700
    wider = Schedule.from_dict(data)
    visit_day = PROC + DAY * 680
    course = PatientCourse(PROC, visits=(("m12", None, visit_day),))
    today = dt.date(2030, 1, 1)
    old = {s.window.key: s.status for s in course_statuses(course, SCHEDULE, today)}
    new = {s.window.key: s.status for s in course_statuses(course, wider, today)}
    assert old[("m12", None)] == Status.COMPLETED_OUT_OF_WINDOW
    assert new[("m12", None)] == Status.COMPLETED_IN_WINDOW
    assert course.visits == (("m12", None, visit_day),)  # recorded visits untouched


def test_malformed_schedules_are_refused() -> None:
    with pytest.raises(ScheduleError, match="open <= target <= close"):
        Schedule.from_dict(
            {"version": "x", "timepoints": [{"code": "a", "label": "A", "open": 5, "target": 1, "close": 9}]}
        )
    with pytest.raises(ScheduleError, match="unique"):
        t = {"code": "a", "label": "A", "open": 0, "target": 1, "close": 9}
        Schedule.from_dict({"version": "x", "timepoints": [t, t]})
    with pytest.raises(ScheduleError, match="malformed"):
        Schedule.from_dict({"timepoints": []})
    with pytest.raises(ScheduleError, match="no schedule version"):
        load_schedule("1999.9")


def test_anniversary_of_29_february() -> None:
    assert anniversary(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert anniversary(dt.date(2024, 2, 29), 4) == dt.date(2028, 2, 29)


def test_lifelong_list_ends_with_the_next_annual_time_point() -> None:
    today = PROC + DAY * (365 * 7 + 10)
    statuses = course_statuses(PatientCourse(PROC), SCHEDULE, today)
    annual = [s for s in statuses if s.window.code == "annual"]
    assert [s.window.year for s in annual] == [2, 3, 4, 5, 6, 7, 8]
    assert annual[-1].status == Status.NOT_YET_DUE
    assert annual[-2].status == Status.OVERDUE  # year 7: 10 days past its anniversary


ORDER = [Status.NOT_YET_DUE, Status.DUE, Status.OVERDUE, Status.MISSED]


@settings(max_examples=200, deadline=None)
@given(
    offset=st.integers(min_value=-30, max_value=365 * 30),
    step=st.integers(min_value=1, max_value=400),
)
def test_status_without_events_only_moves_forward_in_time(offset: int, step: int) -> None:
    """With no visit, death or amputation, a time point only moves not yet due -> due -> overdue -> missed."""
    today = PROC + DAY * offset
    later = today + DAY * step
    course = PatientCourse(PROC)
    now = {s.window.key: s.status for s in course_statuses(course, SCHEDULE, today)}
    then = {s.window.key: s.status for s in course_statuses(course, SCHEDULE, later)}
    for key, status in now.items():
        assert ORDER.index(then[key]) >= ORDER.index(status)
    # Exactly one annual time point ahead is listed as not yet due.
    assert sum(1 for k, s in now.items() if k[0] == "annual" and s == Status.NOT_YET_DUE) == 1


@settings(max_examples=200, deadline=None)
@given(
    visit_offset=st.integers(min_value=0, max_value=900), death_offset=st.integers(min_value=0, max_value=900)
)
def test_recorded_visits_always_win(visit_offset: int, death_offset: int) -> None:
    w = window("m12")
    visit = PROC + DAY * visit_offset
    course = PatientCourse(PROC, visits=(("m12", None, visit),), death_date=PROC + DAY * death_offset)
    result = status_of(w, course, SCHEDULE, dt.date(2030, 1, 1))
    expected = Status.COMPLETED_IN_WINDOW if w.contains(visit) else Status.COMPLETED_OUT_OF_WINDOW
    assert result.status == expected
