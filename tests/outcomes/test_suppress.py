"""Small-number suppression: counts 1-4 and the figures that reveal them are hidden."""

from __future__ import annotations

import pandas as pd

from pdva.outcomes.suppress import suppress_count, suppress_table


def _table(rows):  # type: ignore[no-untyped-def]
    cols = ["kind", "n", "n_risk", "events", "estimate", "lower", "upper"]
    return pd.DataFrame(rows, columns=cols)


def test_small_counts_hide_the_row_estimate() -> None:
    t = _table(
        [
            ("km", 40, 20, 3, 0.9, 0.8, 0.97),  # 3 events: hidden
            ("km", 40, 20, 12, 0.7, 0.6, 0.8),  # nothing small
            ("km", 40, 0, 0, 0.7, 0.6, 0.8),  # zeros are not small
            ("proportion", 30, None, 28, 0.93, 0.8, 0.98),  # 2 non-events: complement reveals them
            ("rate", 30, 2.5, 10, 4.0, 2.0, 7.0),  # 2.5 patient-years is not a head count
        ]
    )
    out = suppress_table(t)
    assert list(out["suppressed"]) == [True, False, False, True, False]
    assert out.loc[0, "events"] is None and out.loc[0, "estimate"] is None and out.loc[0, "n"] == 40
    assert out.loc[1, "estimate"] == 0.7
    assert out.loc[2, "n_risk"] == 0 and out.loc[2, "estimate"] == 0.7
    assert out.loc[3, "events"] is None and out.loc[3, "estimate"] is None
    assert out.loc[4, "n_risk"] == 2.5 and out.loc[4, "estimate"] == 4.0


def test_suppress_count_display() -> None:
    assert [suppress_count(x) for x in (0, 1, 4, 5, 120, None)] == ["0", "<5", "<5", "5", "120", "-"]
