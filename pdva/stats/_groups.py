"""Grouping, sorting and segment (per-group) operations without a Python loop per group.

The estimators sort the data once by (group, time), collapse it into *cells* of equal (group, time) and then
work on contiguous per-group segments with cumulative sums and ``reduceat``. Look-ups such as "number at risk
at t in group g" use an integer key ``group * n_distinct_times + rank(time)`` that is sorted by construction,
so one ``searchsorted`` answers all (group, time) queries at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._validate import FloatArray, IntArray

GroupsLike = Any  # 1-D array-like / Series, DataFrame, or Mapping[str, array-like]


@dataclass(frozen=True)
class Groups:
    """Group code per input row (0..G-1, lexicographic order of the labels) and the labels themselves."""

    codes: IntArray
    labels: pd.DataFrame  # one row per group, one column per grouping variable
    n_groups: int


_NO_LABELS = pd.DataFrame(index=pd.RangeIndex(1))  # shared, never mutated (callers get copies)


def single_group(n: int) -> Groups:
    return Groups(np.zeros(n, dtype=np.int64), _NO_LABELS, 1)


def _columns(groups: GroupsLike) -> dict[str, pd.Series]:
    if isinstance(groups, pd.DataFrame):
        return {str(c): groups[c].reset_index(drop=True) for c in groups.columns}
    if isinstance(groups, Mapping):
        return {
            str(k): pd.Series(np.asarray(v) if not isinstance(v, pd.Series) else v).reset_index(drop=True)
            for k, v in groups.items()
        }
    if isinstance(groups, pd.Series):
        return {str(groups.name) if groups.name is not None else "group": groups.reset_index(drop=True)}
    arr = np.asarray(groups)
    if arr.ndim != 1:
        raise ValueError(
            f"groups must be one-dimensional, a DataFrame or a mapping of name -> column; got shape {arr.shape}"
        )
    return {"group": pd.Series(arr)}


def factorize_groups(groups: GroupsLike, n: int) -> Groups:
    """Combine one or more grouping columns into a single integer code per row (hash-based, no sort of rows)."""
    cols = _columns(groups)
    if not cols:
        raise ValueError("groups has no columns")
    combined: NDArray[np.int64] | None = None
    card = 1
    for name, col in cols.items():
        if len(col) != n:
            raise ValueError(f"group column {name!r} has length {len(col)} but the data have {n} rows")
        codes, uniques = pd.factorize(col, sort=True)
        if (codes < 0).any():
            bad = np.flatnonzero(codes < 0)
            raise ValueError(
                f"group column {name!r} contains missing values ({bad.size} rows, first at position {bad[0]})"
            )
        k = max(len(uniques), 1)
        if combined is None:
            combined = codes.astype(np.int64)
            card = k
        else:
            if card * k >= 2**62:  # keep the mixed-radix code inside int64
                combined, u = pd.factorize(combined, sort=True)
                combined = combined.astype(np.int64)
                card = len(u)
            combined = combined * k + codes
            card *= k
    assert combined is not None
    codes_final, _ = pd.factorize(combined, sort=True)  # dense 0..G-1, order preserved
    codes_final = codes_final.astype(np.int64)
    g = int(codes_final.max()) + 1 if n else 0
    rep = np.empty(g, dtype=np.int64)
    rep[codes_final] = np.arange(n)  # any row of a group carries its labels
    labels = pd.DataFrame({name: col.take(rep).reset_index(drop=True) for name, col in cols.items()})
    return Groups(codes_final, labels, g)


@dataclass(frozen=True)
class Cells:
    """Rows collapsed into cells of equal (group, value), cells ordered by (group, value).

    Built either by sorting (``order``/``starts`` set) or, for integer-valued times with a modest range
    (follow-up in days), by counting into (group, value) bins without any sort (``row_bin``/``cell_bins``
    set). Both give identical cells. Trivial arrays (one group; no ties) are not materialised: at 10^6
    rows each avoided array saves several milliseconds of page faults.
    """

    value: FloatArray  # cell value (time)
    uniq: FloatArray  # distinct values over all groups, sorted
    bounds: IntArray  # cells of group g are bounds[g]:bounds[g+1]
    n_rows: int
    counts: IntArray | None = None  # rows per cell; None = one row per cell
    groups: IntArray | None = None  # cell group code (non-decreasing); None = a single group
    keys: IntArray | None = None  # group * len(uniq) + rank(value); None = arange (single group)
    order: IntArray | None = None  # sort path: permutation of the rows
    starts: IntArray | None = None  # sort path: first sorted row of each cell
    row_bin: IntArray | None = None  # count path: (group, value) bin of each row
    cell_bins: IntArray | None = None  # count path: bin of each cell
    n_bins: int = 0

    @property
    def n_cells(self) -> int:
        return int(self.value.size)

    @property
    def count(self) -> IntArray:
        return self.counts if self.counts is not None else np.ones(self.n_cells, dtype=np.int64)

    @cached_property
    def cum_count(self) -> IntArray:
        """cum_count[i] = rows in cells < i."""
        cum = np.zeros(self.n_cells + 1, dtype=np.int64)
        np.cumsum(self.count, out=cum[1:])
        return cum

    @cached_property
    def key(self) -> IntArray:
        return self.keys if self.keys is not None else np.arange(self.n_cells, dtype=np.int64)

    def rows_before(self, cell: IntArray) -> IntArray:
        """Rows in cells with index < ``cell`` (global, across groups)."""
        if self.counts is None:
            return np.asarray(cell, dtype=np.int64)
        return self.cum_count[cell]

    def group_of(self, cell: IntArray) -> IntArray:
        if self.groups is None:
            return np.zeros(np.shape(cell), dtype=np.int64)
        return self.groups[cell]

    def cell_sum(self, x: NDArray[Any]) -> IntArray:
        """Integer sum of a per-row 0/1 (or small integer) quantity within each cell."""
        if self.order is not None and self.starts is not None:
            if self.counts is None:  # no ties: cell i is sorted row i
                return np.asarray(x[self.order], dtype=np.int64)
            return np.add.reduceat(x[self.order], self.starts, dtype=np.int64)
        assert self.row_bin is not None and self.cell_bins is not None
        sums = np.bincount(self.row_bin, weights=x, minlength=self.n_bins)
        return sums[self.cell_bins].astype(np.int64)

    def cell_counts(self, codes: NDArray[Any], n_codes: int) -> IntArray:
        """Per-cell counts of each integer code 0..n_codes-1, code-major (n_codes x cells)."""
        if self.order is not None:
            if self.counts is None:  # no ties: cell i is sorted row i
                cell_of_row = np.arange(self.n_cells, dtype=np.int64)
            else:
                cell_of_row = np.repeat(np.arange(self.n_cells, dtype=np.int64), self.counts)
            flat = codes[self.order].astype(np.int64) * self.n_cells + cell_of_row
            return np.bincount(flat, minlength=self.n_cells * n_codes).reshape(n_codes, self.n_cells)
        out = np.empty((n_codes, self.n_cells), dtype=np.int64)
        for k in range(1, n_codes):  # a loop over codes (causes), not over groups
            out[k] = self.cell_sum((codes == k).astype(np.float64))
        out[0] = self.count - out[1:].sum(axis=0)
        return out

    def event_cells(self, codes: NDArray[Any], n_codes: int) -> tuple[IntArray, IntArray, IntArray]:
        """Cells with a non-zero code: (cell index, per-code counts (n_codes-1) x rows, total count)."""
        if self.order is not None and self.counts is None:
            # no ties: cell i is sorted row i, so the counts are an indicator of the sorted codes
            cs = codes[self.order]
            row_cell = np.flatnonzero(cs)
            cr = cs[row_cell]
            dk = (cr[None, :] == np.arange(1, n_codes, dtype=cr.dtype)[:, None]).astype(np.int64)
            return row_cell, dk, np.ones(row_cell.size, dtype=np.int64)
        counts = self.cell_counts(codes, n_codes)
        d_any = self.count - counts[0]
        row_cell = np.flatnonzero(d_any > 0)
        return row_cell, counts[1:, row_cell], d_any[row_cell]

    def locate(self, gq: IntArray, tq: FloatArray, side: str) -> IntArray:
        """Global cell index of the first cell of group gq with value >= tq (side='left') or > tq ('right')."""
        r = np.searchsorted(self.uniq, tq, side=side)  # type: ignore[call-overload]
        return np.searchsorted(self.key, gq * self.uniq.size + r, side="left").astype(np.int64)

    def rows_ge(self, gq: IntArray, tq: FloatArray) -> IntArray:
        """Number of rows in group gq with value >= tq."""
        return self.rows_before(self.bounds[gq + 1]) - self.rows_before(self.locate(gq, tq, "left"))

    def rows_gt(self, gq: IntArray, tq: FloatArray) -> IntArray:
        """Number of rows in group gq with value > tq."""
        return self.rows_before(self.bounds[gq + 1]) - self.rows_before(self.locate(gq, tq, "right"))


def _finish(
    value_of_cell: FloatArray,
    cell_group: IntArray,
    count: IntArray,
    uniq: FloatArray,
    cell_rank: IntArray,
    n_groups: int,
    **backend: Any,
) -> Cells:
    bounds = np.searchsorted(cell_group, np.arange(n_groups + 1), side="left")
    return Cells(
        value=value_of_cell,
        uniq=uniq,
        bounds=bounds,
        n_rows=int(count.sum()),
        counts=count,
        groups=cell_group,
        keys=cell_group * uniq.size + cell_rank,
        **backend,
    )


def _count_cells(values: FloatArray, codes: IntArray, n_groups: int) -> Cells | None:
    """Counting path for integer-valued times (days) whose (group x range) bins fit in ~4 bins per row."""
    n = values.size
    vmin, vmax = float(values.min()), float(values.max())
    span = vmax - vmin + 1.0
    if vmax >= 2.0**52 or n_groups * span > max(4.0 * n, 2.0**16) or n_groups * span > 2.0**26:
        return None
    head = values[:256]  # cheap early exit for continuous times
    if not np.array_equal(head, np.rint(head)) or not np.array_equal(values, np.rint(values)):
        return None
    width = int(span)
    offset = (values - vmin).astype(np.int64)
    row_bin = offset if n_groups == 1 else codes * width + offset
    n_bins = n_groups * width
    per_bin = np.bincount(row_bin, minlength=n_bins)
    cell_bins = np.flatnonzero(per_bin)
    cell_group = cell_bins // width
    cell_offset = cell_bins - cell_group * width
    present = np.zeros(width, dtype=bool)
    present[cell_offset] = True
    rank_of_offset = np.cumsum(present) - 1
    uniq = vmin + np.flatnonzero(present).astype(np.float64)
    return _finish(
        vmin + cell_offset.astype(np.float64),
        cell_group,
        per_bin[cell_bins],
        uniq,
        rank_of_offset[cell_offset],
        n_groups,
        row_bin=row_bin,
        cell_bins=cell_bins,
        n_bins=n_bins,
    )


def sort_cells(values: FloatArray, codes: IntArray, n_groups: int) -> Cells:
    """Collapse rows into (group, value) cells: counting for integer days, else one argsort of the values
    (plus a stable, radix-friendly sort of small group codes)."""
    counted = _count_cells(values, codes, n_groups)
    if counted is not None:
        return counted
    n = values.size
    order = np.argsort(values)  # ties in value need no particular order: cells aggregate them
    v = values[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(v[1:], v[:-1], out=new[1:])
    if n_groups == 1:  # every cell is one distinct value: no ranks, groups or keys needed
        starts = np.flatnonzero(new)
        no_ties = starts.size == n
        uniq = v if no_ties else v[starts]
        return Cells(
            value=uniq,
            uniq=uniq,
            bounds=np.array([0, starts.size], dtype=np.int64),
            n_rows=n,
            counts=None if no_ties else np.diff(np.append(starts, n)),
            order=order,
            starts=starts,
        )
    rank = np.cumsum(new) - 1
    uniq = v[new]
    gs = codes[order]
    # uint16 keys get numpy's O(n) radix sort; stability keeps the time order inside each group
    small = gs.astype(np.uint16) if n_groups <= 65535 else gs
    o2 = np.argsort(small, kind="stable")
    order = order[o2]
    rank = rank[o2]
    gsorted = gs[o2]
    key = gsorted * uniq.size + rank
    cell_new = np.empty(n, dtype=bool)
    cell_new[0] = True
    np.not_equal(key[1:], key[:-1], out=cell_new[1:])
    starts = np.flatnonzero(cell_new)
    count = np.diff(np.append(starts, n))
    cell_rank = rank[starts]
    return _finish(
        uniq[cell_rank], gsorted[starts], count, uniq, cell_rank, n_groups, order=order, starts=starts
    )


def segment_starts(row_group: IntArray) -> IntArray:
    """Indices where a new (non-empty) group segment starts in a group-sorted array."""
    if row_group.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, row_group[1:] != row_group[:-1]])


# The seg_* helpers work along the last axis, so a (causes x rows) array is processed cause by cause with
# contiguous inner loops.


def seg_cumsum(x: NDArray[np.float64], starts: IntArray, *, inplace: bool = False) -> NDArray[np.float64]:
    """Cumulative sum along the last axis restarting at each segment start (``inplace``: reuse x).

    Subtracting each segment's total at the next start keeps the running total near zero, so rounding
    does not accumulate across segments the way ``cumsum - offset`` would.
    """
    if x.shape[-1] == 0 or starts.size <= 1:
        if inplace and x.dtype == np.float64:
            return np.cumsum(x, axis=-1, out=x)
        return np.asarray(np.cumsum(x, axis=-1), dtype=np.float64)
    first = x[..., starts]  # a copy (fancy index)
    totals = np.add.reduceat(x, starts, axis=-1)
    y = x if inplace and x.dtype == np.float64 else np.array(x, dtype=np.float64, copy=True)
    y[..., starts[1:]] -= totals[..., :-1]
    out = np.cumsum(y, axis=-1, out=y)
    # remove the tiny residual carried into each segment so that it starts exactly at its first value
    # (a curve with no events yet must be exactly 0, not 1e-16)
    resid = out[..., starts] - first
    resid[..., 0] = 0.0
    lengths = np.diff(np.append(starts, x.shape[-1]))
    out -= np.repeat(resid, lengths, axis=-1)
    return out


def seg_cumprod(x: NDArray[np.float64], starts: IntArray) -> NDArray[np.float64]:
    """Cumulative product along the last axis restarting at each segment start; factors must be positive.

    One segment is a plain ``np.cumprod`` (the same rounding as R and sksurv). With several, each segment's
    first factor is divided by the previous segment's total so that the running product restarts at ~1.
    """
    if x.shape[-1] == 0 or starts.size <= 1:
        return np.asarray(np.cumprod(x, axis=-1), dtype=np.float64)
    totals = np.multiply.reduceat(x, starts, axis=-1)
    if not (totals[..., :-1] > 1e-280).all():  # a restart factor would overflow: sum logs instead
        return np.asarray(np.exp(seg_cumsum(np.log(x), starts)), dtype=np.float64)
    y = np.array(x, dtype=np.float64, copy=True)
    y[..., starts[1:]] /= totals[..., :-1]
    return np.asarray(np.cumprod(y, axis=-1), dtype=np.float64)


def seg_cumsum_int(x: NDArray[Any], starts: IntArray) -> IntArray:
    """Exact integer cumulative sum along the last axis restarting at each segment start."""
    cs = np.cumsum(x, axis=-1, dtype=np.int64)
    if x.shape[-1] == 0 or starts.size <= 1:
        return cs
    before = np.zeros(cs.shape[:-1] + (starts.size,), dtype=np.int64)
    before[..., 1:] = cs[..., starts[1:] - 1]
    lengths = np.diff(np.append(starts, x.shape[-1]))
    return cs - np.repeat(before, lengths, axis=-1)


def seg_shift(x: NDArray[np.float64], starts: IntArray, fill: float) -> NDArray[np.float64]:
    """Previous element along the last axis within the segment (``fill`` at each segment start)."""
    y = np.empty_like(x)
    if x.shape[-1] == 0:
        return y
    y[..., 1:] = x[..., :-1]
    y[..., starts] = fill
    return y


def seg_first(mask: NDArray[np.bool_], bounds: IntArray) -> IntArray:
    """Per segment (given by bounds, possibly empty), the first index where mask is True, else -1."""
    n_seg = bounds.size - 1
    out = np.full(n_seg, -1, dtype=np.int64)
    n = mask.size
    if n == 0:
        return out
    big = np.iinfo(np.int64).max
    idx = np.where(mask, np.arange(n, dtype=np.int64), big)
    nonempty = bounds[1:] > bounds[:-1]
    if not nonempty.any():
        return out
    first = np.minimum.reduceat(idx, bounds[:-1][nonempty])
    # reduceat on a start also covers later empty segments' rows only if they exist; clip to own segment
    ends = bounds[1:][nonempty]
    first = np.where(first < ends, first, -1)
    out[nonempty] = np.where(first == big, -1, first)
    return out
