"""leaderboard.html: a sortable table, metric-vs-quality plots and side-by-side crops."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

from zoo.bench.baselines import ReportedRow, reported_at
from zoo.bench.crops import CROP_MARGIN, CROP_SIDE
from zoo.bench.leaderboard import (PARTIAL_NOTE, best_models, cell_text, command_text,
                                   fmt_metric, grouped_failures, groups, has_partial, incomparable,
                                   legend, metric_header, provenance, ranked)
from zoo.bench.suites import LOWER_IS_BETTER

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}
th{cursor:pointer;background:#f4f4f4;user-select:none}td:first-child,th:first-child{text-align:left}
tr.reported td{color:#666;font-style:italic;background:#fafafa}.best{font-weight:bold}
.plots img{margin:4px;border:1px solid #eee}.crops figure{display:inline-block;margin:4px;text-align:center}
.crops img{width:192px;image-rendering:pixelated}.crops figcaption{font-size:.8em}
.meta{font-size:.85em;color:#555}
"""

# Click a header to sort by it (numbers numerically, "–" last); reported rows stay in their
# own table, so sorting never mixes them with measured ones. A header's column is its index
# within its own table (a page-wide index would point past the cells of every later table).
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('thead th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var body = table.tBodies[0], rows = Array.from(body.rows);
      // The first click puts the best value on top (th data-better), later clicks reverse.
      var asc = th.dataset.asc ? th.dataset.asc !== '1' : th.dataset.better !== 'high';
      th.dataset.asc = asc ? '1' : '0';
      function val(r){ var t = r.cells[col].dataset.v || r.cells[col].textContent; var n = parseFloat(t);
        return isNaN(n) ? t : n; }
      rows.sort(function(a, b){ var x = val(a), y = val(b);
        if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def render_html(dataset: str, summary: list[dict[str, Any]], metrics: tuple[str, ...],
                reported: list[ReportedRow], meta: dict[str, Any], plots: list[Path],
                crops: list[dict[str, Any]], base: Path) -> str:
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Leaderboard: {e(dataset)}</title>",
           f"<style>{_STYLE}</style></head><body>", f"<h1>Leaderboard: {e(dataset)}</h1>",
           f"<p class='meta'>{e(str(meta.get('dataset_source', '')))} · {e(str(meta.get('encoder', '')))}"
           f"</p><p class='meta'>{e(provenance(meta))} {e(command_text(meta))}</p>",
           f"<p>Means over images; click a column to sort it, best first. {e(legend(summary, metrics, bool(reported)))}"
           + (" Reported rows are in <i>italics</i>, in their own table." if reported else "") + "</p>"]
    for protocol, quality, entries in groups(summary):
        out.append(f"<h2><code>{e(protocol)}</code> protocol, JPEG quality {quality}</h2>")
        out.append(_table(entries, metrics))
        if has_partial(entries, metrics):
            out.append(f"<p class='meta'>{e(PARTIAL_NOTE)}</p>")
        rep = reported_at(reported, protocol, quality)
        if rep:
            out.append(f"<p>Reported on {e(rep[0].dataset)} (published numbers):</p>")
            why = incomparable(rep, entries)
            if why:
                out.append(f"<p><b>Not comparable:</b> {e(why)}.</p>")
            out.append(_reported_table(rep, metrics))
    if plots:
        out.append("<h2>Metrics against quality</h2><div class='plots'>")
        out += [f"<img src='{_src(p, base)}' alt='{e(p.stem)}'>" for p in plots]
        out.append("</div>")
    if crops:
        out.append("<h2>Crops</h2>")
        out.append(f"<p class='meta'>Each image's most detailed {CROP_SIDE}-px square, shown "
                   "enlarged without smoothing. The JPEG is of the whole image (the benchmark's "
                   f"8x8 grid); each model restored the square with {CROP_MARGIN} px of context "
                   "around it, so its panel is not cut from the full-image result that was "
                   "scored, and may differ from it near the square's edges.</p>")
        out.append("<div class='crops'>")
        for c in crops:
            out.append(f"<h3>{e(c['image'])} ({e(c['protocol'])}, q{c['quality']})</h3><div>")
            out += [f"<figure><img src='{_src(Path(f), base)}' alt='{e(label)}'>"
                    f"<figcaption>{e(label)}</figcaption></figure>" for label, f in c["files"].items()]
            out.append("</div>")
        out.append("</div>")
    failures = grouped_failures(meta.get("failures", []))
    for title, items in (("Skipped images", [f"{i}: {w}" for i, w in meta.get("skipped_images", [])]),
                         ("Failures", [f"{where}: {w}" for where, w in failures])):
        if items:
            out.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{e(t)}</li>" for t in items) + "</ul>")
    out.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(out)


def _table(entries: list[dict[str, Any]], metrics: tuple[str, ...]) -> str:
    e = html.escape
    heads = ["model", *(metric_header(m) for m in metrics), "s / image", "images"]
    rows = []
    bests = {m: best_models(entries, m) for m in metrics}
    for entry in ranked(entries, metrics):
        cells = [f"<td>{e(entry['model'])}</td>"]
        for m in metrics:
            v = entry.get(m, math.nan)
            cls = " class='best'" if entry["model"] in bests[m] else ""
            cells.append(f"<td{cls} data-v='{_sort_value(v)}'>{e(cell_text(entry, m))}</td>")
        cells.append(f"<td>{fmt_metric('seconds', entry.get('seconds', math.nan))}</td>")
        cells.append(f"<td>{entry['images']}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    better = ["", *("low" if m in LOWER_IS_BETTER else "high" for m in metrics), "low", ""]
    ths = "".join(f"<th data-better='{b}'>{e(h)}</th>" if b else f"<th>{e(h)}</th>"
                  for h, b in zip(heads, better))
    return ("<table class='sortable'><thead><tr>" + ths + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def _src(path: Path, base: Path) -> str:
    """A file's relative URL: percent-encoded (image names may hold '#', '?' or '%')."""
    return html.escape(quote(path.relative_to(base).as_posix()))


def _sort_value(value: float) -> str:
    """The number as JavaScript's parseFloat reads it ("inf" it does not), or "" for NaN."""
    if math.isnan(value):
        return ""
    return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


def _reported_table(rows: list[ReportedRow], metrics: tuple[str, ...]) -> str:
    e = html.escape
    shown = [m for m in metrics if any(m in r.values for r in rows)]
    heads = ["model", *(metric_header(m) for m in shown), "source"]
    body = []
    for r in rows:
        link = f"<a href='{e(r.source_url)}'>{e(r.source_title or r.source)}</a>" if r.source_url else e(r.source)
        cells = [f"<td>{e(r.model)} (reported)</td>", *(f"<td>{e(r.printed.get(m, '–'))}</td>" for m in shown),
                 f"<td>{link}</td>"]
        body.append("<tr class='reported'>" + "".join(cells) + "</tr>")
    return ("<table class='sortable'><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in heads)
            + "</tr></thead><tbody>" + "".join(body) + "</tbody></table>")
