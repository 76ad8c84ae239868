"""The README's headline table is the committed leaderboards' numbers, formatted by one script."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from script_modules import load_script

REPO = Path(__file__).resolve().parent.parent
FIELDS = "dataset,model,quality,protocol,images,psnr,psnr_b,ssim,ms_ssim,lpips_alex,niqe,brisque,seconds"


def _script() -> ModuleType:
    return load_script("benchmarks/headline_table.py")


def _leaderboard(root: Path, rows: list[str]) -> Path:
    """A leaderboard folder holding set ``S`` with these ``summary.csv`` rows."""
    (root / "S").mkdir()
    (root / "S" / "summary.csv").write_text("\n".join([FIELDS, *rows]) + "\n")
    return root


def test_readme_shows_the_committed_leaderboards() -> None:
    readme = (REPO / "README.md").read_text()
    assert _script().headline_table(REPO / "leaderboard") in readme, \
        "README's headline table is stale: paste `python benchmarks/headline_table.py` into it"
    assert _script().target_table(REPO / "leaderboard") in readme, \
        "README's target table is stale: paste `python benchmarks/headline_table.py --targets` into it"


def test_rows_order_and_relative_columns(tmp_path: Path) -> None:
    rows = [
        "S,jpeg,10,rgb,1,26.0,24.0,0.7,0.9,0.2000,7.0,50.0,0.1",
        "S,fast,10,rgb,1,26.5,25.0,0.72,0.9,0.1500,5.0,30.0,0.1",
        "S,sharp,10,rgb,1,27.25,26.0,0.75,0.9,0.2500,6.0,40.0,0.1",
        "S,sharp,20,rgb,1,99.0,99.0,0.99,0.9,0.0100,1.0,1.0,0.1",  # another quality: ignored
    ]
    lines = _script().headline_table(_leaderboard(tmp_path, rows), ("S",), 10).splitlines()
    assert lines[2:] == [
        "| S | rgb | `jpeg` | 26.00 | 24.00 | 0.7000 | 0.2000 | 7.00 | 50.0 |",
        "| S | rgb | `sharp` | 27.25 (+1.25) | 26.00 | 0.7500 | 0.2500 (+25 %) | 6.00 | 40.0 |",
        "| S | rgb | `fast` | 26.50 (+0.50) | 25.00 | 0.7200 | 0.1500 (-25 %) | 5.00 | 30.0 |",
    ]


def test_targets_met_or_not(tmp_path: Path) -> None:
    rows = [
        "S,jpeg,10,rgb,1,26.0,24.0,0.7,0.9,0.2000,7.0,50.0,0.1",
        "S,unet-l1,10,rgb,1,27.6,26.0,0.75,0.9,0.1200,6.0,40.0,0.1",
        "S,arnet-nogan,10,rgb,1,25.9,25.0,0.72,0.9,0.1300,5.0,30.0,0.1",
        "S,jpeg,10,y,1,28.0,24.0,0.7,0.9,0.2000,7.0,50.0,0.1",
        "S,unet-l1,10,y,1,29.599,26.0,0.75,0.9,0.1900,6.0,40.0,0.1",
        "S,arnet-nogan,10,y,1,28.0,25.0,0.72,0.9,0.1310,5.0,30.0,0.1",
    ]
    lines = _script().target_table(_leaderboard(tmp_path, rows), ("S",)).splitlines()
    assert lines[2:] == [
        "| S | rgb | +1.600 yes | -35.0 % yes | -0.100 **no** | `unet-l1` **no** |",
        "| S | y | +1.599 **no** | -34.5 % **no** | +0.000 yes | `arnet-nogan` yes |",
    ]


def test_protocols_sorted_unmeasured_psnr_last_and_a_partial_set_noted_wherever_it_is(
        tmp_path: Path) -> None:
    rows = {"A": ["A,jpeg,10,y,5,28.0,,,,,,,0.1,", "A,m,10,y,5,28.5,,,,,7.0,,0.1,niqe:4",
                  "A,jpeg,10,rgb,5,26.0,,,,,,,0.1,", "A,blank,10,rgb,5,,,,,,,,0.1,",
                  "A,m,10,rgb,5,27.0,,,,,,,0.1,"],
            "B": ["B,jpeg,10,rgb,5,26.0,,,,,,,0.1,", "B,m,10,rgb,5,27.0,,,,,,,0.1,"]}
    for name, lines in rows.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.csv").write_text("\n".join([FIELDS + ",partial", *lines]) + "\n")
    table = _script().headline_table(tmp_path, ("A", "B"), 10).splitlines()
    assert [line.split(" | ")[:3] for line in table[2:9]] == [
        ["| A", "rgb", "`jpeg`"], ["| A", "rgb", "`m`"], ["| A", "rgb", "`blank`"],
        ["| A", "y", "`jpeg`"], ["| A", "y", "`m`"], ["| B", "rgb", "`jpeg`"], ["| B", "rgb", "`m`"]]
    assert table[9] == "" and "(n of N)" in table[10]  # set A's NIQE covers 4 of its 5 images
