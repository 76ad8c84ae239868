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
                                   fmt_metric, grouped_failures, groups, has_partial, image_count,
                                   incomparable, legend, metric_header, provenance, ranked,
                                   title_detail)
from zoo.bench.suites import LOWER_IS_BETTER, METRIC_LABELS

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}
thead th{background:#f4f4f4}thead th[tabindex]{cursor:pointer}thead th:focus{outline:2px solid #36c}
tbody th{font-weight:normal}td:first-child,th:first-child{text-align:left}
tr.reported td,tr.reported th{color:#666;font-style:italic;background:#fafafa}.best{font-weight:bold}
.plots img{margin:4px;border:1px solid #eee;max-width:100%;height:auto}
.crops figure{display:inline-block;margin:4px;text-align:center}h3{overflow-wrap:anywhere}
.crops img{width:192px;image-rendering:pixelated}.crops figcaption{font-size:.8em}
.meta{font-size:.85em;color:#555}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
"""

# Click a header, or focus it and press Enter or Space, to sort by it: a column chosen anew puts
# its best value on top (th data-better), the same column again reverses it; numbers sort
# numerically (a cell's data-v), names as text, undefined values ("–") last either way.
# Reported rows stay in their own table, so sorting never mixes them with measured ones. A
# header's column is its index within its own table (a page-wide index would point past the
# cells of every later table).
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  var heads = table.querySelectorAll('thead th'), current = null, asc = true;
  heads.forEach(function(th, col){
    th.tabIndex = 0;
    function sort(){
      asc = th === current ? !asc : th.dataset.better !== 'high';
      current = th;
      heads.forEach(function(h){ h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0], rows = Array.from(body.rows);
      function val(r){ var c = r.cells[col];
        if (!('v' in c.dataset)) return c.textContent.toLowerCase();
        var n = parseFloat(c.dataset.v); return isNaN(n) ? null : n; }
      rows.sort(function(a, b){ var x = val(a), y = val(b);
        if (x === null || y === null) return (x === null) - (y === null);
        return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
      rows.forEach(function(r){ body.appendChild(r); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function(ev){
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); sort(); } });
  });
});
"""


def render_html(dataset: str, summary: list[dict[str, Any]], metrics: tuple[str, ...],
                reported: list[ReportedRow], meta: dict[str, Any], plots: list[Path],
                crops: list[dict[str, Any]], base: Path) -> str:
    """The text of leaderboard.html; ``plots`` and crop files are linked relative to ``base``, the
    page's folder."""
    e = html.escape
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
           "<meta name='viewport' content='width=device-width, initial-scale=1'>"
           f"<title>Leaderboard: {e(dataset)}{e(title_detail(summary))}</title>",
           f"<style>{_STYLE}</style></head><body>",
           f"<h1>Leaderboard: {e(dataset)}{e(title_detail(summary))}</h1>",
           f"<p class='meta'>Means over {image_count(summary)} images of {e(dataset)} "
           f"({e(str(meta.get('dataset_source', '')))}). Degradation: "
           f"{e(str(meta.get('encoder', '')))}.</p>"
           f"<p class='meta'>{e(provenance(meta))} {e(command_text(meta))}</p>",
           f"<p>Click a column's header to sort by it, best first (again: reversed)"
           "<noscript> when JavaScript is on; the tables are ranked as in LEADERBOARD.md</noscript>. "
           f"{e(legend(summary, metrics, bool(reported)))}"
           + (" Reported rows are in <i>italics</i>, in their own table." if reported else "") + "</p>"]
    for protocol, quality, entries in groups(summary):
        out.append(f"<h2><code>{e(protocol)}</code> protocol, JPEG quality {quality}</h2>")
        out.append(_table(entries, metrics, f"{protocol} protocol, JPEG quality {quality}"))
        if has_partial(entries, metrics):
            out.append(f"<p class='meta'>{e(PARTIAL_NOTE)}</p>")
        rep = reported_at(reported, protocol, quality)
        if rep:
            out.append(f"<p>Reported on {e(rep[0].dataset)} (published numbers):</p>")
            why = incomparable(rep, entries)
            if why:
                out.append(f"<p><b>Not comparable:</b> {e(why)}.</p>")
            out.append(_reported_table(rep, metrics, f"Reported on {rep[0].dataset}, {protocol} "
                                                     f"protocol, JPEG quality {quality}"))
    if plots:
        out.append("<h2>Metrics against quality</h2><div class='plots'>")
        out += [f"<img src='{_src(p, base)}' alt='{e(_plot_alt(p))}'>" for p in plots]
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
            out += [f"<figure><img src='{_src(Path(f), base)}' alt='{e(c['image'])}: {e(label)}'>"
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


def _table(entries: list[dict[str, Any]], metrics: tuple[str, ...], caption: str) -> str:
    e = html.escape
    heads = ["model", *(metric_header(m) for m in metrics), "s / image", "images"]
    rows = []
    bests = {m: best_models(entries, m) for m in metrics}
    for entry in ranked(entries, metrics):
        cells = [f"<th scope='row'>{e(entry['model'])}</th>"]
        for m in metrics:
            v = entry.get(m, math.nan)
            best = entry["model"] in bests[m]
            cls = " class='best'" if best else ""
            cells.append(f"<td{cls} data-v='{_sort_value(v)}'>{e(cell_text(entry, m))}"
                         f"{_BEST if best else ''}</td>")
        seconds = entry.get("seconds", math.nan)
        cells.append(f"<td data-v='{_sort_value(seconds)}'>{fmt_metric('seconds', seconds)}</td>")
        cells.append(f"<td data-v='{entry['images']}'>{entry['images']}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    better = ["", *("low" if m in LOWER_IS_BETTER else "high" for m in metrics), "low", "high"]
    return _sortable(caption, heads, better, rows)


_BEST = "<span class='sr'> (best)</span>"
"""Bold says "best" to the eye; this says it to a screen reader."""


def _sortable(caption: str, heads: list[str], better: list[str], rows: list[str]) -> str:
    """A sortable table (scrolling sideways on a narrow screen) with its caption for screen
    readers and each header's better direction."""
    e = html.escape
    ths = "".join(f"<th scope='col' data-better='{b}'>{e(h)}</th>" if b else f"<th scope='col'>{e(h)}</th>"
                  for h, b in zip(heads, better))
    return (f"<div class='scroll'><table class='sortable'><caption class='sr'>{e(caption)}</caption>"
            f"<thead><tr>{ths}</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")


def _plot_alt(path: Path) -> str:
    """A plot's text alternative: what it shows, from its name (``PROTOCOL_METRIC.png``)."""
    protocol, _, metric = path.stem.partition("_")
    return (f"{METRIC_LABELS.get(metric, metric)} against JPEG quality, {protocol} protocol, one "
            "line per model (the values are in the tables above)")


def _src(path: Path, base: Path) -> str:
    """A file's relative URL: percent-encoded (image names may hold '#', '?' or '%')."""
    return html.escape(quote(path.relative_to(base).as_posix()))


def _sort_value(value: float) -> str:
    """The number as JavaScript's parseFloat reads it ("inf" it does not), or "" for NaN."""
    if math.isnan(value):
        return ""
    return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")


def _reported_table(rows: list[ReportedRow], metrics: tuple[str, ...], caption: str) -> str:
    e = html.escape
    shown = [m for m in metrics if any(m in r.values for r in rows)]
    heads = ["model", *(metric_header(m) for m in shown), "source"]
    body = []
    for r in rows:
        link = f"<a href='{e(r.source_url)}'>{e(r.source_title or r.source)}</a>" if r.source_url else e(r.source)
        cells = [f"<th scope='row'>{e(r.model)} (reported)</th>",
                 *(f"<td data-v='{_sort_value(r.values.get(m, math.nan))}'>{e(r.printed.get(m, '–'))}</td>"
                   for m in shown), f"<td>{link}</td>"]
        body.append("<tr class='reported'>" + "".join(cells) + "</tr>")
    better = ["", *("low" if m in LOWER_IS_BETTER else "high" for m in shown), ""]
    return _sortable(caption, heads, better, body)
