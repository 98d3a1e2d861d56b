"""The report's charts: per-column bars with 95% CIs, and a forest plot of differences.

Every metric keeps its own scale: the bars are one panel per column, and the forest
plot one panel per unit (`ForestRow.unit`): shares and scores in [0, 1] share a panel,
and a column on any other scale (MME's 0-2000 totals, CIDEr) gets a panel of its own,
so a difference of 50 MME points never flattens a difference of 0.05 in accuracy.

Figures are drawn with matplotlib's Agg backend (no display needed) and returned as SVG
text for the page, or written as PNG and SVG files for papers. SVG text is drawn as
paths, so the page needs no fonts and no network.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sbt_bench.core.errors import SbtError
from sbt_bench.core.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Colour-blind safe (Okabe-Ito), one per model in row order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
SIGNIFICANT_COLOUR = "#D55E00"
"""Significantly worse than the base."""
BETTER_COLOUR = "#009E73"
PLAIN_COLOUR = "#555555"
UNIT_SHARE = "shares and scores in [0, 1]"


@dataclass(frozen=True)
class Bar:
    """One model's value in one column, with its 95% CI (None: not recorded)."""

    model: str
    value: float
    interval: tuple[float, float] | None
    partial: bool = False


@dataclass(frozen=True)
class ForestRow:
    """One difference against the base: `other - base` with its CI and adjusted p."""

    label: str
    difference: float
    ci_low: float
    ci_high: float
    p_holm: float
    significant: bool
    unit: str = UNIT_SHARE
    """The panel the row is drawn in: rows of one unit share an x axis."""
    verdict: str | None = None
    """"better" or "worse" than the base by the metric's direction (None: neither)."""


def bar_chart(columns: Sequence[tuple[str, Sequence[Bar]]], models: Sequence[str]) -> Figure:
    """Small multiples, one panel per column (each on its own scale), one bar per model."""
    figure_cls = _figure_class()
    n_cols = min(5, len(columns)) or 1
    n_rows = math.ceil(len(columns) / n_cols) or 1
    fig = figure_cls(figsize=(2.6 * n_cols, 2.4 * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    colours = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    for ax, (label, bars) in zip(axes, columns, strict=False):
        positions = range(len(bars))
        ax.bar(
            positions,
            [b.value for b in bars],
            color=[colours[b.model] for b in bars],
            hatch=[("//" if b.partial else "") for b in bars],
            edgecolor="white",
            yerr=_error_bars(bars),
            capsize=3,
            ecolor="#222222",
        )
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    handles = [_patch(colours[m], m) for m in models]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(4, len(models)), fontsize=8)
    return fig


def forest_plot(rows: Sequence[ForestRow], base: str) -> Figure:
    """Each difference as a point with its 95% CI, one panel (own x axis) per unit.

    Coloured by verdict: green significantly better than the base (after Holm), orange
    significantly worse; grey otherwise, a significant change of a metric without a
    direction (yes_ratio) too.
    """
    figure_cls = _figure_class()
    units: dict[str, list[ForestRow]] = {}
    for row in rows:
        units.setdefault(row.unit, []).append(row)
    heights = [len(members) + 1.2 for members in units.values()] or [1.0]
    fig = figure_cls(figsize=(8, 0.35 * sum(heights) + 0.8), layout="constrained")
    axes = fig.subplots(len(heights), 1, squeeze=False, height_ratios=heights).ravel()
    for ax, (unit, members) in zip(axes, units.items(), strict=False):
        _forest_panel(ax, members)
        ax.set_title(unit, fontsize=9, loc="left")
    axes[-1].set_xlabel(
        f"difference from {base} (95% CI; p < 0.05 after Holm: green better, orange worse)",
        fontsize=8,
    )
    return fig


def _forest_panel(ax: Axes, rows: Sequence[ForestRow]) -> None:
    ys = list(range(len(rows)))[::-1]
    for y, row in zip(ys, rows, strict=True):
        colour = {"better": BETTER_COLOUR, "worse": SIGNIFICANT_COLOUR}.get(
            row.verdict or "", PLAIN_COLOUR
        )
        ax.errorbar(
            row.difference,
            y,
            xerr=[[row.difference - row.ci_low], [row.ci_high - row.difference]],
            fmt="o",
            color=colour,
            capsize=3,
            markersize=5,
        )
    ax.axvline(0.0, color="#999999", linewidth=1, linestyle="--")
    ax.set_yticks(ys, [r.label for r in rows], fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)


def svg_text(fig: Figure, salt: str) -> str:
    """The figure as an inline `<svg>` element (XML header and doctype dropped).

    Its element ids are hashed with `salt`, so two charts on one page never share an id
    (their clip paths would cross) and the same inputs give the same page.
    """
    from matplotlib import rc_context  # noqa: PLC0415 - see _figure_class

    out = io.StringIO()
    with rc_context({"svg.hashsalt": salt}):
        fig.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]


def save_figure(fig: Figure, folder: Path, stem: str) -> list[Path]:
    """`<folder>/<stem>.png` (200 dpi) and `.svg`, written atomically.

    The SVG's ids are hashed with the stem (as `svg_text` does), so the same figure
    gives the same bytes: a rerun's `--push-to-hub` then has nothing to send.
    """
    from matplotlib import rc_context  # noqa: PLC0415 - see _figure_class

    written = []
    for fmt in ("png", "svg"):
        out = io.BytesIO()
        with rc_context({"svg.hashsalt": stem}):
            fig.savefig(out, format=fmt, dpi=200, metadata={"Date": None} if fmt == "svg" else None)
        path = folder / f"{stem}.{fmt}"
        write_atomic(path, out.getvalue(), fix="give --plots another folder")
        written.append(path)
    return written


def _error_bars(bars: Sequence[Bar]) -> list[list[float]]:
    """Asymmetric (below, above) lengths; 0 where a bar has no interval."""
    below = [0.0 if b.interval is None else max(0.0, b.value - b.interval[0]) for b in bars]
    above = [0.0 if b.interval is None else max(0.0, b.interval[1] - b.value) for b in bars]
    return [below, above]


def _patch(colour: str, label: str) -> object:
    from matplotlib.patches import Patch  # noqa: PLC0415 - see _figure_class

    return Patch(facecolor=colour, label=label)


def _figure_class() -> type[Figure]:
    """Matplotlib's Figure, imported on use: it is an optional dependency (`report` extra).

    Figures built from `Figure` directly (not pyplot) need no backend and no display.
    """
    try:
        from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError:
        raise SbtError(
            "the report needs matplotlib: pip install -e '.[report]' (or pip install matplotlib)"
        ) from None
    return Figure
