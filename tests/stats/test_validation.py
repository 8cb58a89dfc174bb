"""Input validation: clear ValueErrors with specific messages."""

from __future__ import annotations

import numpy as np
import pytest

from pdva.stats import (
    cumulative_incidence,
    cumulative_incidence_strata,
    kaplan_meier,
    kaplan_meier_strata,
)


@pytest.mark.parametrize(
    ("time", "event", "message"),
    [
        ([], [], "time is empty"),
        (
            [1.0, np.nan, 3.0],
            [1, 0, 1],
            "time contains missing \\(NaN\\) values: 1 value\\(s\\), at positions 1",
        ),
        ([1.0, np.inf], [1, 0], "time contains infinite values"),
        ([1.0, -2.0], [1, 0], "time contains negative values"),
        ([1.0, 2.0, 3.0], [1, 0], "inputs have different lengths: time=3, event=2"),
        ([1.0, 2.0], [1, 2], "event must be 0 \\(censored\\) or 1 \\(event\\); found other codes \\[2.0\\]"),
        ([1.0, 2.0], [1, np.nan], "event contains missing"),
        (["a", "b"], [1, 0], "time must be numeric"),
        ([[1.0, 2.0]], [[1, 0]], "time must be one-dimensional"),
    ],
)
def test_kaplan_meier_rejects(time: list, event: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        kaplan_meier(time, event)


def test_kaplan_meier_rejects_bad_options_and_entry() -> None:
    with pytest.raises(ValueError, match="conf_type must be one of 'log', 'log-log', 'plain'; got 'logit'"):
        kaplan_meier([1, 2], [1, 0], conf_type="logit")
    with pytest.raises(ValueError, match="conf_level must be a number strictly between 0 and 1"):
        kaplan_meier([1, 2], [1, 0], conf_level=1.5)
    with pytest.raises(ValueError, match="entry must be earlier than time"):
        kaplan_meier([1, 2], [1, 0], entry=[0, 2])
    with pytest.raises(ValueError, match="different lengths"):
        kaplan_meier([1, 2], [1, 0], entry=[0])
    with pytest.raises(ValueError, match="times contains missing"):
        kaplan_meier([1, 2], [1, 0]).at([np.nan])


@pytest.mark.parametrize(
    ("cause", "message"),
    [
        ([1, -1], "cause codes must be integers 0 \\(censored\\) or 1..K; found \\[-1.0\\]"),
        ([1, 1.5], "cause codes must be integers"),
        ([1, np.nan], "cause contains missing"),
    ],
)
def test_cumulative_incidence_rejects(cause: list, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        cumulative_incidence([1.0, 2.0], cause)


def test_cumulative_incidence_rejects_options() -> None:
    with pytest.raises(ValueError, match="variance must be one of 'aalen', 'delta'"):
        cumulative_incidence([1, 2], [1, 0], variance="greenwood")
    with pytest.raises(ValueError, match="n_causes must be a positive integer"):
        cumulative_incidence([1, 2], [1, 0], n_causes=0)


def test_strata_rejects_group_problems() -> None:
    with pytest.raises(ValueError, match="group column 'group' has length 1 but the data have 2 rows"):
        kaplan_meier_strata([1, 2], [1, 0], ["a"])
    with pytest.raises(ValueError, match="contains missing values"):
        cumulative_incidence_strata([1, 2], [1, 0], np.array(["a", None], dtype=object))
    with pytest.raises(ValueError, match="groups must be one-dimensional"):
        kaplan_meier_strata([1, 2], [1, 0], np.zeros((2, 2)))


def test_pandas_nullable_missing_values_are_reported_as_missing() -> None:
    import pandas as pd

    with pytest.raises(ValueError, match="time contains missing"):
        kaplan_meier(pd.Series([1, None, 3], dtype="Int64"), [1, 0, 1])
    with pytest.raises(ValueError, match="event contains missing"):
        kaplan_meier([1, 2, 3], pd.Series([True, None, False], dtype="boolean"))
    with pytest.raises(ValueError, match="time must be numeric"):
        kaplan_meier(pd.Series(["1", "2", "x"]), [1, 0, 1])
    ok = kaplan_meier(pd.Series([1, 2, 3], dtype="Int64"), pd.Series([True, False, True], dtype="boolean"))
    assert ok.table.n_event.sum() == 2


def test_package_imports_no_django_or_other_pdva_modules() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pdva.stats; "
        "bad = [m for m in sys.modules if m == 'django' or m.startswith('django.') or "
        "(m.startswith('pdva.') and not m.startswith('pdva.stats'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
