"""`zoo bench`: the protocol rows, resume, bad images, outputs, reported rows, torchrun."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from zoo.bench import api
from zoo.bench.meta import command_line
from zoo.bench.results import read_rows
from zoo.bench.runner import BenchPlan, run_bench
from zoo.bench.suites import SuiteError, load_suite, parse_suite
from zoo.datasets import folder_dataset
from zoo.errors import ZooError

@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Four small crops of real photographs (different sizes, one grey) as PNGs."""
    from zoo.samples import sample_image

    folder = tmp_path / "tiny"
    folder.mkdir()
    crops = {"a": sample_image("astronaut")[100:164, 200:280], "b": sample_image("coffee")[50:98, 60:132],
             "c": sample_image("camera")[200:256, 180:236], "d": sample_image("chelsea")[40:96, 100:164]}
    for name, pixels in crops.items():
        Image.fromarray(pixels).save(folder / f"{name}.png")
    return folder


def _bench(folder: Path, out: Path, **kw) -> list[api.BenchRun]:
    args = dict(data=[str(folder)], models=["jpeg"], qualities=[10, 30], protocols=["y"],
                metrics=["psnr"], out=out, progress=False, crops=1)
    args.update(kw)
    return api.bench(**args)


def test_python_bench_takes_one_value_for_a_list_of_one(image_folder: Path, tmp_path: Path) -> None:
    """``bench(data="folder", models="jpeg", protocols="rgb", metrics="psnr", qualities=10)``
    read each string letter by letter ("/: no images found", "unknown protocol 'r'") and an
    int as not iterable (a tutorial writer's audit): one value is a list of one."""
    one = api.bench(data=image_folder, models="jpeg", qualities=10, protocols="rgb",
                    metrics="psnr", out=tmp_path / "one", progress=False, crops=0)
    listed = api.bench(data=[str(image_folder)], models=["jpeg"], qualities=[10], protocols=["rgb"],
                       metrics=["psnr"], out=tmp_path / "listed", progress=False, crops=0)
    rows = [[(r.model, r.image, r.quality, r.protocol, r.values) for r in run.outcome.rows]
            for run in (*one, *listed)]
    assert len(rows[0]) == 4 and rows[0] == rows[1]
    assert {r.protocol for r in one[0].outcome.rows} == {"rgb"} and set(one[0].outcome.rows[0].values) == {"psnr"}


def _write_table(path: Path, records: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)


def _table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _independent_jpeg_psnr(path: Path, quality: int, protocol: str) -> float:
    """The protocol written out again from DESIGN.md, without zoo.degrade: for ``rgb`` the file
    as RGB (a grey one in all three channels), for ``y`` its rounded MATLAB luma (a grey file as
    it is); JPEG at ``quality`` with 4:2:0, decoded, PSNR over every channel in float64."""
    import io

    image = Image.open(path)
    if protocol == "rgb":
        truth = image.convert("RGB")
    elif image.mode == "L":
        truth = image
    else:
        r, g, b = (np.asarray(image)[..., i].astype(np.float64) for i in range(3))
        y = np.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)
        truth = Image.fromarray(y.astype(np.uint8))
    buf = io.BytesIO()
    truth.save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    decoded = np.asarray(Image.open(buf).convert(truth.mode)).astype(np.float64)
    mse = np.mean((decoded - np.asarray(truth).astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


@pytest.mark.parametrize("protocol", ["y", "rgb"])
def test_jpeg_row_under_each_protocol_is_the_protocol(protocol: str, image_folder: Path,
                                                      tmp_path: Path) -> None:
    (run,) = _bench(image_folder, tmp_path / "out", protocols=[protocol])
    rows = {(r.image, r.quality): r for r in run.outcome.rows}
    assert len(rows) == 8
    for name in "abcd":
        for q in (10, 30):
            expected = _independent_jpeg_psnr(image_folder / f"{name}.png", q, protocol)
            assert rows[(name, q)].values["psnr"] == pytest.approx(expected, rel=1e-12)
            assert rows[(name, q)].protocol == protocol and rows[(name, q)].dataset == "tiny"


def test_outputs_are_written(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _bench(image_folder, out, protocols=["rgb", "y"])
    for name in ("results.csv", "summary.csv", "LEADERBOARD.md", "leaderboard.html", "meta.json"):
        assert (out / name).is_file(), name
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert header == ["dataset", "model", "image", "quality", "protocol", "weights", "truth", "setup",
                      "measured", "psnr", "psnr_b", "ssim", "ms_ssim", "lpips_alex", "niqe",
                      "brisque", "seconds"]
    assert len(_table(out / "results.csv")) == 4 * 2 * 2
    summary = _table(out / "summary.csv")
    assert {(r["quality"], r["protocol"]) for r in summary} == {("10", "rgb"), ("30", "rgb"),
                                                               ("10", "y"), ("30", "y")}
    assert all(r["images"] == "4" for r in summary)
    meta = json.loads((out / "meta.json").read_text())
    assert {"versions", "encoder", "git_commit", "device", "date", "command"} <= set(meta)
    assert "4:2:0" in meta["encoder"] and meta["versions"]["numpy"]
    assert all(meta["versions"][name] for name in ("scipy", "scikit-image", "timm", "safetensors"))
    assert list((out / "plots").glob("*_psnr.png")) and list((out / "crops").glob("a_rgb_q10_*.png"))
    page = (out / "leaderboard.html").read_text()
    assert "class='sortable'" in page and "plots/rgb_psnr.png" in page and "<script>" in page
    md = (out / "LEADERBOARD.md").read_text()
    assert "## `y` protocol, JPEG quality 10" in md and "`jpeg`" in md


def test_meta_json_names_no_local_paths(image_folder: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """meta.json is committed with the leaderboards: shipped weights are named inside the
    package, a dataset folder as given (relative as typed, an absolute one under the working
    directory relative to it), a data-cache dataset by its name."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    image_folder.rename(work / "tiny")

    def meta(spec: str, **kw) -> dict:
        out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
        _bench(Path(spec), out, data=[spec], qualities=[10], crops=0, **kw)
        return json.loads((out / "meta.json").read_text())

    first = meta("./tiny/", models=["jpeg", "unet-l1"])
    assert first["dataset_source"] == "tiny"
    assert first["weights"]["unet-l1"]["source"] == "shipped: zoo/weights/unet-l1.safetensors"
    assert meta(str(work / "tiny"))["dataset_source"] == "tiny"
    (work / "sub").mkdir()
    monkeypatch.chdir(work / "sub")
    assert meta("../tiny")["dataset_source"] == "../tiny"
    (work / "tiny").rename(tmp_path / "cache" / "LIVE1")
    assert meta("LIVE1")["dataset_source"] == "data cache: LIVE1"
    for out in tmp_path.glob("out-*"):
        assert str(tmp_path) not in (out / "meta.json").read_text()
        assert str(tmp_path) not in (out / "LEADERBOARD.md").read_text()


def test_meta_json_command_names_the_program_without_its_path() -> None:
    assert command_line(["/home/me/.venv/bin/zoo", "bench", "--models", "*+x8", "-q", "10"]) \
        == "zoo bench --models '*+x8' -q 10"
    assert command_line(["/home/me/src/zoo/__main__.py", "bench"]) == "python -m zoo bench"


def test_resume_after_a_kill_gives_the_uninterrupted_results(image_folder: Path, tmp_path: Path) -> None:
    _bench(image_folder, tmp_path / "whole", crops=0)
    seen: list[str] = []

    def killer(image_id: str) -> None:
        seen.append(image_id)
        if len(seen) == 2:
            raise KeyboardInterrupt  # the kill, right after the second image was flushed

    with pytest.raises(KeyboardInterrupt), pytest.warns(UserWarning) as said:
        _bench(image_folder, tmp_path / "resumed", crops=0, after_image=killer)
    assert [str(w.message) for w in said] == [
        f"{image_folder.name}: stopped; the 4 rows this run measured are kept in "
        f"{tmp_path / 'resumed' / 'results.csv'}, and the same command measures only the rest"]
    partial = read_rows(tmp_path / "resumed" / "results.csv")
    assert sorted({r.image for r in partial}) == ["a", "b"]
    (run,) = _bench(image_folder, tmp_path / "resumed", crops=0)
    assert run.outcome.measured == 4  # only images c and d, at two qualities
    assert _table(tmp_path / "resumed" / "results.csv") == _table(tmp_path / "whole" / "results.csv")
    (again,) = _bench(image_folder, tmp_path / "resumed", crops=0)
    assert again.outcome.measured == 0
    # The stopped run is named among the runs that measured the rows shown (it was in none).
    runs = json.loads((tmp_path / "resumed" / "meta.json").read_text())["measured_by"]
    assert [(r["measured"], r.get("interrupted", False)) for r in runs] == [(4, True), (4, False)]
    assert "the latest of them" in (tmp_path / "resumed" / "LEADERBOARD.md").read_text()


def test_corrupt_image_is_reported_and_skipped(image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (run,) = _bench(image_folder, tmp_path / "out")
    assert [i for i, _ in run.outcome.skipped_images] == ["broken"]
    assert "broken.png" in run.outcome.skipped_images[0][1]
    assert {r.image for r in run.outcome.rows} == set("abcd")
    assert "broken" in (tmp_path / "out" / "LEADERBOARD.md").read_text()


def test_a_failing_model_is_reported_and_the_rest_goes_on(image_folder: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import zoo

    real_load = zoo.load
    monkeypatch.setattr(zoo, "load", lambda name, device=None: object() if name == "broken"
                        else real_load(name, device=device))
    plan = BenchPlan(folder_dataset(image_folder), ["broken", "jpeg"], (10,), ("rgb",), ("psnr",),
                     tmp_path / "out")
    outcome = run_bench(plan, progress=False)
    assert {r.model for r in outcome.rows} == {"jpeg"} and len(outcome.rows) == 4
    assert sorted(i for m, i, _ in outcome.failures if m == "broken") == list("abcd")


def test_a_model_that_does_not_load_is_said_so(image_folder: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The terminal, LEADERBOARD.md and the page said "failed NAME on *: ...", a star no one
    explained. Its rows from an earlier run, when it loaded, are not shown as if measured now."""
    import zoo
    from zoo.cli import main

    out = tmp_path / "out"
    args = ["bench", "--data", str(image_folder), "--models", "jpeg", "unet-l1", "-q", "10",
            "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"]
    assert main(args) == 0
    real_load = zoo.load

    def load(name: str, device: str | None = None):  # noqa: ANN202
        if name == "unet-l1":
            raise ZooError("weights damaged")
        return real_load(name, device=device)

    monkeypatch.setattr(zoo, "load", load)
    capsys.readouterr()
    assert main(args) == 1
    assert {r["model"] for r in _table(out / "summary.csv")} == {"jpeg"}
    assert "failed unet-l1 (could not be loaded): weights damaged" in capsys.readouterr().err
    assert "- `unet-l1` (could not be loaded): weights damaged" in (out / "LEADERBOARD.md").read_text()
    assert "unet-l1 (could not be loaded): weights damaged" in (out / "leaderboard.html").read_text()


def test_a_failure_repeated_on_every_image_is_one_line(image_folder: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A metric that failed the same way everywhere (a damaged cache, say) printed one line per
    image, model, quality and protocol: 16 here, 600 on DIV2K's 100 images."""
    import dataclasses

    from zoo.cli import main
    from zoo.metrics import METRICS

    def broken(restored: np.ndarray, reference: np.ndarray) -> float:
        raise RuntimeError("broken")

    monkeypatch.setitem(METRICS, "ssim", dataclasses.replace(METRICS["ssim"], fn=broken))
    out = tmp_path / "out"
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "unet-l1", "-q", "10", "20",
                 "--protocol", "y", "--metrics", "psnr", "ssim", "--out", str(out), "--no-progress",
                 "--crops", "0"]) == 1
    where = "jpeg on a, unet-l1 on a, jpeg on b and 5 more (16 times)"
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("failed")]
    assert err == [f"failed {where}: ssim: RuntimeError: broken"]
    assert (out / "LEADERBOARD.md").read_text().count("ssim: RuntimeError: broken") == 1
    assert "- `jpeg` on `a`, `unet-l1` on `a`, `jpeg` on `b` and 5 more (16 times): ssim" in (
        out / "LEADERBOARD.md").read_text()
    assert f"<li>{where}: ssim: RuntimeError: broken</li>" in (out / "leaderboard.html").read_text()
    assert len(json.loads((out / "meta.json").read_text())["failures"]) == 16  # every one kept


def test_failures_are_grouped_by_reason_with_their_count(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import zoo
    from zoo.bench.leaderboard import grouped_failures
    from zoo.cli import main

    assert grouped_failures([("m", "a", "r"), ("m", "a", "r"), ("m", "*", "gone"), ("n", "b", "s")]) == [
        ("m on a (2 times)", "r"), ("m (could not be loaded)", "gone"), ("n on b", "s")]

    def load(name: str, device: str | None = None):  # noqa: ANN202
        raise ZooError("weights damaged")

    monkeypatch.setattr(zoo, "load", load)  # no model loads: the branch that writes no leaderboard
    assert main(["bench", "--data", str(image_folder), "--models", "unet-l1", "gan", "-q", "10",
                 "--metrics", "psnr", "--out", str(tmp_path / "out"), "--no-progress"]) == 1
    failed = [line for line in capsys.readouterr().err.splitlines() if line.startswith("failed")]
    assert failed == ["failed unet-l1 (could not be loaded), gan (could not be loaded) (2 times): "
                      "weights damaged"]


def test_published_rows_appear_as_reported_only(tmp_path: Path, image_folder: Path) -> None:
    live1 = image_folder.rename(tmp_path / "LIVE1")
    out = tmp_path / "out"
    _bench(live1, out, qualities=[10], metrics=["psnr", "ssim", "psnr_b"])
    md = (out / "LEADERBOARD.md").read_text()
    assert "Reported (published, not measured here) on LIVE1" in md
    assert "| JPEG *(reported)* | 27.77 |" in md and "SwinIR *(reported)*" in md
    assert "28.06" not in md  # the colour (rgb) SwinIR row does not match the y protocol
    assert "reported" not in (out / "results.csv").read_text().lower()
    assert "27.77" not in (out / "summary.csv").read_text()
    assert "class='reported'" in (out / "leaderboard.html").read_text()


def test_published_rows_over_another_image_count_are_marked_not_comparable(
        tmp_path: Path, image_folder: Path, capsys: pytest.CaptureFixture) -> None:
    """A folder merely named LIVE1 (4 images, not the published 29) gets the published rows
    with a note giving both counts, in every output; equal counts get no note."""
    from zoo.bench.baselines import ReportedRow, load_reported
    from zoo.bench.leaderboard import incomparable
    from zoo.cli import main

    live1, out = image_folder.rename(tmp_path / "LIVE1"), tmp_path / "out"
    assert main(["bench", "--data", str(live1), "--models", "jpeg", "-q", "10", "20", "--protocol",
                 "y", "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"]) == 0
    why = ("the published numbers are means over the 29 images of LIVE1; the means measured "
           "here cover 4")
    md = (out / "LEADERBOARD.md").read_text()
    assert md.count(f"**Not comparable:** {why}.") == 2  # under each quality's reported table
    assert md.index("Not comparable") > md.index("Reported (published")
    q10, q20 = md.split("## `y` protocol, JPEG quality 20")  # published: q10 27.77, q20 30.07
    assert "| JPEG *(reported)* | 27.77 |" in q10 and "30.07" not in q10
    assert "| JPEG *(reported)* | 30.07 |" in q20 and "27.77" not in q20
    assert f"<b>Not comparable:</b> {why}." in (out / "leaderboard.html").read_text()
    assert capsys.readouterr().err.count(f"not comparable: {why}") == 1  # once, not per quality
    assert all(r.images for r in load_reported())  # every published set's size is known
    row = ReportedRow("LIVE1", "y", 10, "JPEG", {"psnr": 27.77}, "fbcnn", images=29)
    assert incomparable([row], [{"images": 29}]) == ""
    assert "the means measured here cover 30" in incomparable([row], [{"images": 30}])  # more, too
    assert "over the 29 images of LIVE1; the means measured here cover 27" in incomparable(
        [row], [{"images": 28}, {"images": 27}])  # the fewest any mean covers
    assert "the means measured here cover 28" in incomparable(  # a failure on one image: (28 of 29)
        [row], [{"images": 29, "partial": {"psnr": 28}}, {"images": 29}])


def test_published_image_counts_are_read_from_the_csv(tmp_path: Path) -> None:
    """Each row's ``images`` column (the set's size), checked; empty means not known."""
    from zoo.bench.baselines import load_reported
    from zoo.errors import DataError
    from zoo.resources import resource_dir

    with open(resource_dir("baselines") / "published.csv", newline="") as fh:
        shipped = {(r["dataset"], r["images"]) for r in csv.DictReader(fh)}
    assert shipped == {("LIVE1", "29"), ("Classic5", "5")}
    header = "dataset,protocol,quality,model,psnr,ssim,psnr_b,images,source\n"
    (tmp_path / "published.csv").write_text(header + "Mine,y,10,JPEG,30.1,,,7,x\n"
                                            "Other,y,10,JPEG,30.2,,,,x\n")
    assert [r.images for r in load_reported(tmp_path)] == [7, None]
    for rows, problem in (("Mine,y,10,JPEG,30.1,,,0,x\n", "images must be a positive count"),
                          ("Mine,y,10,JPEG,30.1,,,7,x\nmine,y,20,JPEG,32.0,,,8,x\n",
                           "published.csv:3: images 8 for mine, an earlier row has 7")):
        (tmp_path / "published.csv").write_text(header + rows)
        with pytest.raises(DataError, match=problem):
            load_reported(tmp_path)


def test_published_rows_match_the_dataset_name_in_any_case() -> None:
    """A folder named live1 or Live1 is LIVE1: it gets the published rows (published.csv's five
    grey q10 rows of LIVE1)."""
    from zoo.bench.baselines import reported_for

    for name in ("live1", "Live1"):
        assert sorted(r.model for r in reported_for(name, {"y"}, {10})) == [
            "ARCNN", "DnCNN-3", "FBCNN", "JPEG", "SwinIR"]


@pytest.mark.skipif(not os.environ.get("ZOO_LIVE1"), reason="set ZOO_LIVE1=DIR (the 29 LIVE1 images)")
def test_live1_jpeg_q10_matches_the_published_row(tmp_path: Path) -> None:
    (run,) = api.bench(data=[os.environ["ZOO_LIVE1"]], models=["jpeg"], qualities=[10], protocols=["y"],
                       metrics=["psnr", "ssim", "psnr_b"], out=tmp_path, progress=False, crops=0)
    rows = run.outcome.rows
    mean = {m: np.mean([r.values[m] for r in rows]) for m in ("psnr", "ssim", "psnr_b")}
    assert len(rows) == 29
    assert f"{mean['psnr']:.2f}" == "27.77"
    assert f"{mean['ssim']:.3f}" == "0.773"
    assert f"{mean['psnr_b']:.2f}" == "25.33"


def test_suites_load_and_validate(tmp_path: Path) -> None:
    default = load_suite("default")
    assert default.qualities == (10, 20, 30) and default.datasets == ("auto",)
    assert "lpips_alex" in default.metrics
    assert load_suite("literature").protocols == ("y",)
    bad = tmp_path / "bad.toml"
    bad.write_text('qualities = [10, 200]\n')
    with pytest.raises(SuiteError, match="bad.toml: qualities"):
        load_suite(str(bad))
    with pytest.raises(SuiteError, match="unknown metrics"):
        parse_suite({"metrics": ["psnr", "vif"]}, name="x")
    with pytest.raises(SuiteError, match=re.escape("x: unknown metrics ['ms-ssim']; did you mean 'ms_ssim'? known: psnr,")):
        parse_suite({"metrics": ["ms-ssim"]}, name="x")
    with pytest.raises(SuiteError, match="no such suite"):
        load_suite("nope")


def test_suite_mistakes_are_one_line_naming_the_file_and_key(tmp_path: Path) -> None:
    """Each was a traceback, a message that contradicted itself, or named the command line or
    no file at all."""
    from zoo.errors import DataError

    cases = {"enc.toml": b"\xff\xfe = 1\n", "all.toml": b'metrics = ["all", "psnr"]\n',
             "empty.toml": b"metrics = []\n", "description.toml": b"description = 5\n"}
    expected = {"enc.toml": "not a suite (not UTF-8 text, as TOML is)",
                "all.toml": "'all' stands alone (it means every metric), got ['all', 'psnr']",
                "empty.toml": "metrics is empty; name at least one",
                "description.toml": "description must be a string, got 5"}
    for name, text in cases.items():
        (tmp_path / name).write_bytes(text)
        with pytest.raises(SuiteError, match=re.escape(f"{tmp_path / name}: {expected[name]}")):
            load_suite(str(tmp_path / name))
    with pytest.raises(SuiteError, match=re.escape(f"{tmp_path / 'x.toml'}: no such file")):
        load_suite(str(tmp_path / "x.toml"))
    models = tmp_path / "models.toml"
    models.write_text('models = ["nosuch*"]\ndatasets = ["sample"]\n')
    with pytest.raises(ZooError, match=re.escape(f"{models}: models nosuch*: no registry entry")):
        api.bench(suite=load_suite(str(models)), progress=False, out=tmp_path / "out")
    data = tmp_path / "data.toml"
    data.write_text(f'datasets = ["{tmp_path / "nowhere"}"]\n')
    with pytest.raises(DataError, match=re.escape(f"{data}: datasets: {tmp_path / 'nowhere'}: no such folder")):
        api.bench(suite=load_suite(str(data)), models=["jpeg"], progress=False, out=tmp_path / "out")


def test_model_selection() -> None:
    assert api.select_models(None)[0] == "jpeg"
    assert api.select_models(["jp*"]) == ["jpeg"]
    with pytest.raises(api.ModelSelectionError, match="--models zz"):
        api.select_models(["zz*"])


def test_a_saved_model_is_benchmarked_beside_the_registry(image_folder: Path, tmp_path: Path) -> None:
    """``--models`` takes an export folder as it is: the same weights score the same rows."""
    import zoo
    from zoo.hub import save_pretrained

    export = tmp_path / "my-export"
    save_pretrained(zoo.load("unet-l1", device="cpu"), export)
    assert api.select_models(["jpeg", str(export)]) == ["jpeg", str(export)]
    api.bench(data=[str(image_folder)], models=["unet-l1", str(export)], qualities=[20],
              protocols=["y"], metrics=["psnr"], out=tmp_path / "out", progress=False, crops=0)
    rows = _table(tmp_path / "out" / "results.csv")
    by_model: dict[str, list[float]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(float(row["psnr"]))
    assert set(by_model) == {"unet-l1", str(export)}
    assert by_model["unet-l1"] == pytest.approx(by_model[str(export)], abs=1e-9)


def test_a_folder_named_as_an_entry_does_not_stand_in_for_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A saved model in the working folder named ``unet-l1`` was benchmarked, restored and
    loaded as the registry's ``unet-l1``, its rows published under the entry's name; one saved
    model named three ways (a trailing slash, its model.safetensors) was three rows."""
    import torch

    import zoo
    from zoo.hub import save_pretrained

    shipped = zoo.load("unet-l1").state_dict()
    monkeypatch.chdir(tmp_path)
    save_pretrained(zoo.create_model("unet-l1"), tmp_path / "unet-l1")  # untrained: the identity
    assert api.select_models(["unet-l1", "./unet-l1", "unet-l1/", "unet-l1/model.safetensors",
                              "unet-l1+x8", "./unet-l1+x8"]) == [
        "unet-l1", "./unet-l1", "unet-l1+x8", "./unet-l1+x8"]

    def same(model: torch.nn.Module) -> bool:
        return all(torch.equal(v, shipped[k]) for k, v in model.state_dict().items())

    assert same(zoo.load("unet-l1")) and not same(zoo.load("./unet-l1"))
    assert not same(zoo.load("unet-l1", weights="unet-l1/model.safetensors"))  # not refused
    export = tmp_path / "runs" / "x" / "export"
    save_pretrained(zoo.create_model("unet-l1"), export)
    assert api.select_models([f"{export}/", str(export / "model.safetensors"), str(export)]) == [
        str(export)]


def test_paths_are_printed_as_they_are(image_folder: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    """A model folder or --out path holding ``[/x]`` is not rich markup: it was a MarkupError
    traceback after every row had been measured."""
    import zoo
    from zoo.cli import main
    from zoo.hub import save_pretrained

    export, out = tmp_path / "p[" / "x]" / "export", tmp_path / "p[" / "x]" / "out"
    save_pretrained(zoo.load("arnet-nogan", device="cpu"), export)
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", str(export), "-q", "10",
                 "--metrics", "psnr", "--crops", "0", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert f"│ {export} " in printed.out and f"wrote {out}/ (results.csv" in printed.err


def test_rows_of_changed_weights_are_measured_again(image_folder: Path, tmp_path: Path) -> None:
    """Resume skips rows only when the weights that made them are the ones loaded now."""
    import torch

    import zoo
    from zoo.hub import save_pretrained

    export, out = tmp_path / "export", tmp_path / "out"
    model = zoo.load("unet-l1", device="cpu")
    save_pretrained(model, export)
    kwargs = dict(data=[str(image_folder)], models=[str(export)], qualities=[20], protocols=["y"],
                  metrics=["psnr"], out=out, progress=False, crops=0)
    first = api.bench(**kwargs)[0].outcome
    assert first.measured == 4 and api.bench(**kwargs)[0].outcome.measured == 0
    with torch.no_grad():
        next(model.parameters()).mul_(0.5)
    save_pretrained(model, export)
    second = api.bench(**kwargs)[0].outcome
    assert second.measured == 4
    old, new = {r.weights for r in first.rows}, {r.weights for r in second.rows}
    assert len(old) == len(new) == 1 and old != new
    assert json.loads((out / "meta.json").read_text())["weights"][str(export)]["digest"] in new


def test_cli_bench_table_ranks_the_models_as_the_leaderboard(image_folder: Path, tmp_path: Path,
                                                               capsys) -> None:
    """The terminal's table listed the models by name (jpeg above unet-l1), LEADERBOARD.md
    best first by the first metric (a tutorial writer's audit)."""
    from zoo.cli import main

    out = tmp_path / "out"
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "unet-l1", "-q", "10",
                 "--protocol", "y", "--metrics", "psnr", "--out", str(out), "--no-progress",
                 "--crops", "0"]) == 0
    rows = (re.match(r"^\W*y\W+10\W+([\w-]+)", line) for line in capsys.readouterr().out.splitlines())
    printed = [row[1] for row in rows if row]
    board = re.findall(r"^\| `?(jpeg|unet-l1)`? \|", (out / "LEADERBOARD.md").read_text(), flags=re.M)
    assert printed == board == ["unet-l1", "jpeg"]


def test_cli_bench(image_folder: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.cli import main

    monkeypatch.setenv("COLUMNS", "30")  # narrower than the table: digits must not be elided
    out = tmp_path / "out"
    code = main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "20", "--protocol", "y",
                 "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "tiny: means over images" in captured.out and "jpeg" in captured.out
    assert "…" not in captured.out and "PSNR" in captured.out
    assert len(_table(out / "results.csv")) == 4
    odd = tmp_path / "ds\x1b[2J"  # a terminal code in a folder's name was printed as it is
    shutil.copytree(image_folder, odd)
    assert main(["bench", "--data", str(odd), "--models", "jpeg", "-q", "20", "--protocol", "y",
                 "--metrics", "psnr", "--out", str(tmp_path / "odd"), "--no-progress",
                 "--crops", "0"]) == 0
    captured = capsys.readouterr()
    assert "ds\\x1b[2J: means over images" in captured.out
    assert "\x1b" not in captured.out + captured.err
    one = tmp_path / "one"  # "1 rows measured"
    one.mkdir()
    shutil.copy(image_folder / "a.png", one / "a.png")
    assert main(["bench", "--data", str(one), "--models", "jpeg", "-q", "20", "--protocol", "y",
                 "--metrics", "psnr", "--out", str(tmp_path / "one-out"), "--no-progress",
                 "--crops", "0"]) == 0
    assert capsys.readouterr().err.startswith("1 row measured in ")


def test_images_with_the_same_pixels_are_named(image_folder: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    """A copy, a link or one photograph in two formats was measured as two images and counted
    twice in the means without a word (a data engineer's audit): the command says so, and
    meta.json keeps the groups."""
    from zoo.cli import main

    shutil.copy(image_folder / "a.png", image_folder / "a-copy.png")
    (image_folder / "c-link.png").symlink_to(image_folder / "c.png")
    Image.open(image_folder / "d.png").save(image_folder / "d.tif")
    out = tmp_path / "out"
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10", "--protocol", "y",
                 "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"]) == 0
    assert json.loads((out / "meta.json").read_text())["identical_images"] == [
        ["a", "a-copy"], ["c", "c-link"], ["d.png", "d.tif"]]
    assert ("note: tiny: images with the same pixels, each counted in the means: a = a-copy, "
            "c = c-link, d.png = d.tif (meta.json: identical_images)") in capsys.readouterr().err
    shutil.rmtree(out)
    (image_folder / "a-copy.png").unlink(), (image_folder / "c-link.png").unlink(), (image_folder / "d.tif").unlink()
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10", "--protocol", "y",
                 "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"]) == 0
    assert "identical_images" not in json.loads((out / "meta.json").read_text())
    assert "same pixels" not in capsys.readouterr().err


@pytest.mark.parametrize("where", ["log", "dumb terminal"])
def test_progress_in_a_log_is_plain_lines(image_folder: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Outside a terminal the bar was drawn once, at the end: a long bench under nohup wrote
    nothing for hours and looked hung. It writes plain lines, as zoo train does, and so in a
    terminal that draws no bar (TERM=dumb: nothing at all was shown there)."""
    import rich.console

    import zoo.plain_progress

    if where == "dumb terminal":
        monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
        monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setattr(zoo.plain_progress, "PLAIN_SECONDS", 0.0)  # a line for every row
    _bench(image_folder, tmp_path / "out", crops=0, progress=True)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("bench tiny: row ")]
    assert [line.split(",")[0] for line in lines] == [f"bench tiny: row {k}/8" for k in range(1, 9)]
    assert "bench tiny: 8 rows to measure\n" in captured.err  # at once, not after 30 s
    odd = tmp_path / "ds\x1b[2J"  # a name's terminal codes are shown escaped, in a log too
    odd.mkdir()
    shutil.copy(image_folder / "a.png", odd / "a.png")
    _bench(odd, tmp_path / "odd", crops=0, progress=True, qualities=[10])
    captured = capsys.readouterr()
    assert "bench ds\\x1b[2J: 1 row to measure\n" in captured.err and "\x1b" not in captured.err
    assert lines[-1].endswith("ETA 0:00:00") and "━" not in captured.out + captured.err


def test_torchrun_two_processes_equal_one(image_folder: Path, tmp_path: Path) -> None:
    args = ["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10", "30", "--protocol", "y",
            "--metrics", "psnr", "--no-progress", "--crops", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", "-m", "zoo", *args, "--out", str(tmp_path / "two")],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _bench(image_folder, tmp_path / "one", crops=0)
    assert _table(tmp_path / "two" / "results.csv") == _table(tmp_path / "one" / "results.csv")
    assert not list((tmp_path / "two").glob("results.part*.csv"))
    assert (tmp_path / "two" / "LEADERBOARD.md").is_file()


def test_a_damaged_dataset_folder_does_not_stop_the_other_datasets(
        image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With several datasets, one whose results.csv is damaged is one failed line and the next
    dataset is still measured and printed (the command stopped at the first)."""
    from zoo.cli import main

    other = tmp_path / "other"
    shutil.copytree(image_folder, other)
    out = tmp_path / "out"
    _bench(image_folder, out / "tiny", qualities=[10], crops=0)
    table = out / "tiny" / "results.csv"
    records = list(csv.DictReader(table.open()))
    records[0]["psnr"] = "abc"
    _write_table(table, records)
    capsys.readouterr()
    code = main(["bench", "--data", str(image_folder), str(other), "--models", "jpeg", "-q", "10",
                 "--protocol", "y", "--metrics", "psnr", "--out", str(out), "--no-progress",
                 "--crops", "0"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"failed tiny: {table}" in err
    assert f"wrote {out / 'other'}/" in err and (out / "other" / "summary.csv").is_file()


def test_metrics_and_models_run_once_before_anything_is_timed(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first row timed paid for loading LPIPS's network and NIQE's parameters (the jpeg
    row at the lowest quality showed several times the others' seconds)."""
    from zoo.bench import runner
    from zoo.metrics import METRICS

    import dataclasses

    sides: list[int] = []
    psnr = METRICS["psnr"]

    def recording(restored: np.ndarray, reference: np.ndarray) -> float:
        sides.append(restored.shape[0])
        return psnr.fn(restored, reference)

    monkeypatch.setitem(METRICS, "psnr", dataclasses.replace(psnr, fn=recording))
    _bench(image_folder, tmp_path / "out", qualities=[10], crops=0)
    assert sides[0] == runner.WARM_UP_SIDE and runner.WARM_UP_SIDE not in sides[1:]
    sides.clear()
    _bench(image_folder, tmp_path / "out", qualities=[10], crops=0)  # nothing to measure
    assert sides == []


def test_the_references_lpips_features_are_computed_before_the_rows_are_timed(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """They are computed once per image and kept: the first row timed of each image (jpeg's, at
    the lowest quality) paid for them (0.60 s against 0.19 s at q20 on the sample astronaut)."""
    import dataclasses

    from zoo.metrics import METRICS

    events: list[tuple[str, bytes]] = []
    lpips = METRICS["lpips_alex"]

    def prepare(reference: np.ndarray, device: str | None = None) -> None:
        events.append(("prepare", reference.tobytes()))
        lpips.prepare(reference, device=device)

    def timed(restored: np.ndarray, reference: np.ndarray, device: str | None = None) -> float:
        events.append(("timed", reference.tobytes()))
        return lpips.fn(restored, reference, device=device)

    monkeypatch.setitem(METRICS, "lpips_alex", dataclasses.replace(lpips, fn=timed, prepare=prepare))
    _bench(image_folder, tmp_path / "out", qualities=[10, 20], metrics=["lpips_alex"], crops=0)
    first = {}
    for kind, reference in events[1:]:  # after the untimed warm-up on a synthetic image
        first.setdefault(reference, kind)
    assert events[0][0] == "timed" and len(first) == 4 and set(first.values()) == {"prepare"}


def test_seconds_of_a_row_that_gains_a_metric_add_its_time(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``seconds`` is restore + metrics: a row that gains a metric kept the first run's
    seconds, as if the new metric had cost nothing. On a clock where restoring takes 5 s and
    SSIM 7 s, the row gains 7 s: its restore was counted by the first run."""
    import dataclasses
    from types import SimpleNamespace

    from zoo import metrics
    from zoo.bench import runner

    first = {r.key: r.seconds for r in _bench(image_folder, tmp_path / "out", qualities=[10],
                                              crops=0)[0].outcome.rows}
    clock = [1000.0]

    def taking(seconds: float, call: Callable) -> Callable:
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            clock[0] += seconds
            return call(*args, **kwargs)
        return timed

    monkeypatch.setattr(runner, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(runner, "restore", taking(5.0, runner.restore))
    ssim = metrics.METRICS["ssim"]
    monkeypatch.setitem(metrics.METRICS, "ssim", dataclasses.replace(ssim, fn=taking(7.0, ssim.fn)))
    later = _bench(image_folder, tmp_path / "out", qualities=[10], metrics=["psnr", "ssim"],
                   crops=0)[0].outcome.rows
    assert len(later) == 4
    assert all(r.seconds == pytest.approx(first[r.key] + 7.0, rel=1e-12) for r in later)


def test_another_datasets_rows_in_one_out_are_counted_and_their_runs_not_named(
        image_folder: Path, tmp_path: Path) -> None:
    """Rows of another dataset in the same --out were not counted among the rows not shown, and
    a run that measured only that dataset was named as the latest behind this one's values."""
    other = tmp_path / "other"
    shutil.copytree(image_folder, other)
    out = tmp_path / "out"
    _bench(image_folder, out, qualities=[10], crops=0)
    (run,) = _bench(other, out, qualities=[10], crops=0)
    assert {r["dataset"] for r in _table(out / "summary.csv")} == {"other"}  # tiny's: same pictures
    assert run.meta["not_shown"]["rows"] == 4 and run.meta["not_shown"]["datasets"] == ["tiny"]
    assert "datasets tiny" in (out / "LEADERBOARD.md").read_text()
    (run,) = _bench(image_folder, out, qualities=[10], crops=0)  # nothing new: tiny's rows
    assert run.outcome.measured == 0
    records = run.meta["measured_by"]
    assert [r["dataset"] for r in records] == ["tiny", "other"]
    from zoo.bench.leaderboard import render_markdown

    dated = {**run.meta, "measured_by": [{**records[0], "date": "DAY-OF-TINY"},
                                         {**records[1], "date": "DAY-OF-OTHER"}]}
    text = render_markdown("tiny", [], ("psnr",), [], dated)
    assert "the latest of them: " in text and "DAY-OF-TINY" in text and "DAY-OF-OTHER" not in text


def test_figures_the_page_no_longer_shows_are_removed(image_folder: Path, tmp_path: Path) -> None:
    """A plot of a metric the last command left out stayed in plots/, beside the page."""
    out = tmp_path / "out"
    _bench(image_folder, out, metrics=["psnr", "ssim"], crops=2)
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == ["y_psnr.png", "y_ssim.png"]
    assert len(list((out / "crops").glob("*.png"))) == 4  # two images: ground truth and JPEG
    (out / "plots" / "notes.txt").write_text("mine")
    for mine in (out / "plots" / "mine.png", out / "crops" / "holiday.png",
                 out / "crops" / "a_y_q10_modèle.png"):  # a crop of a model no longer shown
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(mine)  # a user's: they were deleted
    _bench(image_folder, out, metrics=["psnr"], crops=1)
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["mine.png", "notes.txt",
                                                                 "y_psnr.png"]
    assert sorted(p.name for p in (out / "crops").glob("*.png")) == [
        "a_y_q10_JPEG_q10.png", "a_y_q10_ground_truth.png", "holiday.png"]


def test_a_run_whose_figures_cannot_be_written_still_records_itself(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that filled while the crops were written left its measured rows without meta.json:
    the next run measured nothing, and the page said the rows came from no run named."""
    import errno

    import zoo.bench.report

    def full_disk(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "out"
    with monkeypatch.context() as full:
        full.setattr(zoo.bench.report, "make_crops", full_disk)
        with pytest.raises(OSError):
            _bench(image_folder, out)
    meta = json.loads((out / "meta.json").read_text())
    assert [run["measured"] for run in meta["measured_by"]] == [8]
    (run,) = _bench(image_folder, out)
    assert run.outcome.measured == 0 and len(run.meta["measured_by"]) == 1


def test_a_repeated_protocol_is_measured_once(image_folder: Path, tmp_path: Path) -> None:
    """``--protocol rgb rgb`` measured every row twice (and counted it twice)."""
    run = _bench(image_folder, tmp_path / "out", qualities=[10], protocols=["y", "y"], crops=0)[0]
    assert run.plan.protocols == ("y",) and run.outcome.measured == 4


def test_another_folder_of_the_same_name_is_measured_again(image_folder: Path,
                                                           tmp_path: Path) -> None:
    """Rows are tied to the ground truth's pixels, not only to the folder's and image's names."""
    other = tmp_path / "elsewhere" / "tiny"
    other.mkdir(parents=True)
    for name in "abcd":  # the same names, other pictures
        Image.fromarray(np.asarray(Image.open(image_folder / f"{name}.png"))[::-1]).save(
            other / f"{name}.png")
    out = tmp_path / "out"
    with pytest.raises(ZooError, match="two datasets are named 'tiny'"):
        _bench(image_folder, out, data=[str(image_folder), str(other)])
    first = _bench(image_folder, out, crops=0)[0].outcome
    second = _bench(other, out, crops=0)[0].outcome
    assert second.measured == 8
    fresh = _bench(other, tmp_path / "fresh", crops=0)[0].outcome
    assert _table(out / "results.csv") == _table(tmp_path / "fresh" / "results.csv")
    assert {r.truth for r in first.rows}.isdisjoint({r.truth for r in fresh.rows})


def test_a_metric_asked_for_later_is_added_to_the_rows(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)
    (run,) = _bench(image_folder, out, metrics=["psnr", "psnr_b"], crops=0)
    assert run.outcome.measured == 8
    assert all({"psnr", "ssim", "psnr_b"} <= set(r.values) for r in run.outcome.rows)
    _bench(image_folder, tmp_path / "once", metrics=["psnr", "ssim", "psnr_b"], crops=0)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "measured"} for r in rows]  # noqa: E731
    assert strip(_table(out / "results.csv")) == strip(_table(tmp_path / "once" / "results.csv"))
    assert _bench(image_folder, out, metrics=["ssim"], crops=0)[0].outcome.measured == 0


def test_small_images_keep_their_other_metrics_and_means_compare_the_same_images(
        image_folder: Path, tmp_path: Path) -> None:
    Image.fromarray(np.asarray(Image.open(image_folder / "a.png"))[:20, :40]).save(
        image_folder / "small.png")  # below LPIPS-Alex's 31 px: NaN there
    out = tmp_path / "out"
    (run,) = _bench(image_folder, out, models=["jpeg", "unet-l1"], qualities=[10],
                    protocols=["rgb"], metrics=["psnr", "lpips_alex"], crops=0)
    assert not run.outcome.failures
    small = [r for r in run.outcome.rows if r.image == "small"]
    assert len(small) == 2 and all("psnr" in r.values and math.isnan(r.values["lpips_alex"])
                                   and "lpips_alex" in r.measured for r in small)  # NaN: "nan"
    summary = {r["model"]: r for r in _table(out / "summary.csv")}
    rows = [r for r in run.outcome.rows if r.model == "jpeg" and r.image != "small"]
    assert float(summary["jpeg"]["lpips_alex"]) == pytest.approx(
        np.mean([r.values["lpips_alex"] for r in rows]), rel=1e-12)
    assert summary["jpeg"]["images"] == "5"
    assert summary["jpeg"]["partial"] == summary["unet-l1"]["partial"] == "lpips_alex:4"
    assert "| 4 of 5)" not in (md := (out / "LEADERBOARD.md").read_text()) and " (4 of 5)" in md
    assert "\n(n of N): the mean covers only the n images that every model" in md


def test_a_failing_metric_is_reported_and_the_row_kept(image_folder: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from zoo import metrics

    def broken(restored: np.ndarray, reference: np.ndarray) -> float:
        raise RuntimeError("boom")

    monkeypatch.setitem(metrics.METRICS, "ssim",
                        dataclasses.replace(metrics.METRICS["ssim"], fn=broken))
    out = tmp_path / "out"
    (run,) = _bench(image_folder, out, qualities=[10], metrics=["psnr", "ssim"], crops=0)
    assert len(run.outcome.rows) == 4 and all("psnr" in r.values for r in run.outcome.rows)
    assert all(why == "ssim: RuntimeError: boom" for _, _, why in run.outcome.failures)
    monkeypatch.undo()
    (again,) = _bench(image_folder, out, qualities=[10], metrics=["psnr", "ssim"], crops=0)
    assert again.outcome.measured == 4 and all("ssim" in r.values for r in again.outcome.rows)


def test_metrics_score_without_tf32(image_folder: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU, cuDNN's default TF32 would run LPIPS's network unlike on a CPU."""
    import dataclasses

    import torch

    from zoo import metrics

    from zoo.fp32 import fp32_settings

    seen = []

    def psnr(restored: np.ndarray, reference: np.ndarray) -> float:
        seen.append(set(fp32_settings().values()) <= {"ieee", False})
        return 30.0

    monkeypatch.setitem(metrics.METRICS, "psnr", dataclasses.replace(metrics.METRICS["psnr"], fn=psnr))
    before = fp32_settings()
    _bench(image_folder, tmp_path / "out", qualities=[10], crops=0)
    assert seen and all(seen) and fp32_settings() == before


def test_bad_qualities_device_and_tile_are_refused_up_front(image_folder: Path,
                                                            tmp_path: Path) -> None:
    for qualities in ([0], [101], [-5]):
        with pytest.raises(SuiteError, match="--quality must be a non-empty list of integers"):
            _bench(image_folder, tmp_path / "q", qualities=qualities)
    assert not (tmp_path / "q").exists()
    (run,) = _bench(image_folder, tmp_path / "twice", qualities=[1, 1, 100])  # both ends of 1..100
    assert run.plan.qualities == (1, 100)
    with pytest.raises(ZooError, match="--tile must be 0"):
        _bench(image_folder, tmp_path / "t", tile=-5)
    with pytest.raises(ZooError, match="device 'tpu'"):
        _bench(image_folder, tmp_path / "d", device="tpu")


def test_html_sorts_infinite_values_as_numbers() -> None:
    from zoo.bench.html import _sort_value

    assert [_sort_value(v) for v in (float("inf"), -float("inf"), float("nan"), 1.5)] == [
        "Infinity", "-Infinity", "", "1.5"]


def test_means_cover_only_the_images_the_dataset_holds_now(image_folder: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "out"
    _bench(image_folder, out, crops=0)
    (image_folder / "d.png").unlink()
    (image_folder / "c.png").write_bytes(b"not a png any more")
    (run,) = _bench(image_folder, out, crops=0)
    assert len(read_rows(out / "results.csv")) == 8  # kept on disk ...
    summary = _table(out / "summary.csv")
    assert all(r["images"] == "2" for r in summary)  # ... but only a and b are averaged
    rows = [r for r in run.outcome.rows if r.image in "ab" and r.quality == 10]
    q10 = next(r for r in summary if r["quality"] == "10")
    assert float(q10["psnr"]) == pytest.approx(np.mean([r.values["psnr"] for r in rows]), rel=1e-12)
    assert "Means over 2 images" in (out / "LEADERBOARD.md").read_text()


def test_bad_out_folder_results_file_and_crops_are_one_line(image_folder: Path,
                                                            tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ZooError) as refused:  # it said "cannot create this folder (File exists)"
        _bench(image_folder, tmp_path / "a-file")
    assert str(refused.value) == f"--out {tmp_path / 'a-file'}: is a file, not a folder"
    with pytest.raises(ZooError) as refused:
        _bench(image_folder, tmp_path / "a-file" / "below")
    assert str(refused.value) == (f"--out {tmp_path / 'a-file' / 'below'}: {tmp_path / 'a-file'} "
                                  "is a file, not a folder")
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "results.csv").write_text("model,psnr\nx,abc\n")
    with pytest.raises(ZooError, match="not a zoo results file"):
        _bench(image_folder, tmp_path / "damaged")
    with pytest.raises(ZooError, match="--crops must be 0"):
        _bench(image_folder, tmp_path / "c", crops=-1)


def test_a_page_that_cannot_be_made_again_is_not_left_from_an_earlier_run(
        image_folder: Path, tmp_path: Path) -> None:
    """A figure that failed (a full disk, a read-only plots/) left the earlier run's page beside
    this run's LEADERBOARD.md, showing other numbers without a word."""
    out = tmp_path / "out"
    _bench(image_folder, out, metrics=["psnr"], crops=0)
    assert (out / "leaderboard.html").exists()
    shutil.rmtree(out / "plots")
    (out / "plots").write_text("in the way")
    with pytest.raises(OSError):
        _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)
    assert "SSIM" in (out / "LEADERBOARD.md").read_text() and not (out / "leaderboard.html").exists()


def test_long_crop_names_are_cut_to_fit_and_stay_apart() -> None:
    """Two images whose long names share their first 120 bytes must not write one crop file (the
    digest is of the whole name), and a long model label is cut too (a mutation audit)."""
    from zoo.bench.crops import short_name

    a, b = short_name("h" * 240 + "a", 120), short_name("h" * 240 + "b", 120)
    assert a != b and len(a.encode()) == len(b.encode()) == 120 and a.startswith("h" * 100)
    assert short_name("é" * 100, 120).encode()[:2] == "é".encode()  # cut between characters
    assert len(short_name("é" * 100, 120).encode()) <= 120
    assert short_name("m" * 80, 80) == "m" * 80 and len(short_name("m" * 300, 80).encode()) == 80



def test_a_long_model_name_s_crops_fit(image_folder: Path, tmp_path: Path) -> None:
    """A saved model named by a long path labels its crop panel: its file name is cut too."""
    from zoo.bench.crops import make_crops
    from zoo.datasets import folder_dataset

    long_model = "runs/" + "m" * 300 + "/export"
    shown = make_crops(folder_dataset(image_folder), {long_model: None}, 10, "rgb", tmp_path / "crops",
                       lambda model, image: image, count=1)
    names = [path.name for path in shown[0]["files"].values()]
    assert len(names) == 3 and all(len(name.encode()) <= 255 for name in names)
    assert all(path.exists() for path in shown[0]["files"].values())


def test_crop_links_are_url_encoded(image_folder: Path, tmp_path: Path) -> None:
    (image_folder / "a.png").rename(image_folder / "shot #1%.png")
    _bench(image_folder, tmp_path / "out", crops=4)
    page = (tmp_path / "out" / "leaderboard.html").read_text()
    assert "src='crops/shot%20%231%25_" in page and "src='crops/shot #1" not in page
    assert list((tmp_path / "out" / "crops").glob("shot #1%_*.png"))


def test_an_image_with_a_long_name_has_its_crops_and_the_page(image_folder: Path, tmp_path: Path) -> None:
    """A crop's name repeats the image's: a 240-byte image name made one over the 255 bytes a
    file name may have, and leaderboard.html was never written, on every run."""
    long_name = "h" * 240
    (image_folder / "a.png").rename(image_folder / f"{long_name}.png")
    _bench(image_folder, tmp_path / "out", crops=4)
    crops = sorted(p.name for p in (tmp_path / "out" / "crops").glob("hhh*.png"))
    assert crops and all(len(name.encode()) <= 255 and name.startswith("h" * 100) for name in crops)
    assert (tmp_path / "out" / "leaderboard.html").exists()
    _bench(image_folder, tmp_path / "out", crops=4)  # a second run replaces them, leaves no other
    assert sorted(p.name for p in (tmp_path / "out" / "crops").glob("hhh*.png")) == crops


def test_rows_of_older_files_without_truth_are_resumed_not_remeasured(image_folder: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)
    with open(out / "results.csv", newline="") as fh:  # as written before `truth`/`measured`
        records = [{k: v for k, v in r.items() if k not in ("truth", "measured")}
                   for r in csv.DictReader(fh)]
    _write_table(out / "results.csv", records)
    (run,) = _bench(image_folder, out, metrics=["psnr"], crops=0)
    assert run.outcome.measured == 0
    assert all({"psnr", "ssim"} <= set(r.values) for r in read_rows(out / "results.csv"))


@pytest.mark.parametrize("change", ["picture", "weights", "setup"])
def test_a_stale_row_whose_remeasure_fails_is_not_averaged(
        change: str, image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of another picture, of other weights or of another setup (untiled, now --tile 64)
    are measured again; where that fails, the old row must not stand in for the new one."""
    from zoo.bench import runner

    out = tmp_path / "out"
    _bench(image_folder, out, qualities=[10], crops=0)
    if change == "picture":
        flipped = np.asarray(Image.open(image_folder / "a.png"))[::-1]
        Image.fromarray(flipped).save(image_folder / "a.png")
    elif change == "weights":  # as weights of another digest wrote them
        with open(out / "results.csv", newline="") as fh:
            records = [{**r, "weights": "0123456789abcdef"} for r in csv.DictReader(fh)]
        _write_table(out / "results.csv", records)
    real = runner.restore
    a_size = np.asarray(Image.open(image_folder / "a.png")).shape[:2]  # the others' differ

    def failing(model, image, *, tile=None):  # noqa: ANN001, ANN202
        if image.shape[:2] == a_size:
            raise RuntimeError("boom")
        return real(model, image, tile=tile)

    monkeypatch.setattr(runner, "restore", failing)
    tile = 64 if change == "setup" else None
    (run,) = _bench(image_folder, out, qualities=[10], crops=0, tile=tile)
    assert [i for _, i, _ in run.outcome.failures] == ["a"]
    summary = _table(out / "summary.csv")
    assert summary[0]["images"] == "3"  # a's old row is left out


def test_no_model_loading_writes_nothing_and_keeps_an_earlier_leaderboard(
        image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from zoo import registry
    from zoo.cli import main
    from zoo.registry import get_model_info

    untrained = dataclasses.replace(get_model_info("unet-l1"), name="x-untrained", weights=None)
    monkeypatch.setitem(registry._MODELS, untrained.name, untrained)
    out = tmp_path / "lb"
    args = ["bench", "--data", str(image_folder), "--quality", "10", "--metrics", "psnr",
            "--no-progress", "--crops", "0", "--out", str(out)]
    assert main([*args, "--models", "x-untrained"]) == 1
    err = capsys.readouterr().err
    assert "no model could be loaded; nothing written" in err and "zoo bench --models FOLDER" in err
    assert not out.exists()
    assert main([*args, "--models", "jpeg"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main([*args, "--models", "x-untrained"]) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_every_image_skipped_fails_and_writes_no_leaderboard(
        image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No image read: exit 1 with one line naming the dataset, no page of means over nothing,
    an earlier leaderboard kept; some images skipped: the rest is measured, exit 0."""
    from zoo.cli import main

    out = tmp_path / "lb"
    args = ["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10", "--metrics",
            "psnr", "--no-progress", "--crops", "0", "--out", str(out)]
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "100")
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "tiny: no image could be measured (all 4 skipped); no leaderboard written to" in err
    assert err.count("skipped a: ") == 1 and "ImageError" not in err
    assert not (out / "LEADERBOARD.md").exists() and not (out / "meta.json").exists()
    (run,) = _bench(image_folder, tmp_path / "api", crops=0)
    assert run.meta is None and len(run.outcome.skipped_images) == 4
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "3500")  # a (80x64) and d (64x56) are larger
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "skipped a:" in err and "skipped d:" in err and "no image could be measured" not in err
    before = (out / "LEADERBOARD.md").read_text()
    assert "Means over 2 images" in before
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "100")
    assert main(args) == 1
    assert (out / "LEADERBOARD.md").read_text() == before


def test_every_image_skipped_leaves_no_folder_it_made(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """The folders a run made for --out go again when nothing was written; folders that were
    there before stay, with whatever they held."""
    from zoo.cli import main
    from zoo.locks import LOCK_FILE

    data = tmp_path / "broken[b]"  # the name printed as it is (it was escaped twice: broken\[b])
    data.mkdir()
    (data / "x.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    args = ["bench", "--data", str(data), "--models", "jpeg", "-q", "10", "--metrics", "psnr",
            "--no-progress", "--crops", "0", "--out"]
    assert main([*args, str(tmp_path / "new" / "lb")]) == 1
    assert "\nbroken[b]: no image could be measured (all 1 skipped)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken[b]"]
    (tmp_path / "kept").mkdir()
    assert main([*args, str(tmp_path / "kept" / "lb")]) == 1
    assert list((tmp_path / "kept").iterdir()) == []
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    assert main([*args, str(tmp_path / "kept")]) == 1
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [LOCK_FILE, "notes.txt"]


def test_the_record_of_runs_keeps_the_latest_ones() -> None:
    """``measured_by`` holds at most MAX_RUNS_KEPT runs: a new one pushes out the oldest."""
    from zoo.bench.meta import MAX_RUNS_KEPT, runs_that_measured

    earlier = {"measured_by": [{"date": f"run {i}"} for i in range(MAX_RUNS_KEPT)]}
    runs = runs_that_measured(earlier, {"date": "new", "measured_now": 3}, 3)
    assert len(runs) == MAX_RUNS_KEPT and runs[0]["date"] == "run 1" and runs[-1]["date"] == "new"


def test_a_page_with_no_row_does_not_credit_earlier_runs() -> None:
    from zoo.bench.leaderboard import provenance

    text = provenance({"rows": 0, "measured_now": 0, "metrics": ["psnr"]})
    assert "none comes from an earlier one" in text and "earlier runs into" not in text


def test_a_bad_max_image_pixels_is_refused_up_front(image_folder: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.cli import main

    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "abc")
    out = tmp_path / "lb"
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10",
                 "--metrics", "psnr", "--no-progress", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("error: ZOO_MAX_IMAGE_PIXELS must be a positive whole number of "
                           "pixels, got 'abc'")
    assert not out.exists()


def test_the_tile_option_is_recorded_in_meta_json(image_folder: Path, tmp_path: Path) -> None:
    from zoo.cli import main

    out = tmp_path / "lb"
    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10", "--protocol", "y",
                 "--metrics", "psnr", "--no-progress", "--crops", "0", "--tile", "32", "--out", str(out)]) == 0
    assert json.loads((out / "meta.json").read_text())["tile"] == 32


def test_the_default_out_folder_is_in_the_current_folder(
        image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the package's own folder (in a wheel, site-packages): where the command runs."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    dataset = folder_dataset(image_folder)
    assert api.default_out_dir(dataset).resolve() == work / "runs" / "bench" / "tiny"
    _bench(image_folder, None, qualities=[10], crops=0)
    assert (work / "runs" / "bench" / "tiny" / "LEADERBOARD.md").is_file()
    assert not (work / "leaderboard").exists()  # a committed reference is written only when named


def test_an_infinite_psnr_neither_makes_the_mean_infinite_nor_wins() -> None:
    """An image the JPEG reproduces exactly (PSNR inf) leaves every model's mean, marked."""
    from zoo.bench.leaderboard import best_models
    from zoo.bench.results import Row, summarize

    def row(model: str, image: str, psnr: float) -> Row:
        return Row("d", model, image, 10, "rgb", {"psnr": psnr}, 0.1, measured=("psnr",))

    rows = [row("jpeg", "flat", math.inf), row("jpeg", "photo", 30.0), row("jpeg", "leaf", 28.0),
            row("net", "flat", 50.0), row("net", "photo", 31.0), row("net", "leaf", 29.0)]
    means = {e["model"]: e for e in summarize(rows)}
    assert means["jpeg"]["psnr"] == 29.0 and means["net"]["psnr"] == 30.0
    assert means["jpeg"]["partial"] == {"psnr": 2} and means["net"]["partial"] == {"psnr": 2}
    assert best_models(list(means.values()), "psnr") == {"net"}


def test_a_metric_undefined_on_every_image_is_told_from_one_not_measured() -> None:
    """NIQE on images too small for it is NaN everywhere: the mean covers 0 images, which the
    pages show as "(0 of N)"; its cell was empty and its partial too, as for a metric never
    asked for."""
    from zoo.bench.results import Row, summarize
    from zoo.metrics import METRICS

    measured = (METRICS["psnr"].token, METRICS["niqe"].token)
    rows = [Row("d", model, image, 10, "rgb", {"psnr": 30.0, "niqe": math.nan}, 0.1, measured=measured)
            for model in ("jpeg", "net") for image in ("a", "b")]
    entries = {e["model"]: e for e in summarize(rows)}
    assert entries["jpeg"]["partial"] == entries["net"]["partial"] == {"niqe": 0}
    assert math.isnan(entries["jpeg"]["niqe"]) and "ssim" not in entries["jpeg"]["partial"]


def test_values_of_an_older_metric_revision_are_hidden_then_measured_again(
        image_folder: Path, tmp_path: Path) -> None:
    """A row whose ``measured`` names psnr_b without its current revision holds a value of the
    older definition: the leaderboard leaves it out, and a resume measures only that metric."""
    from zoo.bench.runner import current_rows
    from zoo.metrics import METRICS

    assert METRICS["psnr_b"].token == "psnr_b@2"
    out = tmp_path / "out"
    _bench(image_folder, out, metrics=["psnr", "psnr_b"], crops=0)
    table = _table(out / "results.csv")
    fresh = {(r["image"], r["quality"]): r["psnr_b"] for r in table}
    for r in table:  # as a file written before the revision: another value, the bare name
        r["psnr_b"], r["measured"] = "99.0", "psnr psnr_b"
    _write_table(out / "results.csv", table)
    (run,) = _bench(image_folder, out, metrics=["psnr"], crops=0)
    assert run.outcome.measured == 0
    assert all("psnr_b" not in r.values for r in current_rows(run.plan, run.outcome))
    assert "99.0" not in (out / "summary.csv").read_text()
    (run,) = _bench(image_folder, out, metrics=["psnr", "psnr_b"], crops=0)
    assert run.outcome.measured == len(table)
    again = _table(out / "results.csv")
    assert {(r["image"], r["quality"]): r["psnr_b"] for r in again} == fresh
    assert {r["measured"] for r in again} == {"psnr psnr_b@2"}


def test_pages_say_which_run_measured_what(image_folder: Path, tmp_path: Path) -> None:
    """A resume that adds one metric must not present every value as measured by that run."""
    out = tmp_path / "out"
    _bench(image_folder, out, metrics=["psnr"], crops=0)
    assert "Measured by one run: zoo" in (out / "LEADERBOARD.md").read_text()
    _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)
    md, page = (out / "LEADERBOARD.md").read_text(), (out / "leaderboard.html").read_text()
    assert "measured SSIM on 8 rows of 8; the other values come from earlier runs" in md
    assert "measured SSIM on 8 rows of 8; the other values come from earlier runs" in page
    assert json.loads((out / "meta.json").read_text())["measured_now_metrics"] == {"ssim": 8}
    _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)
    assert "No value was measured by the last run" in (out / "LEADERBOARD.md").read_text()
    assert "reported" not in md.lower()  # no published rows for this folder: no word of them
    assert "data-better='high'" in page and "s / image: seconds to restore one image and score it with every metric its row measured" in page


def test_a_run_that_measures_nothing_keeps_the_record_of_the_runs_that_did(
        image_folder: Path, tmp_path: Path) -> None:
    """It replaced "Measured by one run: ..." with its own facts only, the measuring run lost."""
    out = tmp_path / "out"
    _bench(image_folder, out, crops=0)
    first = json.loads((out / "meta.json").read_text())
    assert [r["date"] for r in first["measured_by"]] == [first["date"]]
    meta = {**first, "date": "2020-01-02T03:04:05+00:00", "git_commit": "abc1234"}
    meta["measured_by"] = [{**first["measured_by"][0], "date": meta["date"], "git_commit": "abc1234"}]
    (out / "meta.json").write_text(json.dumps(meta))  # as if measured long ago, elsewhere
    (run,) = _bench(image_folder, out, crops=0)
    assert run.outcome.measured == 0
    again = json.loads((out / "meta.json").read_text())
    assert again["measured_by"] == meta["measured_by"]
    text = (out / "LEADERBOARD.md").read_text()
    assert ("every row comes from earlier runs into this folder; the latest of them: zoo "
            in text and "2020-01-02T03:04:05+00:00, commit abc1234 (results.csv names" in text)
    _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)  # measures SSIM: appended
    assert len(json.loads((out / "meta.json").read_text())["measured_by"]) == 2
    text = (out / "LEADERBOARD.md").read_text()  # the latest run before this one, not this one
    assert "the latest of them: zoo" in text and "2020-01-02T03:04:05+00:00, commit abc1234" in text


def test_rows_of_another_setup_are_measured_again(image_folder: Path, tmp_path: Path) -> None:
    """Rows measured untiled were shown under --tile 64 as if tiled (meta.json said tile 64)."""
    out = tmp_path / "out"
    (run,) = _bench(image_folder, out, models=["unet-l1"], qualities=[10], crops=0)
    untiled = {r["image"]: r for r in _table(out / "results.csv")}
    assert {r["setup"] for r in untiled.values()} == {run.plan.setup}
    assert run.plan.setup.startswith("tiles auto, 512 px above 1.0 MP; libjpeg")  # on the CPU
    (run,) = _bench(image_folder, out, models=["unet-l1"], qualities=[10], crops=0, tile=64)
    assert run.outcome.measured == 4 and run.plan.setup.startswith("tiles 64 px; libjpeg")
    assert {r["setup"] for r in _table(out / "results.csv")} == {run.plan.setup}
    (run,) = _bench(image_folder, out, models=["unet-l1"], qualities=[10], crops=0, tile=64)
    assert run.outcome.measured == 0
    # files written before the column existed: their rows are taken to be of this setup
    records = [{k: v for k, v in r.items() if k != "setup"} for r in untiled.values()]
    _write_table(out / "results.csv", records)
    (run,) = _bench(image_folder, out, models=["unet-l1"], qualities=[10], crops=0)
    assert run.outcome.measured == 0


def test_a_narrower_command_says_what_results_csv_holds_besides(
        image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Re-running with --quality 30 alone showed q30 only, with no word of the q10 rows kept."""
    out = tmp_path / "out"
    _bench(image_folder, out, crops=0)
    assert "outside this run's selection" not in (out / "LEADERBOARD.md").read_text()
    _bench(image_folder, out, qualities=[30], crops=0)
    assert {r["quality"] for r in _table(out / "summary.csv")} == {"30"}
    assert "JPEG quality 10" not in (out / "LEADERBOARD.md").read_text()
    note = ("results.csv also holds 4 rows outside this run's selection (qualities 10), not "
            "shown: name them in the command (--models, --quality, --protocol) to show them.")
    assert note in (out / "LEADERBOARD.md").read_text()
    assert note.replace("'", "&#x27;") in (out / "leaderboard.html").read_text()
    assert json.loads((out / "meta.json").read_text())["not_shown"] == {
        "rows": 4, "datasets": [], "models": [], "qualities": [10], "protocols": []}
    from zoo.cli import main

    assert main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "30", "--protocol",
                 "y", "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"]) == 0
    assert "note: " + note in " ".join(capsys.readouterr().err.split())


def test_torchrun_rank_that_loads_no_model_does_not_strand_the_others(image_folder: Path,
                                                                      tmp_path: Path) -> None:
    """Every rank meets the others at the barriers, whatever it could load."""
    script = tmp_path / "launch.py"
    script.write_text(
        "import os, sys, zoo\n"
        "from zoo.errors import ZooError\n"
        "load = zoo.load\n"
        "def failing(*a, **k):\n"
        "    if os.environ['RANK'] == '1':\n"
        "        raise ZooError('no model on this rank')\n"
        "    return load(*a, **k)\n"
        "zoo.load = failing\n"
        "from zoo.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    args = ["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10", "--protocol", "y",
            "--metrics", "psnr", "--no-progress", "--crops", "0", "--out", str(tmp_path / "out")]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", str(script), *args],
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=180)
    # Exit status 1 (a model failed to load, reported), but no rank crashed or hung.
    assert "no model on this rank" in proc.stderr, proc.stderr[-3000:]
    assert "gloo" not in proc.stderr.lower() and "rows measured" in proc.stderr, proc.stderr[-3000:]
    assert (tmp_path / "out" / "results.csv").is_file()


def test_a_second_bench_into_a_busy_folder_is_refused(image_folder: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """Two runs into one --out would each rewrite results.csv from what it read at start."""
    from zoo.cli import main
    from zoo.locks import folder_lock

    out = tmp_path / "out"
    _bench(image_folder, out, qualities=[10], crops=0)
    before = (out / "results.csv").read_bytes()
    with folder_lock(out):  # another run, still writing
        code = main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "30",
                     "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"])
    assert code == 2
    assert f"error: {out}: another zoo command (a zoo bench or zoo train still running)" \
        in capsys.readouterr().err
    assert (out / "results.csv").read_bytes() == before
    assert _bench(image_folder, out, qualities=[30], crops=0)[0].outcome.measured == 4


@pytest.mark.parametrize("rank", [0, 1])
def test_under_torchrun_a_busy_folder_stops_every_rank_before_any_barrier(
        image_folder: Path, tmp_path: Path, rank: int) -> None:
    """Rank 0 alone takes the lock; every rank hears of a refusal, so none waits at a barrier."""
    from zoo.bench.distributed import DistContext
    from zoo.locks import folder_lock

    out = tmp_path / "out"
    refusal = f"{out}: another zoo command (a zoo bench or zoo train still running) is writing"

    class OneRankOfTwo(DistContext):
        def gather(self, obj):  # noqa: ANN001, ANN202  (rank 0 was refused)
            return [obj if self.rank == 0 else refusal, obj]

        def barrier(self) -> None:
            raise AssertionError("waited at a barrier")

    plan = BenchPlan(folder_dataset(image_folder), ["jpeg"], (10,), ("rgb",), ("psnr",), out)
    with folder_lock(out), pytest.raises(ZooError, match=re.escape(refusal)):
        run_bench(plan, progress=False, dist=OneRankOfTwo(rank=rank, world=2))


def test_a_results_file_cut_short_loses_only_its_last_row(image_folder: Path,
                                                          tmp_path: Path) -> None:
    """A row with fields missing (or extra) is dropped with a warning and measured again."""
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    _bench(image_folder, fresh, metrics=["psnr", "ssim"], crops=0)
    text = (fresh / "results.csv").read_text()
    cut = text.index(",", text.index("\n", text.index("\n") + 1) + 60)  # in the second row
    out.mkdir()
    (out / "results.csv").write_text(text[:cut])
    with pytest.warns(UserWarning, match=r"results.csv: dropped 1 damaged row \(fields missing"):
        (run,) = _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)
    assert run.outcome.measured == 7
    assert _table(out / "results.csv") == _table(fresh / "results.csv")

    lines = text.splitlines()
    (out / "results.csv").write_text("\n".join([lines[0], lines[1] + ",1.0", *lines[2:]]) + "\n")
    with pytest.warns(UserWarning, match="dropped 1 damaged row") as caught:
        assert _bench(image_folder, out, metrics=["psnr", "ssim"], crops=0)[0].outcome.measured == 1
    assert {w.filename for w in caught} == {__file__}  # the caller's line, not zoo's
    (out / "results.csv").write_text("model,psnr\njpeg\n")  # not a results file: kept, refused
    with pytest.raises(ZooError, match="not a zoo results file .*no dataset, image, quality"):
        _bench(image_folder, out)
    assert (out / "results.csv").read_text() == "model,psnr\njpeg\n"
    (out / "results.csv").write_text("")  # empty (a full disk at its first write): no rows yet
    assert _bench(image_folder, out, metrics=["psnr"], crops=0)[0].outcome.measured == 8


def test_columns_not_written_by_zoo_are_named_before_they_are_dropped(image_folder: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    _bench(image_folder, out, qualities=[10], crops=0)
    with open(out / "results.csv", newline="") as fh:
        records = [{**r, "note": "checked"} for r in csv.DictReader(fh)]
    _write_table(out / "results.csv", records)
    with pytest.warns(UserWarning, match="column note not written by zoo; dropped when zoo") as caught:
        _bench(image_folder, out, qualities=[10, 30], crops=0)
    assert {w.filename for w in caught} == {__file__}  # the caller's line, not zoo's
    assert "note" not in (out / "results.csv").read_text()


def test_a_repeated_row_is_counted_once(image_folder: Path, tmp_path: Path) -> None:
    """A copy of a row (a bad edit or merge) made a set of 4 images a mean over 5."""
    out = tmp_path / "out"
    _bench(image_folder, out, qualities=[10], crops=0)
    with open(out / "results.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    _write_table(out / "results.csv", [*records, {**records[0], "psnr": "99.0"}])
    with pytest.warns(UserWarning, match="1 row\\(s\\) repeat the dataset, model, image, quality") as caught:
        run = _bench(image_folder, out, qualities=[10], crops=0)[0]
    assert {w.filename for w in caught} == {__file__}  # the caller's line, not zoo's
    assert run.outcome.measured == 0
    (summary,) = _table(out / "summary.csv")
    assert summary["images"] == "4"
    # the last copy counts, as write_rows keeps it: 99.0 in place of the first row's value
    assert float(summary["psnr"]) == pytest.approx(
        (sum(float(r["psnr"]) for r in records[1:]) + 99.0) / 4, rel=1e-12)


def test_a_file_that_cannot_be_written_is_named_and_the_rows_are_kept(
        image_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from zoo.cli import main

    out = tmp_path / "out"
    (out / "summary.csv").mkdir(parents=True)
    code = main(["bench", "--data", str(image_folder), "--models", "jpeg", "-q", "10",
                 "--metrics", "psnr", "--out", str(out), "--no-progress", "--crops", "0"])
    assert code == 2
    assert capsys.readouterr().err.strip() == f"error: {out / 'summary.csv'}: Is a directory"
    assert len(read_rows(out / "results.csv")) == 4
    assert sorted(p.name for p in out.iterdir()) == [".zoo-lock", "results.csv", "summary.csv"]


def test_without_device_the_default_is_named_and_used_throughout(image_folder: Path,
                                                                 tmp_path: Path) -> None:
    """Models load on the default device (CUDA when available); LPIPS and meta.json must follow
    it rather than fall back to the CPU."""
    from zoo.devices import default_device

    (run,) = _bench(image_folder, tmp_path / "out", crops=0)
    assert run.plan.device == default_device()
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["device"].startswith(
        default_device())


def test_plots_name_the_metric_and_its_unit_on_the_y_axis(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    from zoo.bench import plots

    labels: list[str] = []
    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda lines, title, ylabel:
                        labels.append(ylabel) or real(lines, title, ylabel))
    summary = [{"protocol": "rgb", "model": "m", "quality": q, "psnr": 30.0 + q, "ssim": 0.9}
               for q in (10, 20)]
    plots.plot_metrics(summary, ("psnr", "ssim"), tmp_path)
    assert labels == ["PSNR (dB)", "SSIM"]


def test_a_mean_over_fewer_images_is_a_hollow_point(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    """The plots joined means over different images without a mark: a flat image reproduced
    exactly at q40 (PSNR infinite, left out) made JPEG's curve fall 5.6 dB from q30 to q40."""
    from zoo.bench import plots

    figures: list[Any] = []
    real = plots._figure
    monkeypatch.setattr(plots, "_figure", lambda *args: figures.append(real(*args)) or figures[-1])
    summary = [{"protocol": "y", "model": "jpeg", "quality": q, "psnr": v, "ssim": 0.9,
                "partial": {"psnr": 1} if q == 40 else {}} for q, v in ((30, 41.5), (40, 35.9))]
    plots.plot_metrics(summary, ("psnr", "ssim"), tmp_path)
    psnr, ssim = (fig.axes[0] for fig in figures)
    hollow = [line for line in psnr.lines if line.get_markerfacecolor() == "white"]
    assert [list(line.get_xdata()) for line in hollow] == [[40], []]  # the point and its legend
    assert "mean over fewer images" in psnr.get_legend().get_texts()[-1].get_text()
    assert not any(line.get_markerfacecolor() == "white" for line in ssim.lines)
    assert ssim.get_legend().get_texts()[-1].get_text() == "jpeg"


def test_plots_leave_the_host_program_s_matplotlib_backend_alone(tmp_path: Path) -> None:
    """A notebook calling the bench API had its backend switched to Agg for good (pyplot and
    matplotlib.use): its inline figures stopped showing (a library user's audit)."""
    import subprocess
    import sys

    script = ("import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt\n"
              "from zoo.bench.plots import plot_metrics\n"
              "summary = [{'protocol': 'rgb', 'model': 'm', 'quality': q, 'psnr': 30.0 + q} "
              "for q in (10, 20)]\n"
              f"written = plot_metrics(summary, ('psnr',), __import__('pathlib').Path({str(tmp_path)!r}))\n"
              "print(matplotlib.get_backend(), len(written), len(plt.get_fignums()))")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["svg", "1", "0"]
    assert (tmp_path / "rgb_psnr.png").read_bytes().startswith(b"\x89PNG")


def test_a_model_keeps_its_colour_from_page_to_page() -> None:
    """Orange was `gan` on the main pages and `arnet-nogan+x8` on the ensemble pages (colours
    went by the legend's order); an ensemble is now its model's colour, dashed, the JPEG grey."""
    from zoo.bench.plots import line_styles

    main = line_styles(["jpeg", "arnet-nogan", "gan", "unet-l1"])
    ensembles = line_styles(["jpeg", "unet-l1", "unet-l1+x8", "arnet-nogan", "arnet-nogan+x8"])
    assert main["jpeg"] == ensembles["jpeg"] == ("#7f7f7f", "-", "x")
    for name in ("unet-l1", "arnet-nogan"):
        assert main[name] == ensembles[name] and main[name][1] == "-"
        assert ensembles[f"{name}+x8"] == (main[name][0], "--", main[name][2])
    # arnet-nogan and gan share a hash slot: gan's colour depended on arnet-nogan's being there
    assert len({colour for colour, _, _ in main.values()}) == 4
    # gan's orange and unet-l1's green look alike to protanopes: each model has its own marker
    assert len({marker for _, _, marker in main.values()}) == 4
    for name in ("arnet-nogan", "gan", "unet-l1"):
        assert line_styles([name])[name] == main[name]
    saved = line_styles(["runs/x/export", "jpeg"])  # a saved model: a colour from its name
    assert saved == line_styles(["runs/x/export"]) | {"jpeg": main["jpeg"]}
    # ... never a shipped model's, nor another saved model's in the same plot (runs/a/export and
    # runs/b/export both took unet-l1's green)
    both = line_styles(["runs/a/export", "runs/b/export", *main])
    assert len({colour for colour, _, _ in both.values()}) == 6
    assert len({marker for _, _, marker in both.values()}) == 6


def test_the_device_names_the_cpu_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Results round differently on two CPU models of one architecture (leaderboard/README):
    "cpu (x86_64, 2 threads)" did not say which."""
    import builtins
    import io

    from zoo.bench import meta

    real_open = builtins.open
    cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: io.StringIO(cpuinfo)
                        if path == "/proc/cpuinfo" else real_open(path, *a, **k))
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    monkeypatch.setattr("torch.get_num_threads", lambda: 2)
    assert meta.device_description("cpu") == "cpu (AMD EPYC 7B13, x86_64, 2 threads)"
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: (_ for _ in ()).throw(OSError())
                        if path == "/proc/cpuinfo" else real_open(path, *a, **k))
    monkeypatch.setattr("platform.processor", lambda: "arm")
    assert meta.device_description(None) == "cpu (arm, x86_64, 2 threads)"
    monkeypatch.setattr("platform.processor", lambda: "")
    assert meta.device_description(None) == "cpu (x86_64, 2 threads)"


def _summary_file(path: Path) -> list[dict[str, object]]:
    """A summary.csv written by zoo (one mean partial, one metric not measured); its entries."""
    from zoo.bench.results import Row, summarize, write_summary

    def row(model: str, image: str, quality: int, psnr: float, niqe: float) -> Row:
        return Row("d", model, image, quality, "rgb", {"psnr": psnr, "niqe": niqe}, 0.1,
                   measured=("psnr", "niqe"))

    rows = [row("jpeg", "flat", 10, 30.0, math.nan), row("jpeg", "photo", 10, 1 / 3, 5.25),
            row("net", "flat", 10, 31.5, 4.0), row("net", "photo", 10, 29.0, 6.0),
            row("net", "photo", 30, 35.0, 3.0)]
    summary = summarize(rows)
    write_summary(path, summary)
    return summary


def _typed(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    """Entries comparable with == (NaN is not equal to itself) and with their types."""
    return [{k: (type(v), None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in e.items()} for e in entries]


def test_read_summary_gives_back_what_write_summary_wrote(tmp_path: Path) -> None:
    from zoo.bench.results import read_summary

    summary = _summary_file(tmp_path / "summary.csv")
    assert summary[1]["partial"] == {"niqe": 1} and math.isnan(summary[0]["ssim"])
    assert _typed(read_summary(tmp_path / "summary.csv")) == _typed(summary)

    # A summary written before the partial column: every mean covers its row's images.
    with open(tmp_path / "summary.csv", newline="") as fh:
        records = list(csv.DictReader(fh))
    _write_table(tmp_path / "older.csv", [{k: v for k, v in r.items() if k != "partial"}
                                          for r in records])
    older = read_summary(tmp_path / "older.csv")
    assert [e["partial"] for e in older] == [{}] * len(summary)
    assert _typed([{**e, "partial": {}} for e in summary]) == _typed(older)
    # One written before a metric was added to the zoo: that metric was not measured (it was
    # "not a zoo summary file", and every committed leaderboard with it).
    _write_table(tmp_path / "fewer.csv", [{k: v for k, v in r.items() if k != "brisque"}
                                          for r in records])
    fewer = read_summary(tmp_path / "fewer.csv")
    assert all(math.isnan(e["brisque"]) for e in fewer)
    assert _typed([{**e, "brisque": math.nan} for e in summary]) == _typed(fewer)


@pytest.mark.parametrize(("damage", "says"), [
    (lambda t: t.encode("utf-16"), "summary.csv: not a zoo summary file (not UTF-8 text)"),
    (lambda t: t.replace(",images,", ",count,", 1), "not a zoo summary file (no images column)"),
    (lambda t: t.replace(",10,rgb,2,", ",ten,rgb,2,", 1), "line 2: quality 'ten' is not a whole"),
    (lambda t: t.replace("30.25", "30.25x", 1), "line 3: psnr '30.25x' is not a number"),
    (lambda t: t.replace(",niqe:1", ",niqe", 1), "line 2: partial 'niqe' is not METRIC:IMAGES"),
    (lambda t: t.replace(",niqe:1", ",nique:1", 1), "line 2: partial 'nique:1' is not METRIC"),
    (lambda t: t[:t.rindex(",", 0, -30)], "line 4: fields missing or extra"),  # cut short
    (lambda t: t.replace("niqe:1\n", "niqe:1,x\n", 1), "line 2: fields missing or extra"),
])
def test_a_damaged_or_foreign_summary_is_one_line(damage: Callable[[str], str | bytes], says: str,
                                                   tmp_path: Path) -> None:
    from zoo.bench.results import read_summary

    path = tmp_path / "summary.csv"
    _summary_file(path)
    changed = damage(path.read_text())
    path.write_bytes(changed if isinstance(changed, bytes) else changed.encode())
    with pytest.raises(ZooError) as caught:
        read_summary(path)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_summary_that_cannot_be_opened_is_an_os_error(tmp_path: Path) -> None:
    from zoo.bench.results import read_summary

    with pytest.raises(FileNotFoundError):
        read_summary(tmp_path / "summary.csv")
    (tmp_path / "summary.csv").mkdir()
    with pytest.raises(IsADirectoryError):
        read_summary(tmp_path / "summary.csv")


def test_the_commit_is_zoo_s_only_when_zoo_runs_from_its_checkout(tmp_path: Path) -> None:
    """Installed in a project's .venv, zoo took the project's HEAD for its own commit."""
    import shutil

    from zoo.bench.meta import git_commit

    if shutil.which("git") is None:
        pytest.skip("needs git")
    project = tmp_path / "project"
    site = project / ".venv" / "lib" / "python3" / "site-packages"
    site.mkdir(parents=True)
    (project / "app.py").write_text("print('app')\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "app.py"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=project, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_commit(project) == head  # a checkout's root: its commit
    assert git_commit(site) is None  # a package installed inside another repository
    assert git_commit(tmp_path) is None  # no repository at all
    own = git_commit()  # this package's: the checkout the tests run in (or None if installed)
    assert own is None or re.fullmatch(r"[0-9a-f]{40}(-dirty)?", own)


def test_an_undefined_value_is_kept_and_an_erased_one_measured_again(
        image_folder: Path, tmp_path: Path) -> None:
    """NIQE is undefined on these small crops (NaN, written "nan", kept: not measured at every
    run); a value erased by hand from results.csv while `measured` still named its metric was
    never measured again, and its mean showed "(3 of 4)" for good."""
    out = tmp_path / "out"
    runs = _bench(image_folder, out, qualities=[10], metrics=["psnr", "niqe"])
    assert runs[0].outcome.measured == 4
    records = _table(out / "results.csv")
    assert {r["niqe"] for r in records} == {"nan"} and all(r["psnr"] for r in records)
    assert _bench(image_folder, out, qualities=[10], metrics=["psnr", "niqe"])[0].outcome.measured == 0
    erased = [dict(r, psnr="") if r["image"] == "b" else r for r in csv.DictReader(
        open(out / "results.csv", newline=""))]
    _write_table(out / "results.csv", erased)
    again = _bench(image_folder, out, qualities=[10], metrics=["psnr", "niqe"])[0]
    assert again.outcome.measured == 1

    def same(rows: list[dict[str, str]]) -> list[dict[str, str]]:  # `measured`'s order aside
        return [dict(r, measured=sorted(r["measured"].split())) for r in rows]

    assert same(_table(out / "results.csv")) == same(records)


def test_tiles_asked_off_the_models_grid_are_the_setup_of_the_side_used(
        image_folder: Path, tmp_path: Path) -> None:
    """`--tile 1` ran 16-px tiles but its rows said "tiles 1 px": `--tile 16` (the same tiles,
    the same values) then measured every row again as another setup."""
    out = tmp_path / "out"
    first = _bench(image_folder, out, qualities=[10], tile=1)[0]
    assert first.outcome.measured == 4
    assert {r["setup"].split(";")[0] for r in csv.DictReader(open(out / "results.csv"))} == {
        "tiles 16 px"}
    assert _bench(image_folder, out, qualities=[10], tile=16)[0].outcome.measured == 0
    assert _bench(image_folder, out, qualities=[10], tile=32)[0].outcome.measured == 4


def test_names_from_the_user_are_shown_as_they_are_in_the_markdown(tmp_path: Path) -> None:
    """A folder named `<b>set` made the page's title bold (raw HTML in LEADERBOARD.md), and a
    name with a backtick or `|` broke its code span or table row."""
    folder = tmp_path / "<b>set_*1"
    folder.mkdir()
    Image.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(folder / "a.png")
    (folder / "x`|y.png").write_bytes(b"not a png")
    _bench(folder, tmp_path / "out", qualities=[10], protocols=["rgb"], crops=0)
    text = (tmp_path / "out" / "LEADERBOARD.md").read_text()
    assert text.startswith("# Leaderboard: \\<b\\>set\\_\\*1 (JPEG q10)\n")
    assert "images of `<b>set_*1` (" in text
    assert "- ``x`|y``: " in text  # the skipped image, its backtick inside a longer fence


def test_a_models_crop_is_cut_from_its_context_where_the_other_panels_are(tmp_path: Path) -> None:
    """A model's panel is restored with CROP_MARGIN pixels of context around the crop, which
    must be cut off again: an identity model's panel is the JPEG panel pixel for pixel, and the
    shipped CNN's panel beats the JPEG one against the ground truth. (The other tests' images are
    under 128 px, so their crop has no context, and `jpeg`, the only model they bench, has no
    panel of its own: a panel shifted by the margin was not seen.)"""
    import zoo
    from zoo.bench.crops import CROP_MARGIN, CROP_SIDE, busiest_window, make_crops
    from zoo.bench.runner import restore
    from zoo.datasets import Dataset
    from zoo.metrics import psnr
    from zoo.samples import sample_image

    truth = sample_image("astronaut")[:224, :224]
    y, x = busiest_window(truth, CROP_SIDE)
    assert y >= CROP_MARGIN and x >= CROP_MARGIN  # context above and left: a shift would show
    models = {"identity": zoo.load("jpeg", device="cpu"), "unet-l1": zoo.load("unet-l1", device="cpu")}
    (shown,) = make_crops(Dataset("astronaut", [("a", lambda: truth)]), models, 10, "rgb",
                          tmp_path / "crops", restore, count=1)
    panels = {label: np.asarray(Image.open(path)) for label, path in shown["files"].items()}
    assert set(panels) == {"ground truth", "JPEG q10", "identity", "unet-l1"}
    np.testing.assert_array_equal(panels["ground truth"], truth[y:y + CROP_SIDE, x:x + CROP_SIDE])
    np.testing.assert_array_equal(panels["identity"], panels["JPEG q10"])
    jpeg_db = psnr(panels["JPEG q10"], panels["ground truth"])
    assert psnr(panels["unet-l1"], panels["ground truth"]) > jpeg_db + 0.5


def test_a_tiled_bench_scores_the_tiled_restore(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`--tile 64` rows say "tiles 64 px": their values must be those of the model restoring in
    64-px tiles (computed here through zoo.degrade, zoo.restore and zoo.metrics), not of the
    whole image at once, which on a photograph two tiles wide differs by hundredths of a dB."""
    import zoo
    from zoo.bench import runner
    from zoo.degrade import jpeg_roundtrip
    from zoo.metrics import psnr
    from zoo.restore import restore_image
    from zoo.samples import sample_image

    monkeypatch.setattr(runner, "WARM_UP_SIDE", 64)  # one tile, not 25, for the untimed warm-up
    folder = tmp_path / "wide"
    folder.mkdir()
    truth = sample_image("astronaut")[100:164, 200:296]  # 64x96: two overlapping 64-px tiles
    Image.fromarray(truth).save(folder / "a.png")
    (run,) = _bench(folder, tmp_path / "out", models=["unet-l1"], qualities=[10], protocols=["rgb"],
                    tile=64, device="cpu", crops=0)
    (row,) = run.outcome.rows
    assert row.setup.startswith("tiles 64 px;")
    model = zoo.load("unet-l1", device="cpu")
    degraded = jpeg_roundtrip(truth, 10)
    tiled = psnr(restore_image(model, degraded, tile=64), truth)
    assert row.values["psnr"] == pytest.approx(tiled, rel=1e-12)
    assert abs(psnr(restore_image(model, degraded, tile=0), truth) - tiled) > 0.01


@pytest.mark.parametrize(("error", "said"), [
    (ZooError("a.png: cannot be read\nmore detail"), "a.png: cannot be read"),
    (ZooError(""), "ZooError"), (ValueError("bad\nvalue"), "ValueError: bad"), (OSError(), "OSError")])
def test_a_skip_or_failure_is_one_line_and_zoos_own_errors_need_no_type(error: BaseException,
                                                                        said: str) -> None:
    from zoo.bench.runner import _one_line

    assert _one_line(error) == said
