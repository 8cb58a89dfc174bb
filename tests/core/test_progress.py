"""The progress line: done/total, rate, records per second and the time left; callable as (done, total)."""

import io
from types import SimpleNamespace

from pdva.core import progress as progress_module
from pdva.core.progress import Progress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_durations_read_naturally():
    assert [duration(s) for s in (0, 42.4, 245, 3720)] == ["0s", "42s", "4m05s", "1h02m"]


def test_shows_rate_records_and_time_left_then_a_summary(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=clock))
    out = io.StringIO()
    bar = Progress("seeding", out, every=0, unit="patients")
    clock.now += 10
    bar(200, 1000, records=4400)
    clock.now += 10
    bar(400, 1000, records=8800)
    clock.now += 30
    bar(1000, 1000, records=22000)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "seeding: 200/1,000 patients (20%) 20.0 patients/s, 440 records/s, 10s elapsed, 40s left"
    )
    assert lines[1].endswith("20s elapsed, 30s left")
    assert lines[2] == "seeding: 1,000/1,000 patients (100%) in 50s, 20.0 patients/s, 22,000 records (440/s)"


def test_plain_done_total_callers_still_work_and_lines_are_throttled(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=clock))
    out = io.StringIO()
    bar = Progress("scoring", out)  # not a terminal: a line every 10 s, and the last one
    for done in range(1, 101):
        clock.now += 0.5
        bar(done, 100)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 and "records" not in lines[0]
    assert lines[-1] == "scoring: 100/100 (100%) in 50s, 2.0/s"
    assert "left" in lines[0]


def test_finishing_early_and_an_empty_total_do_not_fail():
    out = io.StringIO()
    bar = Progress("nothing", out)
    bar(0, 0)
    bar(3, 3)
    assert out.getvalue().count("\n") == 2
