"""The README's headline table is the committed leaderboards' numbers, formatted by one script."""

from __future__ import annotations

import json
import math
import re
import statistics
from pathlib import Path
from types import ModuleType

from script_modules import load_script
from zoo.bench.results import Row, summarize, write_rows, write_summary

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
        "| S | rgb | `jpeg` | 26.00 | 24.00 | 0.7000 | 0.2000 | 7.00 | 50.0 | 1 |",
        "| S | rgb | `sharp` | 27.25 (+1.25) | 26.00 | 0.7500 | 0.2500 (+25 %) | 6.00 | 40.0 | 1 |",
        "| S | rgb | `fast` | 26.50 (+0.50) | 25.00 | 0.7200 | 0.1500 (-25 %) | 5.00 | 30.0 | 1 |",
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
    assert lines[2:5] == [  # no results.csv: no standard errors
        "| S | rgb | 1 | +1.600 yes | -35.0 % yes | -0.100 **no** | `unet-l1` **no** |",
        "| S | y | 1 | +1.599 **no** | -34.5 % **no** | +0.000 yes | `arnet-nogan` yes |",
        "",
    ]
    assert lines[5].endswith("No verdict lies within one standard error of its target. No standard "
                             "error (no per-image rows in `results.csv`): S rgb and S y.")


def _per_image_board(root: Path, values: dict[str, list[tuple[float, float]]]) -> Path:
    """Set ``S`` at q10 rgb with ``results.csv`` rows of (PSNR, LPIPS) per model and image, and
    the ``summary.csv`` that zoo's ``summarize`` makes of them."""
    rows = [Row("S", model, f"im{i}", 10, "rgb", {"psnr": psnr, "lpips_alex": lpips}, 0.1,
                measured=("psnr", "lpips_alex"))
            for model, images in values.items() for i, (psnr, lpips) in enumerate(images)]
    (root / "S").mkdir()
    write_rows(root / "S" / "results.csv", rows)
    write_summary(root / "S" / "summary.csv", summarize(rows))
    return root


def test_targets_carry_the_standard_error_of_the_per_image_differences(tmp_path: Path) -> None:
    board = _per_image_board(tmp_path, {
        "jpeg": [(26.0, 0.2), (27.0, 0.2), (28.0, 0.2)],
        "unet-l1": [(27.0, 0.15), (28.7, 0.15), (30.4, 0.15)],  # +1.0, +1.7, +2.4 dB
        "arnet-nogan": [(26.2, 0.11), (27.3, 0.12), (28.4, 0.13)]})
    lines = _script().target_table(board, ("S",)).splitlines()
    se = statistics.stdev([1.0, 1.7, 2.4]) / math.sqrt(3)  # 0.404: the gain's 1.7 is within it of 1.6
    lpips_se = 100 * statistics.stdev([-0.09, -0.08, -0.07]) / math.sqrt(3) / 0.2
    assert (f"{se:.2f}", f"{lpips_se:.1f}") == ("0.40", "2.9")
    assert lines[2] == ("| S | rgb | 3 | +1.700 ± 0.40 yes | -40.0 ± 2.9 % yes | +0.300 ± 0.06 yes "
                        "| `arnet-nogan` yes |")
    assert lines[3:5] == ["", _script().SE_NOTE + " Verdicts within one standard error of their "
                          "target (other images could turn them): S rgb `unet-l1` PSNR gain "
                          "+1.700 ± 0.40 (target +1.6 dB)."]


def _targets() -> dict[tuple[str, str, str], tuple[float, float]]:
    """The committed leaderboards' ``{(set, protocol, target label): (value, standard error)}``."""
    return {(name, protocol, target.label): (value, se)
            for name, protocol, _, measured in _script().target_rows(REPO / "leaderboard")
            for target, value, se in measured}


def test_committed_standard_errors_pair_the_images_of_the_means() -> None:
    """The mean of the per-image differences that give each ± is the table's gain: the same images."""
    script = _script()
    for name, protocol, models, _ in script.target_rows(REPO / "leaderboard"):
        per_image = script._per_image(REPO / "leaderboard" / name / "results.csv", 10)
        jpeg = per_image[(protocol, "jpeg")]
        assert len(jpeg) == models["jpeg"]["images"] >= 4
        for model in ("unet-l1", "arnet-nogan"):
            diffs = [per_image[(protocol, model)][i]["psnr"] - jpeg[i]["psnr"] for i in jpeg]
            assert math.isclose(statistics.fmean(diffs), models[model]["psnr"] - models["jpeg"]["psnr"],
                                abs_tol=1e-9)


def _paragraph_under(text: str, block: str) -> str:
    """The paragraph after ``block`` in ``text``, on one line."""
    assert block in text, f"not found: {block.splitlines()[0]}..."
    return " ".join(text.split(block, 1)[1].strip().split("\n\n")[0].split())


def test_readme_names_the_run_that_measured_the_headline_table() -> None:
    """The line under the table names the commit and day that each set's ``meta.json`` records,
    and the runs' own --out beside the README's reproduce command (--out leaderboard)."""
    readme = (REPO / "README.md").read_text()
    provenance = _paragraph_under(readme, _script().headline_table(REPO / "leaderboard"))
    commit = re.search(r"clean commit `([0-9a-f]{7,40})`", provenance).group(1)
    day = re.search(r"on (\d{4}-\d\d-\d\d)", provenance).group(1)
    assert "2-core" in provenance and "CPU fp32" in provenance and "--out leaderboard" in provenance
    for name in _script().DEFAULT_SETS:
        meta = json.loads((REPO / "leaderboard" / name / "meta.json").read_text())
        assert meta["git_commit"].startswith(commit) and meta["date"].startswith(day), name
        assert meta["device"] == "cpu (x86_64, 2 threads)", name
        run_out = re.search(r"--out (\S+)", meta["command"]).group(1)
        assert f"`{run_out}`" in provenance and not run_out.startswith("leaderboard"), name


def test_leaderboard_readme_verdict_agrees_with_the_targets_table() -> None:
    verdict = _paragraph_under((REPO / "leaderboard" / "README.md").read_text(), "# Reference leaderboards")
    targets = _targets()
    short = [f"{n} {p} ({v:+.3f} dB)" for (n, p, label), (v, _) in targets.items()
             if label == "`unet-l1` PSNR gain" and v < 1.6]
    assert short and f"met on every set and protocol but {' and '.join(short)}" in verdict
    lpips = [v for (_, _, label), (v, _) in targets.items() if label == "`arnet-nogan` LPIPS change"]
    assert max(lpips) > -35 and f"unmet everywhere (LPIPS {max(lpips):+.1f} % to {min(lpips):+.1f} %" in verdict
    psnr = [v for (_, _, label), (v, _) in targets.items() if label == "`arnet-nogan` PSNR gain"]
    assert min(psnr) > 0 and "its PSNR is above the JPEG's" in verdict
    goals = {target.label: target.goal for target in _script().TARGETS}
    assert any(abs(v - goals[label]) <= se for (_, _, label), (v, se) in targets.items())
    assert "some verdicts lie within one standard error of their target" in verdict


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
