"""Charts as SVG strings (matplotlib, Agg backend): survival/incidence curves, funnel plots, CUSUM/VLAD and
icon arrays. The same SVG goes into the web dashboard and the PDFs."""

from __future__ import annotations

import io
import itertools
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 9, "svg.fonttype": "none"})
COLOURS = ["#005eb8", "#d5281b", "#007f3b", "#ffb81c", "#330072", "#768692", "#00a499", "#ae2573"]


_counter = itertools.count(1)


def _svg(fig) -> str:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    # No metadata block: WeasyPrint parses every element of every inline chart.
    fig.savefig(
        buf,
        format="svg",
        bbox_inches="tight",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog so it can be inlined in HTML
    # matplotlib numbers element ids per figure; prefix them so many charts can share one page.
    prefix = f"c{next(_counter)}-"
    svg = re.sub(r'id="([^"]+)"', rf'id="{prefix}\1"', svg)
    svg = svg.replace('href="#', f'href="#{prefix}').replace("url(#", f"url(#{prefix}")
    return svg


def step_curve_chart(
    curve: pd.DataFrame,
    *,
    title: str,
    ylabel: str,
    at_risk: pd.DataFrame | None = None,
    start: float = 1.0,
    max_days: float | None = None,
    hidden_groups: set[str] | None = None,
) -> str:
    """Step curves per group with 95% bands; the numbers at risk printed under the x axis."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    hidden_groups = hidden_groups or set()
    for i, (group, g) in enumerate(curve.groupby("group", sort=True)):
        if str(group) in hidden_groups:
            continue
        colour = COLOURS[i % len(COLOURS)]
        x = np.concatenate([[0.0], g["time"].to_numpy(dtype=float)]) / 30.4375
        y = np.concatenate([[start], g["estimate"].to_numpy(dtype=float)])
        ax.step(x, y, where="post", color=colour, label=str(group))
        lo = np.concatenate([[start], g["lower"].to_numpy(dtype=float)])
        hi = np.concatenate([[start], g["upper"].to_numpy(dtype=float)])
        ax.fill_between(
            x,
            np.nan_to_num(lo, nan=start),
            np.nan_to_num(hi, nan=start),
            step="post",
            color=colour,
            alpha=0.12,
            linewidth=0,
        )
    ax.set_ylim(0, 1.02)
    if max_days:
        ax.set_xlim(0, max_days / 30.4375)
    ax.set_xlabel("Months after the procedure")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    if curve["group"].nunique() > 1:
        ax.legend(fontsize=7, frameon=False)
    if at_risk is not None and len(at_risk):
        text = "At risk: " + "   ".join(
            f"{int(r.time / 30.4375)}m: {r.n_risk_display}" for r in at_risk.itertuples()
        )
        fig.text(0.01, -0.04, text, fontsize=7)
    return _svg(fig)


def funnel_chart(
    sites: pd.DataFrame, limits: pd.DataFrame, *, title: str, target: float, highlight: str | None = None
) -> str:
    """Funnel plot: one point per site (value vs denominator), 95% and 99.8% exact limits around the target."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.plot(limits["n"], limits["limit_0.025"], color="#768692", lw=1, ls="--", label="95% limits")
    ax.plot(limits["n"], limits["limit_0.975"], color="#768692", lw=1, ls="--")
    ax.plot(limits["n"], limits["limit_0.001"], color="#d5281b", lw=1, label="99.8% limits")
    ax.plot(limits["n"], limits["limit_0.999"], color="#d5281b", lw=1)
    ax.axhline(target, color="#1d2731", lw=1, label=f"Registry {target:.0%}")
    colours = ["#ffb81c" if s == highlight else "#005eb8" for s in sites["site"]]
    ax.scatter(sites["n"], sites["value"], c=colours, zorder=3, s=22, edgecolor="#1d2731", linewidth=0.5)
    # Label only the sites a reader needs to find (beyond the 95% limits, or highlighted): with many sites,
    # labels on every point overlap, and each label is text WeasyPrint has to lay out.
    flagged = sites["flagged"] if "flagged" in sites else pd.Series(True, index=sites.index)
    for r, flag in zip(sites.itertuples(), flagged, strict=True):
        if flag or r.site == highlight:
            ax.annotate(str(r.site), (r.n, r.value), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Procedures (denominator)")
    ax.set_ylabel("Proportion")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _svg(fig)


def cusum_chart(values: np.ndarray, threshold: float, signals: np.ndarray, *, title: str) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    x = np.arange(1, len(values) + 1)
    ax.step(x, values, where="post", color="#005eb8")
    ax.axhline(threshold, color="#d5281b", ls="--", lw=1, label=f"Signal threshold h = {threshold:.2f}")
    for s in np.asarray(signals, dtype=int):
        ax.axvline(s + 1, color="#d5281b", alpha=0.3)
    ax.set_xlabel("Case number (in date order)")
    ax.set_ylabel("CUSUM")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    return _svg(fig)


def vlad_chart(values: np.ndarray, *, title: str) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    x = np.arange(0, len(values) + 1)
    ax.plot(x, np.concatenate([[0.0], values]), color="#007f3b")
    ax.axhline(0, color="#1d2731", lw=0.8)
    ax.set_xlabel("Case number (in date order)")
    ax.set_ylabel("Expected - observed failures")
    ax.set_title(title, loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    return _svg(fig)


def icon_array(count: int, *, label: str, colour: str = "#005eb8", total: int = 100) -> str:
    """100 people as a 10 x 10 grid; ``count`` of them coloured."""
    fig, ax = plt.subplots(figsize=(2.3, 2.5))
    count = int(max(0, min(total, round(count))))
    for i in range(total):
        r, c = divmod(i, 10)
        filled = i < count
        ax.add_patch(plt.Circle((c + 0.5, 9.9 - r), 0.22, color=colour if filled else "#d8dde0"))
        ax.add_patch(plt.Rectangle((c + 0.3, 9.0 - r), 0.4, 0.55, color=colour if filled else "#d8dde0"))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.2, 10.4)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(label, fontsize=8)
    return _svg(fig)
