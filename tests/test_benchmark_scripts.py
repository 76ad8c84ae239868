"""The scripts in benchmarks/ as a user runs them: bad input is one line and exit status 2 before
any measuring, Ctrl-C keeps the rows measured, and numbers carry the labels of what was measured.

Most run in this process as ``python benchmarks/SCRIPT.py ARGS`` would (``runpy``), with the
measurement replaced where it would take long."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

import zoo
import zoo.tiling
from zoo.cli import run_tool
from zoo.errors import ZooError
from script_modules import load_script

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
SUMMARY = "dataset,model,quality,protocol,images,psnr,psnr_b,ssim,ms_ssim,lpips_alex,niqe,brisque,seconds,partial"


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    return 1  # SystemExit("message"): Python prints the message and exits 1


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], script: str,
         *args: str | Path) -> tuple[int, str, str]:
    """``python benchmarks/SCRIPT ARGS`` in this process: (exit status, stdout, stderr)."""
    path = BENCH / script
    monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
    try:
        runpy.run_path(str(path), run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:  # let through, it would end the whole test session
        pytest.fail(f"{script}: KeyboardInterrupt escaped (a traceback for the user)")
    out, err = capsys.readouterr()
    return code, out, err


def _module(script: str) -> ModuleType:
    return load_script(f"benchmarks/{script}")


def _call(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], module: ModuleType,
          *args: str | Path) -> tuple[int, str, str]:
    """A loaded script's ``main`` the way its ``__main__`` block runs it (with ``run_tool``)."""
    monkeypatch.setattr(sys, "argv", [f"{module.__name__}.py", *map(str, args)])
    try:
        code = run_tool(module.main)
    except SystemExit as exc:
        code = _exit_code(exc)
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(err: str) -> str:
    """The one line of a refused run (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _png(path: Path, size: tuple[int, int] = (48, 64), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _corrupt(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    return path


def _fake_children(monkeypatch: pytest.MonkeyPatch, *outcomes: Any) -> list[list[str]]:
    """Replace child processes: each call takes the next outcome (a CompletedProcess's
    ``(returncode, stdout, stderr)``, or an exception to raise); returns the commands run."""
    calls: list[list[str]] = []

    def run(cmd: list[str], *args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return subprocess.CompletedProcess(cmd, *outcome)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


# --- A: bad input is one line and exit status 2 -------------------------------------------------

OUT_OF_RANGE = [
    ("tiling_difference.py", ["--quality", "0"]), ("tiling_difference.py", ["--quality", "101"]),
    ("tiling_difference.py", ["--tile", "0"]), ("tiling_difference.py", ["--overlap", "-5"]),
    ("psnr_b_counts.py", ["--quality", "0"]), ("psnr_b_counts.py", ["--crop", "0"]),
    ("psnr_b_counts.py", ["--crop", "3x"]),
    ("data_overlap.py", ["--val", ".", "--threshold", "1.5"]),
    ("data_overlap.py", ["--val", ".", "--threshold", "nan"]),
    ("precision_quality.py", ["--quality", "0"]), ("headline_table.py", ["--quality", "0"]),
    ("speed_bench.py", ["--metrics", "nosuch"]), ("speed_bench.py", ["--quality", "0"]),
    ("speed_metrics.py", ["--repeats", "0"]), ("speed_metrics.py", ["--repeats", "-1"]),
    ("speed_metrics.py", ["--repeats", "91"]),  # one JPEG copy per call: q11..q100
    ("speed_restore.py", ["--models", "jpeg", "--no-tiled", "--size", "16", "--runs", "1",
                          "--warmup", "-1"]),
    ("speed_restore.py", ["--models", "jpeg", "--no-tiled", "--size", "16", "--runs", "0"]),
    ("speed_train.py", ["--data", "nowhere", "--models", "unet-l1", "--steps", "0"]),
    ("speed_train.py", ["--data", "nowhere", "--models", "unet-l1", "--steps", "-1"]),
    ("speed_train.py", ["--data", "nowhere", "--models", "unet-l1", "--fit-minutes", "-5",
                        "--fit-out", "fit.txt"]),
    ("speed_train.py", ["--data", "nowhere", "--models"]),
    ("speed_denormals.py", ["--repeats", "0"]), ("speed_denormals.py", ["--threads", "0"]),
    ("speed_write.py", ["--levels", "10"]), ("speed_write.py", ["--megapixels", "0"]),
    ("speed_write.py", ["--repeats", "0"]),
]


@pytest.mark.parametrize(("script", "args"), OUT_OF_RANGE)
def test_values_out_of_range_are_usage_errors(script: str, args: list[str], monkeypatch, capsys,
                                              tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(monkeypatch, capsys, script, *args)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"{script}: error: argument"), err



@pytest.mark.parametrize(("script", "old", "new"), [
    ("speed_bench.py", ["--qualities", "0"], ["--quality", "0"]),
    ("speed_train.py", ["--data", "nowhere", "--entries", "nosuch"],
     ["--data", "nowhere", "--models", "nosuch"]),
    ("speed_denormals.py", ["--entry", "nosuch"], ["--model", "nosuch"]),
])
def test_old_option_names_mean_the_new_ones(script: str, old: list[str], new: list[str], monkeypatch,
                                            capsys, tmp_path: Path) -> None:
    """The options renamed to zoo's own names (--quality, --models, --model) keep their old
    spellings, which commands in training/README and earlier notes use, as hidden aliases."""
    monkeypatch.chdir(tmp_path)
    said = []
    for args in (old, new):
        code, _, err = _run(monkeypatch, capsys, script, *args)
        said.append((code, err.strip().splitlines()[-1].replace(old[-2], new[-2])))
    assert said[0] == said[1] and said[0][0] == 2, said


def test_old_option_names_are_hidden_and_the_defaults_are_zoos(monkeypatch, capsys, tmp_path: Path) -> None:
    """The aliases stay out of --help, speed_bench's default qualities are zoo bench's, and an
    error names the option by its new name (a mutation audit's survivors)."""
    monkeypatch.chdir(tmp_path)
    for script, old in (("speed_bench.py", "--qualities"), ("speed_train.py", "--entries"),
                        ("speed_denormals.py", "--entry ")):
        code, out, _ = _run(monkeypatch, capsys, script, "--help")
        assert code == 0 and old not in out, out
    code, _, err = _run(monkeypatch, capsys, "speed_train.py", "--fit-minutes", "5")
    assert code == 2 and "with exactly one of --models" in err
    speed = _module("speed_bench.py")

    class Seen(Exception):
        """The zoo bench command the script would time."""

    def record(cmd: list[str]) -> float:
        raise Seen(cmd)

    monkeypatch.setattr(speed, "warm_up", lambda metrics: None)
    monkeypatch.setattr(speed, "timed_bench", record)
    with pytest.raises(Seen) as seen:
        speed.main(["--models", "jpeg", "--metrics", "psnr"])
    cmd = seen.value.args[0]
    assert cmd[cmd.index("--quality") + 1:cmd.index("--models")] == ["10", "20", "30"]

def test_before_after_refuses_an_output_it_cannot_write_before_drawing(tmp_path: Path, monkeypatch,
                                                                        capsys) -> None:
    crops = tmp_path / "board" / "crops"
    for label in ("JPEG_q10", "m", "ground_truth"):
        _png(crops / f"chelsea_rgb_q10_{label}.png")
    common = ["--leaderboard", tmp_path / "board", "--models", "m", "--out"]
    (tmp_path / "file").write_text("")
    code, _, err = _run(monkeypatch, capsys, "before_after.py", *common, tmp_path / "file" / "fig.png")
    assert code == 2 and "is a file, not a folder" in _one_error(err)
    code, _, err = _run(monkeypatch, capsys, "before_after.py", *common, tmp_path / "fig.jpgx")
    assert code == 2 and "'.jpgx'" in _one_error(err)

    code, _, _ = _run(monkeypatch, capsys, "before_after.py", *common, tmp_path / "new" / "fig.png")
    assert code == 0 and (tmp_path / "new" / "fig.png").stat().st_size > 0  # its folder made

    _corrupt(crops / "chelsea_rgb_q10_m.png")
    code, _, err = _run(monkeypatch, capsys, "before_after.py", *common, tmp_path / "fig2.png")
    assert code == 2 and "chelsea_rgb_q10_m.png" in _one_error(err)
    assert not (tmp_path / "fig2.png").exists()


def _board(root: Path, rows: list[str], name: str = "S") -> Path:
    (root / name).mkdir(parents=True)
    (root / name / "summary.csv").write_text("\n".join([SUMMARY, *rows]) + "\n", encoding="utf-8")
    return root


JPEG_ROW = "S,jpeg,10,rgb,5,26.0,24.0,0.7,0.9,0.2000,7.0,50.0,0.1,"


def test_headline_table_names_a_missing_or_unreadable_summary(tmp_path: Path, monkeypatch,
                                                              capsys) -> None:
    board = _board(tmp_path / "board", [JPEG_ROW])
    code, _, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board,
                        "--sets", "NoSuchSet")
    assert code == 2 and "NoSuchSet" in _one_error(err) and "S" in err
    code, _, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", tmp_path / "nope",
                        "--sets", "S")
    assert code == 2 and "nope" in _one_error(err)

    (board / "S" / "summary.csv").write_bytes(b"\xff\xfe" + SUMMARY.encode("utf-16-le"))
    code, _, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board, "--sets", "S")
    assert code == 2 and "summary.csv" in _one_error(err)

    (board / "S" / "summary.csv").unlink()
    (board / "S" / "summary.csv").mkdir()
    code, _, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board, "--sets", "S")
    assert code == 2 and "summary.csv" in _one_error(err)


def test_headline_table_shows_a_metric_that_was_not_measured_as_a_dash(tmp_path: Path, monkeypatch,
                                                                       capsys) -> None:
    # zoo bench --metrics psnr leaves the other metrics' cells empty
    rows = ["S,jpeg,10,rgb,5,26.0,,,,,,,0.1,", "S,m,10,rgb,5,27.0,,,,,,,0.1,"]
    code, out, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard",
                          _board(tmp_path, rows), "--sets", "S")
    assert code == 0, err
    assert out.splitlines()[2:] == ["| S | rgb | `jpeg` | 26.00 | – | – | – | – | – | 5 |",
                                    "| S | rgb | `m` | 27.00 (+1.00) | – | – | – | – | – | 5 |"]


def test_headline_targets_name_a_missing_model(tmp_path: Path, monkeypatch, capsys) -> None:
    board = _board(tmp_path, [JPEG_ROW, "S,arnet-nogan,10,rgb,5,26.5,24.0,0.7,0.9,0.1,7.0,50.0,0.1,"])
    code, _, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board,
                        "--sets", "S", "--targets")
    assert code == 2 and "'unet-l1'" in _one_error(err)


def test_headline_targets_cannot_tell_the_lowest_lpips_past_one_not_measured(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """"lowest LPIPS (arnet-nogan)" said yes while gan's LPIPS was blank (not measured)."""
    rows = [JPEG_ROW, "S,unet-l1,10,rgb,5,27.7,25.0,0.8,0.9,0.1500,7.0,50.0,0.1,",
            "S,arnet-nogan,10,rgb,5,26.5,24.0,0.7,0.9,0.1000,7.0,50.0,0.1,",
            "S,gan,10,rgb,5,26.0,,,,,,,0.1,"]
    board = _board(tmp_path, rows)
    code, out, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board,
                          "--sets", "S", "--targets")
    assert code == 0, err
    assert out.splitlines()[2].endswith("| unknown: `gan`'s LPIPS not measured |")
    (board / "S" / "summary.csv").write_text("\n".join([SUMMARY, *rows[:2], rows[3],
                                                          rows[2].replace("0.1000", "")]) + "\n")
    code, out, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board,
                          "--sets", "S", "--targets")
    assert code == 0 and out.splitlines()[2].endswith("| – |"), err  # its own not measured


def test_headline_targets_are_refused_at_another_quality(tmp_path: Path, monkeypatch, capsys) -> None:
    """--targets --quality 30 checked the q10 targets at q30 without a word."""
    board = _board(tmp_path, [f"S,{model},30,rgb,5,30.0,28.0,0.8,0.9,0.1,7.0,50.0,0.1,"
                              for model in ("jpeg", "unet-l1", "arnet-nogan")])
    code, out, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard", board,
                          "--sets", "S", "--targets", "--quality", "30")
    assert code == 2 and out == "" and "--targets --quality 30" in _one_error(err)


@pytest.mark.parametrize("args", [["--models", "nosuch"], ["--image", "corrupt.png"],
                                  ["--models", "jpeg", "nosuch"],  # E: nothing measured first
                                  ["--image", "good.png", "corrupt.png"]])
def test_tiling_difference_refuses_bad_models_and_images_before_measuring(
        args: list[str], tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    _png(tmp_path / "good.png")
    _corrupt(tmp_path / "corrupt.png")
    defaults = [] if "--models" in args else ["--models", "jpeg"]
    code, out, err = _run(monkeypatch, capsys, "tiling_difference.py", *defaults, *args)
    assert code == 2 and out == ""
    assert ("nosuch" if "nosuch" in args else "corrupt.png") in _one_error(err)


@pytest.mark.parametrize("data", ["missing", "empty", "corrupt"])
def test_precision_quality_refuses_data_without_images(data: str, tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    (tmp_path / "empty").mkdir()
    _corrupt(tmp_path / "corrupt" / "a.png")
    code, _, err = _run(monkeypatch, capsys, "precision_quality.py", "--data", tmp_path / data,
                        "--models", "jpeg", "--precision", "bf16", "--quality", "10")
    assert code == 2 and f"{tmp_path / data}" in _one_error(err)  # a skipped file: on stdout


def test_precision_quality_means_leave_out_undefined_scores(tmp_path: Path, monkeypatch, capsys) -> None:
    """LPIPS is NaN below 31 px: one small image made every mean 'nan'; the means now cover the
    images where it is defined, and say how many."""
    _png(tmp_path / "data" / "a.png", (16, 16))
    _png(tmp_path / "data" / "b.png", (48, 64), seed=1)
    code, out, err = _run(monkeypatch, capsys, "precision_quality.py", "--data", tmp_path / "data",
                          "--models", "arnet-nogan", "--precision", "bf16", "--quality", "10",
                          "--metrics", "psnr", "lpips_alex")
    assert code == 0, err
    assert "nan" not in out and "lpips_alex fp32 mean" in out
    assert "(1 of 2 images: undefined on the others)" in out


def test_tiling_difference_says_a_score_is_undefined() -> None:
    tiling = _module("tiling_difference.py")
    assert tiling._score(float("nan")) == "nan (undefined here)" and tiling._score(0.25) == "0.2500"


def test_data_overlap_finds_a_rescaled_turned_copy_and_skips_what_it_cannot_read(
        monkeypatch, capsys, tmp_path: Path) -> None:
    """Set5's woman is a BSDS500 training image at 0.72 of its size: the script finds such a
    copy (rescaled, mirrored, turned) and nothing in images that only look alike in colour."""
    from PIL import Image

    from zoo.samples import sample_images

    samples = dict(sample_images())
    train, val = tmp_path / "train" / "sub", tmp_path / "val"
    train.mkdir(parents=True)
    val.mkdir()
    Image.fromarray(samples["astronaut"]).save(val / "person.png")
    Image.fromarray(samples["chelsea"]).save(val / "cat.png")
    copy = Image.fromarray(samples["astronaut"]).resize((369, 369), Image.Resampling.BICUBIC)
    copy.transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(90, expand=True).save(train / "a.jpg",
                                                                                 quality=75)
    Image.fromarray(samples["coffee"]).save(train / "coffee.png")
    (train / "broken.png").write_bytes(b"not a png")
    code, out, err = _run(monkeypatch, capsys, "data_overlap.py", "--train", tmp_path / "train",
                          "--val", val)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[2].startswith("| 0.99") and lines[2].endswith(f"| {val / 'person.png'} | {train / 'a.jpg'} |")
    assert lines[3:] == ["", "1 pair(s) at 0.98 or above."]
    assert err.strip() == f"skipped {train / 'broken.png'}: cannot identify image file " \
                          f"'{train / 'broken.png'}'"
    shutil.copy(val / "cat.png", val / "cat-again.png")  # within one set: each pair once
    code, out, _ = _run(monkeypatch, capsys, "data_overlap.py", "--val", val)
    assert code == 0 and out.splitlines()[2:] == [
        f"| 1.0000 | {val / 'cat-again.png'} | {val / 'cat.png'} |", "", "1 pair(s) at 0.98 or above."]
    code, _, err = _run(monkeypatch, capsys, "data_overlap.py", "--val", tmp_path / "nowhere")
    assert code == 2 and _one_error(err) == f"error: {tmp_path / 'nowhere'}: not a folder of images"
    # Most alike first: an exact copy above the rescaled, turned one.
    shutil.copy(val / "person.png", train / "exact.png")
    code, out, _ = _run(monkeypatch, capsys, "data_overlap.py", "--train", tmp_path / "train",
                        "--val", val)
    assert code == 0 and [line.split(" | ")[2].rstrip(" |") for line in out.splitlines()[2:4]] == [
        str(train / "exact.png"), str(train / "a.jpg")]
    # A training folder whose files are all unreadable: no pair, not a crash.
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"not a png")
    code, out, _ = _run(monkeypatch, capsys, "data_overlap.py", "--train", tmp_path / "bad", "--val", val)
    assert code == 0 and out.splitlines()[-1] == "0 pair(s) at 0.98 or above."


def test_psnr_b_counts_prints_the_gaps_docs_metrics_quotes(monkeypatch, capsys) -> None:
    code, out, err = _run(monkeypatch, capsys, "psnr_b_counts.py", "--image", "astronaut",
                          "--quality", "10", "95", "--crop", "250x298", "600", "600x10")
    assert code == 0, err
    assert out.splitlines() == [
        "astronaut: crop 600x600 is larger than the image (512x512): left out",
        "astronaut: crop 600x10 is larger than the image (512x512): left out",  # one side too long
        "image, quality: PSNR-B zoo counts / exact counts (exact - zoo)",
        "astronaut 512x512, q10: 26.414 / 26.414 dB (+0.000)",  # sides multiples of 8: no gap
        "astronaut 512x512, q95: 40.197 / 40.197 dB (+0.000)",
        "astronaut crop 250x298, q10: 26.133 / 26.235 dB (+0.102)",
        "astronaut crop 250x298, q95: 41.903 / 44.391 dB (+2.488)"]
    assert "26.235 against 26.133 dB at q10" in (REPO / "docs" / "metrics.md").read_text()
    code, out, err = _run(monkeypatch, capsys, "psnr_b_counts.py", "--image", "nosuch")
    assert code == 2 and "'nosuch' is neither a sample image" in _one_error(err) and not out


def test_precision_quality_checks_every_model_before_the_first(tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    _png(tmp_path / "data" / "a.png", (16, 16))
    code, out, err = _run(monkeypatch, capsys, "precision_quality.py", "--data", tmp_path / "data",
                          "--models", "jpeg", "nosuch", "--precision", "bf16", "--quality", "10")
    assert code == 2 and "nosuch" in _one_error(err)
    assert "jpeg q10" not in out


@pytest.mark.parametrize(("script", "option"), [("speed_bench.py", "--json"),
                                                ("speed_metrics.py", "--markdown"),
                                                ("speed_restore.py", "--markdown")])
def test_an_output_under_a_file_is_refused_before_measuring(script: str, option: str, tmp_path: Path,
                                                            monkeypatch, capsys) -> None:
    (tmp_path / "file").write_text("")
    _fake_children(monkeypatch, AssertionError("measured before checking the output"))
    if script == "speed_metrics.py":
        monkeypatch.setattr("zoo.metrics.METRICS", {})  # nothing to measure, were it to start
    extra = ["--models", "jpeg", "--no-tiled"] if script == "speed_restore.py" else []
    if script == "speed_bench.py":
        extra = ["--models", "jpeg", "--metrics", "psnr"]
    code, _, err = _run(monkeypatch, capsys, script, *extra, option, tmp_path / "file" / "out")
    assert code == 2 and f"{option} {tmp_path / 'file' / 'out'}" in _one_error(err)


def test_speed_train_refuses_a_fit_output_under_a_file_before_measuring(tmp_path: Path, monkeypatch,
                                                                        capsys) -> None:
    (tmp_path / "file").write_text("")
    speed = _module("speed_train.py")
    monkeypatch.setattr(speed, "bench_entry", lambda *a: pytest.fail("measured"))
    code, _, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "--models", "unet-l1",
                         "--fit-minutes", "5", "--fit-out", tmp_path / "file" / "fit.txt")
    assert code == 2 and "--fit-out" in _one_error(err)


def test_speed_restore_refuses_an_override_that_is_not_json(monkeypatch, capsys) -> None:
    _fake_children(monkeypatch, AssertionError("measured"))
    code, _, err = _run(monkeypatch, capsys, "speed_restore.py", "--models", "unet-l1:blocks",
                        "--no-tiled")
    assert code == 2 and "'blocks' is not KEY=JSON" in _one_error(err)


@pytest.mark.parametrize(("args", "says"), [
    (["--models", "nope"], "--models nope: unknown model 'nope'"),
    (["--models", "jpeg", "nope+x8"], "--models nope+x8: unknown model 'nope'"),
    (["--models", "jpeg", "--device", "bogus"], "device 'bogus': not a torch device"),
    (["--models", "jpeg", "--device", "cuda"], "device 'cuda': no CUDA device is available here")])
def test_speed_restore_refuses_bad_models_and_devices_before_measuring(
        args: list[str], says: str, monkeypatch, capsys) -> None:
    """A bad device was found in every row's child (each 'failed', exit 1) and an unknown model
    got argparse's usage lines."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _fake_children(monkeypatch, AssertionError("measured before checking the input"))
    code, out, err = _run(monkeypatch, capsys, "speed_restore.py", *args, "--no-tiled")
    assert code == 2 and out == "" and says in _one_error(err)


def test_speed_restore_reports_a_failed_child_in_one_line_and_exits_1(tmp_path: Path, monkeypatch,
                                                                      capsys) -> None:
    # a real child: the worker's own error, not a traceback or a cell holding it
    code, out, err = _run(monkeypatch, capsys, "speed_restore.py", "--models", "unet-l1:nope=1",
                          "--no-tiled", "--size", "16", "--runs", "1", "--warmup", "0",
                          "--markdown", tmp_path / "speed.md")
    assert code == 1, err
    markdown = (tmp_path / "speed.md").read_text()
    assert "| unet-l1:nope=1 | - | failed | failed |" in markdown
    failures = [line for line in markdown.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and "unet-l1:nope=1 at 16x16: " in failures[0]
    assert "nope" in failures[0].split(" at 16x16: ")[1]


def test_speed_denormals_reports_what_the_child_ran_and_why_it_failed(monkeypatch, capsys) -> None:
    code, _, err = _run(monkeypatch, capsys, "speed_denormals.py", "--model", "nosuch")
    assert code == 2 and "nosuch" in _one_error(err)

    _fake_children(monkeypatch, (1, "", "Traceback (most recent call last):\nRuntimeError: boom\n"))
    code, _, err = _run(monkeypatch, capsys, "speed_denormals.py", "--repeats", "1")
    line = _one_error(err)
    assert code == 2 and "timing Adam without flushing: RuntimeError: boom" in line


SMALL_UNET = {"channels": [8, 16], "blocks": [1, 1]}


def _checkpoint(folder: Path, moments: int | None) -> Path:
    """A training checkpoint of a small unet-l1 with Adam moments for its first ``moments``
    parameters (all: None)."""
    import torch
    from safetensors.torch import save_file

    from zoo.registry import create_model

    folder.mkdir(parents=True)
    meta = {"entry": "unet-l1", "step": 1, "sha256": "", "stage_index": 0, "stage_start": 0,
            "ema_updates": 0, "elapsed": 0.0, "stage_elapsed": 0.0, "last_validated": 0,
            "best": None, "switcher": {"mode": "", "count": 0, "history": {}},
            "rng": {"python": [], "numpy": []}, "recipe": {"model": {"args": SMALL_UNET}}}
    (folder / "meta.json").write_text(json.dumps(meta))  # the keys a resume reads (read_meta)
    params = list(create_model("unet-l1", **SMALL_UNET).parameters())
    tensors = {"gen.x": torch.zeros(1)}
    for i, p in enumerate(params[:moments]):
        tensors |= {f"opt_g.{i}.exp_avg": torch.zeros_like(p), f"opt_g.{i}.exp_avg_sq": torch.zeros_like(p)}
    save_file(tensors, folder / "state.safetensors")
    return folder


@pytest.mark.parametrize(("source", "says"), [
    ("jpeg", "--model jpeg: has no parameters, so no Adam step to time"),
    ("no moments", "no optimizer state of the generator in it"),
    ("some moments", "no Adam moments for 11 of the generator's 22 parameters (opt_g.11.exp_avg"),
    ("truncated", "not a readable training checkpoint"),
    ("meta not json", "not a readable training checkpoint (JSONDecodeError: ")])
def test_speed_denormals_refuses_a_source_without_adam_state_before_timing(
        source: str, says: str, tmp_path: Path, monkeypatch, capsys) -> None:
    """--model jpeg (was --entry) failed in the child ('optimizer got an empty parameter list'), and a
    checkpoint without optimizer state with KeyError: 'opt_g.0.exp_avg'."""
    args = ["--model", "jpeg"]
    if source != "jpeg":
        checkpoint = _checkpoint(tmp_path / "step-1", {"no moments": 0, "some moments": 11}.get(source))
        if source == "truncated":
            (checkpoint / "state.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{}")
        if source == "meta not json":
            (checkpoint / "meta.json").write_text('{"entry": "unet-l1", ')
        args = ["--checkpoint", str(checkpoint)]
    _fake_children(monkeypatch, AssertionError("timed before checking the source"))
    code, _, err = _run(monkeypatch, capsys, "speed_denormals.py", *args, "--repeats", "1")
    line = _one_error(err)
    assert code == 2 and says in line and (source == "jpeg" or str(tmp_path / "step-1") in line)


def test_speed_denormals_times_a_checkpoints_own_moments(tmp_path: Path, monkeypatch, capsys) -> None:
    checkpoint = _checkpoint(tmp_path / "step-1", None)
    code, out, err = _run(monkeypatch, capsys, "speed_denormals.py", "--checkpoint", checkpoint,
                          "--repeats", "1", "--threads", "1")
    assert code == 0, err
    assert out.startswith(f"{checkpoint}: 0 of ") and "with flushing:" in out


# --- B: Ctrl-C keeps the rows measured ----------------------------------------------------------

PATCH = {"params": 1_000_000, "threads": 2, "mp_s": 1.5, "seconds": 0.2, "first_s": 0.3,
         "peak_rss_mb": 600.0, "rss_before_mb": 500.0}


def test_speed_restore_interrupted_keeps_the_rows_measured(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    _fake_children(monkeypatch, (0, json.dumps(PATCH) + "\n", ""), KeyboardInterrupt())
    code, out, err = _run(monkeypatch, capsys, "speed_restore.py", "--models", "jpeg", "unet-l1",
                          "--no-tiled", "--markdown", tmp_path / "speed.md")
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted"
    markdown = (tmp_path / "speed.md").read_text()
    assert "| jpeg | 1.00M | 1.50 | 600 (+100) |" in markdown and "unet-l1" not in markdown
    assert "partial: interrupted after 1 of 2 rows" in markdown
    assert "jpeg" in out and "partial" in out



def test_speed_restore_interrupted_in_the_tiled_run_keeps_the_patch_time(tmp_path: Path,
                                                                         monkeypatch, capsys) -> None:
    _fake_children(monkeypatch, (0, json.dumps(PATCH) + "\n", ""), KeyboardInterrupt())
    code, _, err = _run(monkeypatch, capsys, "speed_restore.py", "--models", "jpeg", "unet-l1",
                        "--tiled-mp", "0.1", "--markdown", tmp_path / "speed.md")
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted"
    markdown = (tmp_path / "speed.md").read_text()
    assert "| jpeg | 1.00M | 1.50 | 600 (+100) | interrupted | interrupted |" in markdown
    assert "unet-l1" not in markdown and "failed" not in markdown
    assert "partial: interrupted after 1 of 2 rows" in markdown

ROW = {"entry": "unet-l1", "stage": "train", "kind": "generator", "patch": 64, "batch": 8,
       "precision": "bfloat16", "loader_patches_s": 900.0, "step_patches_s": 20.0,
       "bottleneck": "compute", "stage_steps": 1000, "stage_minutes_est": 7.0}


def _fake_bench(entry: str, *args: Any):  # noqa: ANN202  (rows, then Ctrl-C at "gan")
    if entry == "gan":
        raise KeyboardInterrupt
    yield {**ROW, "entry": entry}


def test_speed_train_interrupted_keeps_the_rows_measured(tmp_path: Path, monkeypatch, capsys) -> None:
    speed = _module("speed_train.py")
    monkeypatch.setattr(speed, "bench_entry", _fake_bench)
    code, out, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "--models", "unet-l1",
                           "gan", "--json", tmp_path / "rows.json")
    assert code == 130 and err.strip().splitlines()[-1] == "interrupted"
    assert json.loads((tmp_path / "rows.json").read_text()) == {"partial": True, "rows": [ROW]}
    assert "unet-l1" in out and "partial" in out


def test_tiling_difference_interrupted_keeps_the_lines_printed(tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    calls = []
    real = zoo.tiling.restore_tiled

    def restore_tiled(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(zoo.tiling, "restore_tiled", restore_tiled)
    code, out, err = _run(monkeypatch, capsys, "tiling_difference.py", "--models", "jpeg",
                          "--image", _png(tmp_path / "a.png"), "--tile", "16", "32")
    assert code == 130 and err.strip() == "interrupted"
    assert len(out.splitlines()) == 1 and "16-px tiles" in out


# --- D: numbers under the labels of what was measured -------------------------------------------

def test_tiling_difference_names_the_tiles_really_used(tmp_path: Path, monkeypatch, capsys) -> None:
    code, out, err = _run(monkeypatch, capsys, "tiling_difference.py", "--models", "jpeg", "--image",
                          _png(tmp_path / "a.png", (64, 64)), "--tile", "8", "1000", "--overlap", "2")
    assert code == 0, err
    small, large = out.splitlines()
    assert "16-px tiles, 8-px overlap (asked: --tile 8 --overlap 2): mean |tiled - whole|" in small
    assert small.endswith(", at most 0 of 255 levels apart in the 8-bit output")  # the identity
    assert large == "jpeg: a.png q10, --tile 1000: whole image, one tile (nothing tiled to compare)"


def test_speed_denormals_says_slower_when_flushing_is_slower(monkeypatch, capsys) -> None:
    child = {"denormal": 4, "values": 10}
    _fake_children(monkeypatch, (0, json.dumps({**child, "ms": 10.0}), ""),
                   (0, json.dumps({**child, "ms": 11.0}), ""))
    code, out, err = _run(monkeypatch, capsys, "speed_denormals.py", "--repeats", "1")
    assert code == 0, err
    assert out.splitlines()[-1].endswith("11.0 ms per Adam step (1.10x slower)")


def test_speed_train_mixes_a_gan_stages_steps_as_its_recipe_does(tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    """A GAN stage was timed as one critic and one generator step, halved; a critic step took a
    ninth of a generator step, so a 4:1 recipe or threshold switching (1 to 10 critic steps per
    generator step) got another rate, another estimate and another --fit-minutes sizing."""
    speed = _module("speed_train.py")
    seconds = {"critic": 0.1, "generator": 0.9}
    fixed = speed.entry_recipe("arnet-nogan", str(tmp_path), "cpu", [
        'stages.gan.switching="fixed"', "stages.gan.critic_steps=4"]).stages["gan"]
    row = speed.stage_row(fixed, 8, 0.01, seconds)
    assert row["step_patches_s"] == pytest.approx(8 / ((4 * 0.1 + 0.9) / 5))
    assert row["critic_generator"] == "4:1" and "stage_minutes_range" not in row

    threshold = speed.entry_recipe("arnet-nogan", str(tmp_path), "cpu", []).stages["gan"]
    row = speed.stage_row(threshold, 8, 0.01, seconds)
    slow, fast = 0.5, (10 * 0.1 + 0.9) / 11  # 1:1 and 10:1
    assert row["step_patches_s_range"] == pytest.approx([8 / slow, 8 / fast])
    assert row["stage_minutes_est"] == pytest.approx(600 * slow / 60)  # the slower end, to fit
    assert row["stage_minutes_range"] == pytest.approx([600 * fast / 60, 600 * slow / 60])
    assert row["critic_generator"] == "1-10:1 (threshold)"

    monkeypatch.setattr(speed, "bench_entry", lambda *a: iter([{**ROW, **row, "entry": "arnet-nogan"}]))
    code, out, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "--models", "arnet-nogan")
    assert code == 0, err
    assert "16.0-46.3" in out and "1.7-5.0" in out
    assert "arnet-nogan gan: threshold switching: 1 to 10 critic steps per 1 generator" in " ".join(out.split())


# --- E: a bad item is refused before the first is measured --------------------------------------

@pytest.mark.parametrize(("entries", "says"), [
    (["unet-l1", "nosuch"], "--models nosuch: not a trainable entry"),
    # An override after the entry names is handed back as an override (and checked as one).
    (["unet-l1", "data.bogus=0"], "override data.bogus=0: unknown key 'data.bogus'"),
])
def test_speed_train_checks_every_entry_before_the_first(entries: list[str], says: str, tmp_path: Path,
                                                         monkeypatch, capsys) -> None:
    speed = _module("speed_train.py")
    monkeypatch.setattr(speed, "bench_entry", lambda *a: pytest.fail("measured"))
    _png(tmp_path / "a.png")
    code, _, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "--models", *entries)
    assert code == 2 and says in _one_error(err)


def test_speed_train_hands_overrides_back_in_command_line_order(tmp_path: Path, monkeypatch,
                                                                capsys) -> None:
    speed = _module("speed_train.py")
    built: list[list[str]] = []

    def entry_recipe(entry: str, data: str, device: str, overrides: list[str]) -> None:
        built.append(overrides)
        raise ZooError("recipe seen")

    monkeypatch.setattr(speed, "entry_recipe", entry_recipe)
    code, _, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "data.quality=[10]",
                         "--models", "unet-l1", "data.quality=[20]")
    assert code == 2 and "recipe seen" in _one_error(err)
    assert built == [["data.quality=[10]", "data.quality=[20]"]]  # the later one wins


@pytest.mark.parametrize("name", ["b\\d", 'say "hi"'])
def test_speed_train_takes_a_data_path_with_quotes_or_backslashes(name: str, tmp_path: Path) -> None:
    """--data went into a TOML override by string formatting: '/tmp/b\\d' was refused."""
    speed = _module("speed_train.py")
    data = tmp_path / name
    _png(data / "a.png")
    recipe = speed.entry_recipe("unet-l1", str(data), "cpu", [])
    assert [str(path) for path in recipe.data.train] == [str(data)]


def test_speed_train_refuses_entries_that_are_only_overrides(tmp_path: Path, monkeypatch,
                                                             capsys) -> None:
    speed = _module("speed_train.py")
    monkeypatch.setattr(speed, "entry_recipe", lambda *a: pytest.fail("took it for every entry"))
    code, _, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "--models",
                         "data.quality=[10]")
    assert code == 2 and "--models data.quality=[10]: no entry name" in _one_error(err)


# --- F ------------------------------------------------------------------------------------------

def test_headline_table_marks_means_over_fewer_images(tmp_path: Path, monkeypatch, capsys) -> None:
    rows = [JPEG_ROW.removesuffix(",") + ",niqe:4", "S,m,10,rgb,5,27.0,25.0,0.8,0.9,0.1,6.0,40.0,0.1,niqe:4"]
    code, out, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard",
                          _board(tmp_path, rows), "--sets", "S")
    assert code == 0, err
    assert "| S | rgb | `m` | 27.00 (+1.00) | 25.00 | 0.8000 | 0.1000 (-50 %) | 6.00 (4 of 5) | 40.0 |" in out
    assert "(n of N)" in out  # the note saying what it means


@pytest.mark.parametrize("rows", [[JPEG_ROW], []])
def test_headline_table_without_rows_at_the_quality_is_an_error(rows: list[str], tmp_path: Path,
                                                                monkeypatch, capsys) -> None:
    code, out, err = _run(monkeypatch, capsys, "headline_table.py", "--leaderboard",
                          _board(tmp_path, rows), "--sets", "S", "--quality", "55")
    assert code == 2 and out == "" and "no rows at q55" in _one_error(err)


def test_speed_restore_exits_1_when_a_row_failed(monkeypatch, capsys) -> None:
    _fake_children(monkeypatch, (1, "", "Traceback (most recent call last):\nRuntimeError: boom\n"))
    code, out, _ = _run(monkeypatch, capsys, "speed_restore.py", "--models", "jpeg", "--no-tiled")
    assert code == 1
    assert "failed: jpeg at 512x512: RuntimeError: boom" in " ".join(out.split())
    assert "Traceback" not in out


def test_speed_bench_refuses_a_zoo_bench_run_that_skipped_rows(monkeypatch, capsys) -> None:
    _fake_children(monkeypatch, (1, "", "failed jpeg on chelsea: boom\n4 rows measured in 1.0 s\n"))
    code, out, err = _run(monkeypatch, capsys, "speed_bench.py", "--models", "jpeg", "--metrics",
                          "psnr", "--quality", "10")
    assert code == 2 and "failed jpeg on chelsea: boom" in _one_error(err)
    assert "wall" not in out


def test_speed_bench_refuses_a_zoo_bench_run_that_skipped_images(monkeypatch, capsys) -> None:
    # zoo bench exits 0 when it skipped images but measured the others
    _fake_children(monkeypatch, (0, "", "skipped chelsea: not an image\n16 rows measured in 1.0 s\n"))
    monkeypatch.setattr(zoo, "load", lambda *a, **k: pytest.fail("went on after the timed run"))
    code, out, err = _run(monkeypatch, capsys, "speed_bench.py", "--models", "jpeg", "--metrics",
                          "psnr", "--quality", "10")
    assert code == 2 and "(skipped chelsea: not an image)" in _one_error(err)
    assert "wall" not in out


def test_speed_bench_checks_model_names_first_and_loads_after_the_timed_run(monkeypatch,
                                                                            capsys) -> None:
    events: list[str] = []

    def child(cmd: list[str], *args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        events.append("zoo bench")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def load(name: str, **kwargs: Any) -> None:
        events.append(f"load {name}")
        raise ZooError("stopped at the first load")

    monkeypatch.setattr(subprocess, "run", child)
    monkeypatch.setattr(zoo, "load", load)
    common = ["--metrics", "psnr", "--quality", "10"]
    code, _, err = _run(monkeypatch, capsys, "speed_bench.py", "--models", "jpeg", "nosuch", *common)
    assert code == 2 and "--models nosuch" in _one_error(err) and events == []
    code, _, err = _run(monkeypatch, capsys, "speed_bench.py", "--models", "jpeg", *common)
    assert code == 2 and events == ["zoo bench", "load jpeg"]


def test_speed_bench_times_models_after_a_warm_up(monkeypatch) -> None:
    """Models got no warm-up (the metrics did) and each restore was timed once: the first call's
    one-time costs went into the first image's time."""
    import zoo.bench.runner

    module = _module("speed_bench.py")
    calls: list[int] = []

    def restore(model: Any, image: np.ndarray, **kwargs: Any) -> np.ndarray:
        calls.append(image.size)
        if len(calls) == 1:
            time.sleep(0.5)  # what a first call costs above the others
        return image

    monkeypatch.setattr(zoo.bench.runner, "restore", restore)
    costs = module.stage_costs(["jpeg"], ("psnr",), 10, None)
    assert costs["s_per_mp"]["restore:jpeg"] < 0.1  # the first call is not in it
    assert len(calls) == 1 + 5 * module.RESTORE_REPEATS  # the warm-up, then each sample image


def test_speed_train_table_is_not_cut_to_80_columns(tmp_path: Path, monkeypatch, capsys) -> None:
    speed = _module("speed_train.py")
    monkeypatch.setattr(speed, "bench_entry", _fake_bench)
    code, out, err = _call(monkeypatch, capsys, speed, "--data", tmp_path, "--models", "unet-l1")
    assert code == 0, err
    assert any(all(cell in line for cell in ("unet-l1", "generator", "bfloat16", "compute", "7.0"))
               for line in out.splitlines()), out
    assert "…" not in out


def test_speed_restore_names_the_gpu_its_speeds_belong_to(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    module = _module("speed_restore.py")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(module, "cpu_name", lambda: "AMD EPYC")
    assert module._hardware_name("cuda") == "NVIDIA H100 80GB HBM3, CPU AMD EPYC"
    assert module._hardware_name("cpu") == "AMD EPYC"


def test_speed_restore_tiled_memory_rise_includes_the_warm_up(monkeypatch) -> None:
    """The tiled "(+N)" was read after a one-tile warm-up restore, whose peak was then left out
    of the rise that the note says is above imports and model."""
    import zoo.cli.children
    import zoo.restore

    module = _module("speed_restore.py")
    events: list[str] = []
    monkeypatch.setattr(zoo.cli.children, "peak_rss_mb", lambda: events.append("rss") or 100.0)
    monkeypatch.setattr(zoo.restore, "restore_image",
                        lambda model, image, **kw: events.append(f"restore {image.shape[0]}") or image)
    result = module.measure_tiled("jpeg", "cpu", None, "fp32", False, 0.01, 16)
    assert events == ["rss", "restore 16", "restore 87", "rss"] and result["rss_before_mb"] == 100.0


def test_speed_metrics_times_no_cache_hits() -> None:
    """SSIM keeps the filtering of the last pair and LPIPS the reference's features: timing the
    same pair again measured a cache lookup (ssim 0.007 s/MP against 0.36 computed)."""
    import numpy as np

    module = _module("speed_metrics.py")
    seen = []

    def record(restored: np.ndarray, reference: np.ndarray, device: str = "cpu") -> float:
        seen.append(restored.tobytes())
        return 0.0

    module.METRICS = {"fake": record}
    (row,) = module.measure("rgb", 3, ["cpu"], megapixels=0.01)
    assert row[:2] == ("fake", "cpu") and row[3] >= 0
    assert len(seen) == 4 and len(set(seen)) == 4  # the warm-up and three distinct timed calls
    assert len(seen[0]) == 100 * 100 * 3


def test_speed_metrics_memory_of_a_cuda_row_is_gpu_memory(monkeypatch) -> None:
    """The CUDA row ran in the child after the CPU row, and its MB was the host RSS high-water
    mark above the CPU row's peak, not the GPU memory the metric took."""
    import torch

    module = _module("speed_metrics.py")
    mb = 1024 * 1024
    allocated = {"now": 100 * mb, "peak": 100 * mb}

    def lpips(restored: np.ndarray, reference: np.ndarray, device: str = "cpu") -> float:
        if device == "cuda":
            allocated["peak"] = 350 * mb
        return 0.0

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda device=None: allocated.update(peak=allocated["now"]))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: allocated["now"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: allocated["peak"])
    module.METRICS = {"lpips_alex": lpips}
    cpu, cuda = module.measure("rgb", 1, ["cpu", "cuda"], megapixels=0.01)
    assert cuda[1] == "cuda" and cuda[3] == pytest.approx(250.0)
    assert module._cells(cuda, True, 100)[3] == "250 (CUDA)" and "CUDA" not in module._cells(cpu, True, 100)[3]


def test_speed_metrics_memory_runs_each_metric_apart(monkeypatch, capsys, tmp_path: Path) -> None:
    """--memory: every metric in a fresh process; the Markdown table gets its MB column."""
    module = _module("speed_metrics.py")
    monkeypatch.setattr(module, "METRICS", {"psnr": module.METRICS["psnr"]})
    code, out, err = _call(monkeypatch, capsys, module, "--memory", "--megapixels", "0.01",
                           "--repeats", "1", "--markdown", tmp_path / "m.md")
    assert code == 0, err
    table = (tmp_path / "m.md").read_text()
    assert "protocol `rgb`, 0.01 MP" in table and "| metric | device | s / MP | MB |" in table
    (line,) = [row for row in table.splitlines() if row.startswith("| psnr |")]
    assert float(line.split("|")[4]) >= 0


def test_speed_metrics_says_a_metric_is_undefined_at_the_size_instead_of_timing_it(
        monkeypatch, capsys, tmp_path: Path) -> None:
    """MS-SSIM is NaN on a 22x22 image: its row showed a speed for computing no score."""
    module = _module("speed_metrics.py")
    monkeypatch.setattr(module, "METRICS", {k: module.METRICS[k] for k in ("psnr", "ms_ssim")})
    code, out, err = _call(monkeypatch, capsys, module, "--megapixels", "0.0005", "--repeats", "1",
                           "--markdown", tmp_path / "m.md")
    assert code == 0, err
    table = (tmp_path / "m.md").read_text()
    assert "| ms_ssim | cpu | undefined at 22x22 |" in table and "undefined at 22x22" in out
    (line,) = [row for row in table.splitlines() if row.startswith("| psnr |")]
    assert float(line.split("|")[3]) >= 0


def test_speed_write_times_every_format_and_marks_the_zoos_png_level(monkeypatch, capsys) -> None:
    from zoo.image_output import PNG_COMPRESS_LEVEL

    code, out, _ = _run(monkeypatch, capsys, "speed_write.py", "--megapixels", "0.01", "--repeats",
                        "1", "--levels", "1", str(PNG_COMPRESS_LEVEL))
    assert code == 0
    labels = [line[:24].strip() for line in out.splitlines()[2:]]
    assert labels == [".png level 1", f".png level {PNG_COMPRESS_LEVEL} (zoo's)", ".webp", ".tif",
                      ".jpg", ".bmp"], out


def test_speed_write_times_a_given_image(tmp_path: Path, monkeypatch, capsys) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "r.png")
    code, out, _ = _run(monkeypatch, capsys, "speed_write.py", "--image", tmp_path / "r.png",
                        "--repeats", "1", "--levels", "1")
    assert code == 0 and out.splitlines()[0].startswith("30x40 (0.0 MP)")


# --- G: the printed numbers, from fake clocks (each elapsed interval given) ----------------------

def _clock(*elapsed: float) -> SimpleNamespace:
    """A stand-in for a script's ``time`` whose ``perf_counter`` readings come in (start, end)
    pairs, the n-th pair ``elapsed[n]`` apart."""
    readings = [t for n, d in enumerate(elapsed) for t in (100.0 * n, 100.0 * n + d)]
    return SimpleNamespace(perf_counter=iter(readings).__next__)


def test_speed_restore_reports_the_median_of_the_timed_runs_in_megapixels(monkeypatch) -> None:
    """MP/s is 10^6 pixels a second over the median of the runs after the warm-up ones; the
    tiled image is 4:3, its MP/s over its own pixels."""
    module = _module("speed_restore.py")
    monkeypatch.setattr(module, "time", _clock(5.0, 5.0, 0.1, 0.4, 0.2))  # 2 warm-up, 3 timed
    patch = module.measure_patch("jpeg", "cpu", None, "fp32", False, 100, 2, 3)
    assert patch["seconds"] == pytest.approx(0.2) and patch["first_s"] == pytest.approx(5.0)
    assert patch["mp_s"] == pytest.approx(0.01 / 0.2)
    monkeypatch.setattr(module, "time", _clock(2.0))
    tiled = module.measure_tiled("jpeg", "cpu", None, "fp32", False, 0.01, 16)
    assert tiled["size"] == "116x87" and tiled["mp_s"] == pytest.approx(116 * 87 / 1e6 / 2.0)
    # The tiled column was one timed restore, while the README said "median of 7" for the table.
    monkeypatch.setattr(module, "time", _clock(9.0, 2.0, 3.0))
    tiled = module.measure_tiled("jpeg", "cpu", None, "fp32", False, 0.01, 16, runs=3)
    assert tiled["seconds"] == pytest.approx(3.0) and tiled["runs"] == 3


def test_speed_bench_times_the_median_restore(monkeypatch) -> None:
    module = _module("speed_bench.py")
    monkeypatch.setattr(module, "time", _clock(0.3, 0.1, 0.2))
    assert module._timed(lambda: "out", repeat=3) == (pytest.approx(0.2), "out")


def test_speed_bench_stage_costs_are_per_megapixel_and_metrics_per_row(monkeypatch) -> None:
    """The sample suite's five photographs are 2 x 512x512 (astronaut, camera), 300x451,
    400x600 and 500x741 pixels; with each call taking 1 s, a stage costs 5 s over them, and a
    metric, run on each model's output, 10 s: 5 s per row (per model)."""
    import zoo.bench.runner
    import zoo.metrics

    module = _module("speed_bench.py")
    monkeypatch.setattr(zoo, "load", lambda name, **kwargs: name)
    monkeypatch.setattr(zoo.bench.runner, "restore", lambda model, image, **kwargs: image)
    monkeypatch.setattr(zoo.metrics, "compute_metrics", lambda *a, **k: {})
    monkeypatch.setattr(module, "_timed", lambda fn, *a, repeat=1, **k: (1.0, fn(*a, **k)))
    costs = module.stage_costs(["a", "b"], ("psnr",), 10, None)
    megapixels = (2 * 512 * 512 + 300 * 451 + 400 * 600 + 500 * 741) / 1e6
    assert costs["megapixels"] == pytest.approx(megapixels)
    per_mp = 5 / megapixels
    assert costs["s_per_mp"] == pytest.approx({"jpeg_roundtrip": per_mp, "restore:a": per_mp,
                                               "restore:b": per_mp, "metric:psnr": per_mp})
    assert costs["s_per_mp_per_quality"] == pytest.approx(25 / megapixels)  # 5 + 2 x 5 + 10 s


def test_speed_bench_estimates_div2k_at_every_quality_in_minutes(tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    module = _module("speed_bench.py")
    monkeypatch.setattr(module, "warm_up", lambda metrics: None)
    monkeypatch.setattr(module, "timed_bench", lambda cmd: 3.0)
    monkeypatch.setattr(module, "div2k_megapixels", lambda: (100.0, "assumed"))
    monkeypatch.setattr(module, "stage_costs", lambda *a: {
        "megapixels": 2.0, "s_per_mp_per_quality": 0.5, "s_per_mp": {"jpeg_roundtrip": 0.5}})
    code, out, err = _call(monkeypatch, capsys, module, "--models", "jpeg", "--metrics", "psnr",
                           "--quality", "10", "20", "30", "--json", tmp_path / "b.json")
    assert code == 0, err
    # 100 MP x 0.5 s/MP x 3 qualities = 150 s
    assert "DIV2K validation (100.0 MP, assumed): about 2.5 min at 3 qualities" in out
    assert json.loads((tmp_path / "b.json").read_text())["div2k_estimate_seconds"] == 150.0


def test_speed_bench_refuses_a_zoo_bench_run_that_failed_without_a_failed_line(monkeypatch) -> None:
    _fake_children(monkeypatch, (1, "", "error: the data cache is not writable\n"))
    with pytest.raises(ZooError, match="did not measure every row"):
        _module("speed_bench.py").timed_bench(["zoo", "bench"])


def test_speed_metrics_are_seconds_per_call_per_megapixel(monkeypatch) -> None:
    module = _module("speed_metrics.py")
    module.METRICS = {"fake": lambda restored, reference, device="cpu": 0.0}
    monkeypatch.setattr(module, "time", _clock(3.0))  # the 3 timed calls together
    (row,) = module.measure("rgb", 3, ["cpu"], megapixels=0.01)  # 100x100: 0.01 MP
    assert row[2] == pytest.approx(3.0 / 3 / 0.01)


def test_speed_denormals_times_the_median_step_after_untimed_warm_ups() -> None:
    """Steps of 100 and 90 s (the two warm-ups), then 7, 1, 4, 9 and 6 s: the median of the
    timed five is 6 s; their minimum would be 1 s and their mean 5.4 s; timing the warm-ups too
    (the median of seven) or not running them (the median of 100, 90, 7, 1, 4) would be 7 s."""
    module = _module("speed_denormals.py")
    durations = [100.0, 90.0, 7.0, 1.0, 4.0, 9.0, 6.0]
    now = [0.0]

    def step() -> None:
        now[0] += durations.pop(0)

    assert module.median_step_ms(step, 5, clock=lambda: now[0]) == 6000.0
    assert not durations  # every step ran: two warm-ups and five timed


def test_speed_write_reports_the_median_timed_write_and_megabytes(monkeypatch, capsys) -> None:
    module = _module("speed_write.py")
    # the first write is untimed (one reading), then (start, end) of each timed one
    monkeypatch.setattr(module, "time", SimpleNamespace(
        perf_counter=iter([0.0, 10.0, 19.0, 20.0, 20.1, 30.0, 30.2]).__next__))
    image = module.enlarged_photograph(0.01)
    assert module.time_write(image, ".bmp", 3, {})[0] == pytest.approx(0.2)
    monkeypatch.setattr(module, "time_write", lambda *a: (0.5, 2_500_000))
    code, out, _ = _call(monkeypatch, capsys, module, "--megapixels", "0.01", "--levels", "1")
    assert code == 0
    assert out.splitlines()[2].split() == [".png", "level", "1", "0.50", "2.5"]  # 10^6 bytes


def test_speed_train_a_data_bound_stage_is_sized_by_the_loader(tmp_path: Path, monkeypatch) -> None:
    speed = _module("speed_train.py")
    stage = speed.entry_recipe("unet-l1", str(tmp_path), "cpu", []).stages["train"]
    row = speed.stage_row(stage, 8, 0.5, {"generator": 0.1})  # a batch loads in 0.5 s
    assert row["loader_patches_s"] == pytest.approx(16) and row["step_patches_s"] == pytest.approx(80)
    assert row["bottleneck"] == "data"
    assert row["stage_minutes_est"] == pytest.approx(stage.steps * 0.5 / 60)
    assert speed.stage_row(stage, 8, 0.05, {"generator": 0.1})["bottleneck"] == "compute"
    monkeypatch.setattr(speed, "time", _clock(8.0))
    assert speed._time(lambda: None, 4, warmup=2) == pytest.approx(2.0)  # 4 timed calls in 8 s


@pytest.mark.parametrize(("without", "with_", "says"), [
    (10.0, 5.0, "5.0 ms per Adam step (2.00x faster)"),
    (10.0, 11.0, "11.0 ms per Adam step (1.10x slower)")])
def test_speed_denormals_reports_the_share_and_the_change(without: float, with_: float, says: str,
                                                          monkeypatch, capsys) -> None:
    child = {"denormal": 4, "values": 10}
    _fake_children(monkeypatch, (0, json.dumps({**child, "ms": without}), ""),
                   (0, json.dumps({**child, "ms": with_}), ""))
    code, out, err = _run(monkeypatch, capsys, "speed_denormals.py", "--repeats", "1")
    assert code == 0, err
    assert "4 of 10 Adam moment values denormal (40%)" in out and out.splitlines()[-1].endswith(says)


def test_precision_quality_compares_each_image_with_fp32(monkeypatch, capsys, tmp_path: Path) -> None:
    """Means of fp32 30 and 31 dB; at bf16 29.5 and 31.2: the mean changes by -0.15, the largest
    change on one image is -0.5 (not the largest increase)."""
    module = _module("precision_quality.py")
    assert module._compare("psnr", np.array([30.0, 31.0]), np.array([29.5, 31.2])) == (
        "psnr fp32 mean 30.5000, change of the mean -0.1500, largest on one image -0.5000")
    _png(tmp_path / "data" / "a.png", (16, 16))

    def restore(model: str, jpeg: np.ndarray) -> np.ndarray:
        out = jpeg.copy()
        if model == "bf16":  # 3 of the image's 16 x 16 x 3 = 768 values 2 levels off
            out.flat[:3] = np.where(out.flat[:3] < 128, out.flat[:3] + 2, out.flat[:3] - 2)
        return out

    monkeypatch.setattr(zoo, "load", lambda *a, **k: None)
    monkeypatch.setattr(module, "_precisions", lambda full, precisions: {"fp32": "fp32", "bf16": "bf16"})
    monkeypatch.setattr(module, "restore_pixels", restore)
    code, out, err = _call(monkeypatch, capsys, module, "--data", tmp_path / "data", "--models", "m",
                           "--precision", "bf16", "--quality", "10")
    assert code == 0, err
    assert out.splitlines()[-1].endswith(
        "outputs differ by at most 2 grey levels, on 0.4% of all values")


def test_before_after_draws_each_crop_of_the_image_asked_under_its_label(tmp_path: Path, monkeypatch,
                                                                         capsys) -> None:
    import matplotlib.pyplot as plt

    crops = tmp_path / "board" / "crops"
    labels = ["JPEG q20", "m", "ground truth"]
    for seed, label in enumerate(labels):
        for image, protocol in (("chelsea", "rgb"), ("astronaut", "rgb"), ("astronaut", "y")):
            _png(crops / f"{image}_{protocol}_q20_{label.replace(' ', '_')}.png",
                 seed=10 * seed + len(image + protocol))
    figures = []
    subplots = plt.subplots
    monkeypatch.setattr(plt, "subplots",
                        lambda *a, **k: figures.append(subplots(*a, **k)) or figures[-1])
    code, _, err = _run(monkeypatch, capsys, "before_after.py", "--leaderboard", tmp_path / "board",
                        "--image", "astronaut", "--protocol", "y", "--quality", "20", "--models", "m",
                        "--out", tmp_path / "fig.png")
    assert code == 0, err
    (_, axes), = figures
    for ax, label in zip(axes, labels):
        crop = np.asarray(Image.open(crops / f"astronaut_y_q20_{label.replace(' ', '_')}.png"))
        assert ax.get_title(loc="left") == label and np.array_equal(ax.images[0].get_array(), crop)


def test_speed_train_reports_the_median_round(monkeypatch) -> None:
    """One round of 8 steps read 114 patches/s and the next 54 on a busy machine: the step time
    is the median of several rounds, each round's calls timed together."""
    speed = _module("speed_train.py")
    calls: list[int] = []
    monkeypatch.setattr(speed, "time", _clock(8 * 0.5, 8 * 0.1, 8 * 0.2))  # three rounds of 8
    seconds = speed._time(lambda: calls.append(1), 8, warmup=2, rounds=3)
    assert seconds == pytest.approx(0.2) and len(calls) == 2 + 3 * 8
    monkeypatch.setattr(speed, "time", _clock(8 * 0.5))
    assert speed._time(lambda: None, 8, warmup=0) == pytest.approx(0.5)  # one round by default
