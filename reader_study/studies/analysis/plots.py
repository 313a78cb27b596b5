"""The analysis figures as PNG bytes: score distributions and the VGC curve of one criterion.

Figures are drawn on their own Agg canvas, never through pyplot, so that web requests in
threads share no global figure state and no display is needed.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reader_study.studies.analysis import statistics

KINDS = ("distribution", "vgc")


def figure(
    df: pd.DataFrame, criterion: str, kind: str, conditions: tuple[str, str] | None = None
) -> bytes:
    """Draws the figure `kind` (one of KINDS) of one criterion as PNG bytes."""
    a, b = conditions or statistics.conditions_of(df)
    if kind == "vgc":
        return vgc_curve(df, criterion, a, b)
    return distribution_chart(df, criterion, a, b)


def data_uri(png: bytes) -> str:
    """Returns PNG bytes as a data: URI, for a report that carries its own figures."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def distribution_chart(
    df: pd.DataFrame, criterion: str, a: str = statistics.REFERENCE, b: str = statistics.TEST
) -> bytes:
    """Draws the score distribution per condition, pooled and per reader, as diverging bars."""
    summary = statistics.describe_criterion(df, criterion, a, b)
    levels = summary["levels"]
    rows = []  # (label, counts), top to bottom
    for group in summary["groups"]:
        rows.append((f"{group['label']} (all)", group["counts"]))
        rows += [(f"{group['label']}: {r['reader']}", r["counts"]) for r in group["readers"]]
    fig = Figure(figsize=(8, 1.2 + 0.32 * max(len(rows), 2)), layout="constrained")
    ax = fig.add_subplot()
    if not any(sum(counts) for _, counts in rows):
        return _empty(fig, ax, f"No scores yet for {criterion}")
    colours = _palette(len(levels))
    middle = len(levels) // 2
    for y, (_, counts) in enumerate(rows):
        share = np.asarray(counts, float) / max(sum(counts), 1)
        # Centre the bar on the neutral level, so that worse goes left and better goes right.
        left = -share[:middle].sum() - (share[middle] / 2 if len(levels) % 2 else 0)
        for level, (part, colour) in enumerate(zip(share, colours, strict=True)):
            ax.barh(
                y,
                part,
                left=left,
                color=colour,
                edgecolor="white",
                linewidth=0.5,
                label=str(levels[level]) if y == 0 else None,
            )
            left += part
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.set_xlabel("Share of scores (left of 0: below the middle of the scale)")
    ax.set_title(f"{criterion}: score distribution")
    ax.legend(
        title="Score",
        ncols=len(levels),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.25),
        frameon=False,
    )
    return _png(fig)


def vgc_curve(
    df: pd.DataFrame, criterion: str, a: str = statistics.REFERENCE, b: str = statistics.TEST
) -> bytes:
    """Draws the VGC curve (mean of readers, each reader faint) with the diagonal."""
    result = statistics.vgc(df, criterion, a, b, bootstrap=0)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    if result["points"] is None:
        return _empty(fig, ax, result["note"] or f"No VGC for {criterion}")
    for reader in result["readers"]:
        if reader["points"] is not None:
            x, y = np.asarray(reader["points"]).T
            ax.plot(x, y, color="0.7", linewidth=1)
    x, y = np.asarray(result["points"]).T
    ax.plot(x, y, marker="o", color="tab:blue", linewidth=2, label=f"AUC = {result['auc']:.2f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.4", linewidth=1, label="No difference")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(f"Proportion of {a} scored at or above each level")
    ax.set_ylabel(f"Proportion of {b} scored at or above each level")
    ax.set_title(f"{criterion}: VGC")
    ax.legend(loc="lower right")
    return _png(fig)


def _palette(n: int) -> list:
    """Returns n colours from red (worst) through grey to blue (best)."""
    colours = [colormaps["RdBu"](x) for x in np.linspace(0.1, 0.9, n)]
    if n % 2:
        colours[n // 2] = "0.8"  # the neutral level, visible on a white page
    return colours


def _empty(fig: Figure, ax, message: str) -> bytes:
    """Draws a figure that only says why there is nothing to show."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    """Renders the figure on an Agg canvas and returns the PNG bytes."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
