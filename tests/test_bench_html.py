"""leaderboard.html's sorting script, run by node against a minimal DOM stand-in, and the
table structure it relies on."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from zoo.bench.baselines import ReportedRow
from zoo.bench.html import render_html

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "leaderboard").rglob("leaderboard.html"))
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not on PATH: the page's sorting "
                                "script cannot be run (the structural test still checks the tables)")

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Tree(HTMLParser):
    """The page as nested {tag, attrs, children} (text as strings), for the DOM stand-in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: dict[str, Any] = {"tag": "#document", "attrs": {}, "children": []}
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = {"tag": tag, "attrs": {k: v or "" for k, v in attrs}, "children": []}
        self.stack[-1]["children"].append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if self.stack[-1]["tag"] != "script":
            self.stack[-1]["children"].append(data)


# A DOM stand-in with what a table-sorting script uses: querySelectorAll / closest with
# descendant selectors of tag.class compounds (anything else throws, so a script needing more
# fails loudly rather than passing), tHead / tBodies / rows / cells / cellIndex, dataset,
# textContent, appendChild (moves the row) and click listeners. It runs the page's script, then
# the clicks, printing each table's body rows (each cell's text and data-v) after every click.
_HARNESS = r"""
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
function compound(s) {
  if (!/^([a-z0-9]+|\*)?(\.[\w-]+)*$/i.test(s) || !s) throw new Error('unsupported selector: ' + s);
  const [tag, ...classes] = s.split('.');
  return el => el.tagName && (!tag || tag === '*' || el.tagName === tag.toUpperCase())
    && classes.every(c => el.classList.includes(c));
}
function matcher(sel) {
  const parts = sel.trim().split(/\s+/).map(compound);
  return el => {
    if (!parts[parts.length - 1](el)) return false;
    let i = parts.length - 2, a = el.parentNode;
    for (; i >= 0 && a; a = a.parentNode) if (parts[i](a)) i--;
    return i < 0;
  };
}
class Element {
  constructor(n, parent) {
    this.tagName = n.tag.toUpperCase(); this.parentNode = parent; this.listeners = {};
    this.attrs = n.attrs; this.classList = (n.attrs['class'] || '').split(/\s+/).filter(Boolean);
    this.dataset = {};
    for (const k in n.attrs) if (k.startsWith('data-')) this.dataset[k.slice(5)] = n.attrs[k];
    this.childNodes = n.children.map(c => typeof c === 'string' ? c : new Element(c, this));
  }
  get children() { return this.childNodes.filter(c => typeof c !== 'string'); }
  get textContent() { return this.childNodes.map(c => typeof c === 'string' ? c : c.textContent).join(''); }
  descendants() { return this.children.flatMap(c => [c, ...c.descendants()]); }
  querySelectorAll(sel) { const m = matcher(sel); return this.descendants().filter(m); }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
  closest(sel) { const m = matcher(sel); for (let e = this; e && e.tagName; e = e.parentNode) if (m(e)) return e; return null; }
  get tHead() { return this.children.find(c => c.tagName === 'THEAD') || null; }
  get tBodies() { return this.children.filter(c => c.tagName === 'TBODY'); }
  get rows() { return this.tagName === 'TABLE' ? this.children.flatMap(s => s.tagName === 'TR' ? [s] : s.children.filter(r => r.tagName === 'TR'))
                                               : this.children.filter(c => c.tagName === 'TR'); }
  get cells() { return this.children.filter(c => c.tagName === 'TD' || c.tagName === 'TH'); }
  get cellIndex() { return this.parentNode.cells.indexOf(this); }
  appendChild(c) {
    if (c.parentNode) c.parentNode.childNodes.splice(c.parentNode.childNodes.indexOf(c), 1);
    c.parentNode = this; this.childNodes.push(c); return c;
  }
  addEventListener(type, f) { (this.listeners[type] = this.listeners[type] || []).push(f); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  removeAttribute(k) { delete this.attrs[k]; }
  getAttribute(k) { return k in this.attrs ? this.attrs[k] : null; }
}
const root = new Element(input.tree, null);
root.tagName = undefined;
global.document = root;
eval(input.script);
const tables = root.querySelectorAll('table');
const bodies = () => tables.map(t => t.tBodies[0].rows.map(r => r.cells.map(c => [c.textContent, c.dataset.v])));
const out = [];
const sorted = () => tables.map(t => t.rows[0].cells.map(c => c.getAttribute('aria-sort')));
for (const [t, col, key] of input.clicks) {
  const th = tables[t].rows[0].cells[col];
  const ev = key ? {target: th, key: key, preventDefault() {}} : {target: th};
  try { (th.listeners[key ? 'keydown' : 'click'] || []).forEach(f => f.call(th, ev));
        out.push({tables: bodies(), sorted: sorted(), focusable: th.tabIndex === 0}); }
  catch (e) { out.push({error: String(e.message)}); }
}
console.log(JSON.stringify(out));
"""


def _run_script(page: str, clicks: list[tuple[Any, ...]], tmp_path: Path) -> list[dict[str, Any]]:
    """Run the page's own <script> on the stand-in, then click (table, header column) in turn,
    or press a key on it: (table, column, "Enter")."""
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(scripts) == 1 and "<script src" not in page  # one inline script: works offline
    tree = _Tree()
    tree.feed(page)
    (tmp_path / "harness.js").write_text(_HARNESS)
    (tmp_path / "input.json").write_text(json.dumps({"tree": tree.root, "script": scripts[0],
                                                     "clicks": clicks}))
    done = subprocess.run([NODE, str(tmp_path / "harness.js"), str(tmp_path / "input.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _entry(model: str, quality: int, psnr: float, ssim: float, lpips: float, seconds: float) -> dict:
    return {"dataset": "toy", "model": model, "quality": quality, "protocol": "rgb", "images": 3,
            "psnr": psnr, "ssim": ssim, "lpips_alex": lpips, "seconds": seconds, "partial": {}}


def _page(tmp_path: Path) -> str:
    """Three sortable tables: rgb q10, rgb q20 (measured) and rgb q20's reported rows."""
    summary = [_entry("jpeg", 10, 25.0, 0.70, 0.40, 0.01), _entry("a", 10, 27.0, 0.75, 0.30, 0.50),
               _entry("b", 10, 26.0, 0.80, 0.20, 0.20),
               _entry("jpeg", 20, 28.0, 0.80, 0.30, 0.01), _entry("a", 20, 30.0, 0.78, 0.25, 0.50),
               _entry("b", 20, 29.0, 0.85, 0.10, 0.20), _entry("c", 20, math.nan, 0.82, 0.15, 0.30)]
    reported = [ReportedRow("toy", "rgb", 20, name, {"psnr": v}, "src", printed={"psnr": f"{v:.2f}"})
                for name, v in (("Y", 31.5), ("X", 29.25), ("Z", 30.0))]
    return render_html("toy", summary, ("psnr", "ssim", "lpips_alex"), reported, {}, [], [], tmp_path)


@needs_node
def test_html_sort_second_table_by_its_own_column(tmp_path: Path) -> None:
    """Headers are numbered within their table: before, the index ran across the page, so the
    second table's PSNR header (7th on the page) read cells[7] and every click threw."""
    clicks = [(1, 1), (1, 1), (1, 3), (2, 1), (2, 0), (0, 2)]
    steps = _run_script(_page(tmp_path), clicks, tmp_path)
    assert [s.get("error") for s in steps] == [None] * len(clicks)
    models = [[[r[0][0] for r in t] for t in s["tables"]] for s in steps]
    q10 = ["a", "b", "jpeg"]  # unclicked: best PSNR first, as in LEADERBOARD.md
    assert models[0] == [q10, ["a", "b", "jpeg", "c"], ["Y (reported)", "X (reported)", "Z (reported)"]]
    assert models[1][1] == ["jpeg", "b", "a", "c"]  # second click reverses; "–" (no value) stays last
    assert models[2][1] == ["b", "c", "a", "jpeg"]  # LPIPS: lower is better, so lowest first
    # Published PSNR best first too (its header had no data-better: the first click sorted it
    # worst first, under a page saying "best first").
    assert models[3][2] == ["Y (reported)", "Z (reported)", "X (reported)"]
    assert models[4][2] == ["X (reported)", "Y (reported)", "Z (reported)"]  # by name
    assert models[5] == [["b", "a", "jpeg"], models[2][1], models[4][2]]  # SSIM, q10 table only


def test_html_a_column_chosen_again_sorts_best_first_by_mouse_or_keyboard(tmp_path: Path) -> None:
    """Each header remembered its last direction: PSNR, then LPIPS, then PSNR again sorted PSNR
    worst first with nothing saying so; and the headers took no keyboard."""
    clicks = [(1, 1), (1, 3), (1, 1), (1, 1, "Enter"), (1, 3, " "), (1, 0)]
    steps = _run_script(_page(tmp_path), clicks, tmp_path)
    assert [s.get("error") for s in steps] == [None] * len(clicks)
    models = [[r[0][0] for r in s["tables"][1]] for s in steps]
    assert models[2] == models[0] == ["a", "b", "jpeg", "c"]  # best first again
    assert models[3] == ["jpeg", "b", "a", "c"]  # Enter on the same header: reversed
    assert models[4] == ["b", "c", "a", "jpeg"]  # Space on LPIPS: best (lowest) first
    assert models[5] == ["a", "b", "c", "jpeg"]  # names as text
    assert steps[2]["sorted"][1] == [None, "descending", None, None, None, None]  # PSNR: high first
    assert steps[4]["sorted"][1] == [None, None, None, "ascending", None, None]
    assert all(s["focusable"] for s in steps)


def _columns(page: str) -> list[dict[str, Any]]:
    """Each sortable table: its header cells (text, data-better) and body rows (data-v, text)."""
    tree = _Tree()
    tree.feed(page)

    def walk(node: Any):
        if isinstance(node, dict):
            yield node
            for c in node["children"]:
                yield from walk(c)

    def text(node: Any) -> str:
        return node if isinstance(node, str) else "".join(text(c) for c in node["children"])

    tables = []
    for t in walk(tree.root):
        if t["tag"] != "table" or "sortable" not in t["attrs"].get("class", "").split():
            continue
        sections = [c for c in t["children"] if isinstance(c, dict)]
        rows = {s["tag"]: [[c for c in r["children"] if isinstance(c, dict)] for r in s["children"]
                           if isinstance(r, dict) and r["tag"] == "tr"] for s in sections}
        tables.append({"sections": [s["tag"] for s in sections],
                       "head": [(c["tag"], text(c), c["attrs"].get("data-better"))
                                for c in (rows.get("thead") or [[]])[0]],
                       "head_rows": len(rows.get("thead", [])),
                       "body": [[(c["tag"], c["attrs"].get("data-v"), text(c), c["attrs"]) for c in r]
                                for r in rows.get("tbody", [])]})
    return tables


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@pytest.mark.parametrize("source", ["rendered", *(p.parent.name for p in PAGES)])
def test_html_sortable_tables_align_headers_with_cells(source: str, tmp_path: Path) -> None:
    """What sorting by a header's index within its table needs: one header row in <thead>, one
    <tbody>, every row as wide as the header, no spans, and under each metric header (data-better)
    a number in every row (data-v, else the text) or nothing ('–': no value, sorted last)."""
    page = _page(tmp_path) if source == "rendered" else (ROOT / "leaderboard" / source / "leaderboard.html").read_text()
    tables = _columns(page)
    assert len(tables) >= 2  # the case the page-wide index broke
    for t in tables:
        assert t["sections"] == ["caption", "thead", "tbody"] and t["head_rows"] == 1
        assert t["body"] and all(tag == "th" for tag, _, _ in t["head"])
        for row in t["body"]:
            assert len(row) == len(t["head"])
            assert [tag for tag, *_ in row] == ["th", *["td"] * (len(row) - 1)]  # the model heads its row
            assert all("colspan" not in attrs for *_, attrs in row)
            for (_, header, better), (_, v, text, _) in zip(t["head"], row):
                if better:
                    assert better in ("high", "low"), header
                    assert (_number(v) is not None if v else
                            _number(text) is not None or text.strip() in ("–", "")), (header, v, text)


_FLOAT = re.compile(r"\s*[+-]?(Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")


def _parse_float(text: str) -> float | None:
    """JavaScript's parseFloat: the number the text starts with, None where it reads NaN."""
    m = _FLOAT.match(text)
    return float(m.group(0).replace("Infinity", "inf")) if m else None


@needs_node
@pytest.mark.parametrize("page", PAGES, ids=[p.parent.name for p in PAGES])
def test_html_committed_pages_sort_every_column(page: Path, tmp_path: Path) -> None:
    """Every header of every table in the committed pages sorts its own table by its column:
    numbers (data-v, else the text) first, best first on the first click, then the rest as text."""
    text = page.read_text()
    tables = _columns(text)
    clicks = [(t, c) for t, table in enumerate(tables) for c in range(len(table["head"]))]
    steps = _run_script(text, clicks, tmp_path)
    assert len(steps) == len(clicks) > len(tables[0]["head"])
    for (t, c), step in zip(clicks, steps):
        where = (page.parent.name, t, tables[t]["head"][c][1])
        assert "error" not in step, (*where, step["error"])
        rows = step["tables"][t]
        assert len(rows) == len(tables[t]["body"])
        keys = [(_parse_float(v or txt), v or txt) for txt, v in (r[c] for r in rows)]
        nums = [n for n, _ in keys if n is not None]
        words = [w for n, w in keys if n is None]
        assert [n for n, _ in keys[:len(nums)]] == nums, where  # numbers first, then text
        high = tables[t]["head"][c][2] == "high"
        assert nums == sorted(nums, reverse=high) and words == sorted(words, reverse=high), where


def test_the_crops_say_how_they_were_made(tmp_path: Path) -> None:
    """A model's crop is restored from its square with context, not cut from the scored result:
    the page says so, and that the crops are enlarged, with the sizes the crops are made at."""
    from zoo.bench.crops import CROP_MARGIN, CROP_SIDE

    summary = [{"dataset": "toy", "model": "jpeg", "quality": 10, "protocol": "rgb", "images": 1,
                "seconds": 0.1, "partial": {}, "psnr": 27.0}]
    crop = {"image": "a", "protocol": "rgb", "quality": 10,
            "files": {"ground truth": tmp_path / "crops" / "a_truth.png"}}
    page = render_html("toy", summary, ("psnr",), [], {}, [], [crop], tmp_path)
    assert (f"Each image's most detailed {CROP_SIDE}-px square, shown enlarged without smoothing. "
            f"The JPEG is of the whole image (the benchmark's 8x8 grid); each model restored the "
            f"square with {CROP_MARGIN} px of context around it, so its panel is not cut from the "
            "full-image result that was scored") in page
    assert "<figcaption>ground truth</figcaption>" in page
    assert "most detailed" not in render_html("toy", summary, ("psnr",), [], {}, [], [], tmp_path)
