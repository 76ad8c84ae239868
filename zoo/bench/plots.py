"""Plots for the HTML page: each metric against JPEG quality, one line per model (PNG files)."""

from __future__ import annotations

import math
import zlib
from functools import partial
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_write
from zoo.bench.suites import LOWER_IS_BETTER, METRIC_LABELS, METRIC_UNITS

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#bcbd22", "#17becf")  # matplotlib's tab10 without its grey, which is the JPEG's
_JPEG_COLOUR = "#7f7f7f"
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<")
"""One marker per palette colour: lines that colour alone cannot tell apart (orange and green
look alike to many colour-blind readers) differ in shape too."""
_JPEG_MARKER = "x"


def _colours(bases: list[str], shipped: list[str]) -> dict[str, str]:
    """The registry's entries with weights one colour each, in the registry's order, on every
    page; another model (a saved one) a colour from its name among those they leave, the next
    one free where two such names meet on one colour."""
    spare = list(_PALETTE[len(shipped):]) or list(_PALETTE)
    colours = {"jpeg": _JPEG_COLOUR}
    colours |= {b: _PALETTE[shipped.index(b) % len(_PALETTE)] for b in bases if b in shipped}
    for base in sorted(b for b in bases if b not in colours):
        first = zlib.crc32(base.encode()) % len(spare)
        ring = [spare[(first + k) % len(spare)] for k in range(len(spare))]
        colours[base] = next((c for c in ring if c not in colours.values()), ring[0])
    return colours


def line_styles(models: list[str]) -> dict[str, tuple[str, str, str]]:
    """``{model: (colour, line style, marker)}``: a model of the registry keeps its colour and
    marker on every page and in every plot, whichever others are beside it, the JPEG is grey
    crosses, and ``NAME+x8`` is ``NAME``'s colour and marker, dashed."""
    from zoo.ensemble import ENSEMBLE_SUFFIX  # here: the module imports torch
    from zoo.registry import list_models

    shipped = [name for name in list_models(with_weights=True) if name != "jpeg"]
    colours = _colours([m.removesuffix(ENSEMBLE_SUFFIX) for m in models], shipped)
    def marker(colour: str) -> str:
        return _MARKERS[_PALETTE.index(colour)] if colour in _PALETTE else _JPEG_MARKER

    return {m: (colours[m.removesuffix(ENSEMBLE_SUFFIX)],
                "--" if m.endswith(ENSEMBLE_SUFFIX) else "-",
                marker(colours[m.removesuffix(ENSEMBLE_SUFFIX)])) for m in models}


def plot_metrics(summary: list[dict[str, Any]], metrics: tuple[str, ...], folder: Path) -> list[Path]:
    """One PNG per (protocol, metric) with data; returns the files written. Figures are drawn
    without pyplot, so that a host program's backend (a notebook's) is left as it was (pyplot
    with ``matplotlib.use("Agg")`` switched it for the whole process)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for protocol in sorted({e["protocol"] for e in summary}):
        entries = [e for e in summary if e["protocol"] == protocol]
        for metric in metrics:
            lines: dict[str, list[tuple[int, float, bool]]] = {}
            for e in entries:
                if not math.isnan(e.get(metric, math.nan)):
                    fewer = metric in (e.get("partial") or {})
                    lines.setdefault(e["model"], []).append((int(e["quality"]), e[metric], fewer))
            if not lines:
                continue
            path = folder / f"{protocol}_{metric}.png"
            label = METRIC_LABELS.get(metric, metric)
            fig = _figure(lines, f"{label} ({protocol}; "
                          f"{'lower' if metric in LOWER_IS_BETTER else 'higher'} is better)",
                          f"{label} ({METRIC_UNITS[metric]})" if metric in METRIC_UNITS else label)
            atomic_write(path, partial(fig.savefig, format="png"), mode="wb")
            written.append(path)
    return written


def _figure(lines: dict[str, list[tuple[int, float, bool]]], title: str, ylabel: str) -> Any:
    """A metric against quality, one line per model; a hollow point is a mean over fewer
    images than the others (the tables' "(n of N)"), which the line joins to means over more."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 3.0), dpi=100)
    FigureCanvasAgg(fig)  # drawn by Agg, whatever the process's backend
    ax = fig.subplots()
    styles = line_styles(list(lines))
    for model, points in sorted(lines.items()):
        points.sort()
        colour, style, marker = styles[model]
        ax.plot([q for q, _, _ in points], [v for _, v, _ in points], marker=marker, label=model,
                color=colour, linestyle=style)
        hollow = [(q, v) for q, v, fewer in points if fewer]
        if hollow:
            ax.plot([q for q, _ in hollow], [v for _, v in hollow], marker=marker, linestyle="none",
                    color=colour, markerfacecolor="white", zorder=3)
    if any(fewer for points in lines.values() for _, _, fewer in points):
        ax.plot([], [], marker="o", linestyle="none", color="#555555", markerfacecolor="white",
                label="mean over fewer images\n(n of N in the tables)")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("JPEG quality")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
