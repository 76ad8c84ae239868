"""The committed reference leaderboards (``leaderboard/*/``) are what the shipped weights measure
on the images they name: new weights or images committed without measuring again fail here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import zoo
from zoo.bench.baselines import reported_for
from zoo.bench.leaderboard import render_markdown
from zoo.bench.results import read_rows, read_summary, summarize, write_summary
from zoo.bench.runner import restore, truth_digest
from zoo.datasets import folder_dataset, sample_dataset
from zoo.degrade import jpeg_roundtrip, libjpeg_description, to_protocol
from zoo.metrics import METRICS
from zoo.weights import state_digest

ROOT = Path(__file__).resolve().parents[1]
BOARDS = sorted(p.parent for p in (ROOT / "leaderboard").rglob("results.csv"))


def _board_id(board: Path) -> str:
    """``Set14``, ``high-quality/Set14``: a board's folder under leaderboard/."""
    return board.relative_to(ROOT / "leaderboard").as_posix()


# The validation sets: beside the checkout (../shared/data/val), or where $ZOO_VAL_DATA says.
VALIDATION = Path(os.environ.get("ZOO_VAL_DATA") or ROOT.parent / "shared" / "data" / "val")


def test_every_reference_set_is_here() -> None:
    assert [_board_id(b) for b in BOARDS] == [
        "McMaster", "Set14", "Set5", "ensemble/McMaster", "ensemble/Set14", "ensemble/Set5",
        "ensemble/sample", "high-quality/Set14", "high-quality/Set5", "sample"]


@pytest.mark.parametrize("board", BOARDS, ids=_board_id)
def test_the_summary_is_the_means_of_the_rows(board: Path, tmp_path: Path) -> None:
    write_summary(tmp_path / "summary.csv", summarize(read_rows(board / "results.csv")))
    assert (tmp_path / "summary.csv").read_text() == (board / "summary.csv").read_text()


def test_the_rows_are_of_the_shipped_weights() -> None:
    from zoo.ensemble import split_ensemble

    rows = {board: read_rows(board / "results.csv") for board in BOARDS}
    models = {row.model for board_rows in rows.values() for row in board_rows}
    digests = {name: state_digest(zoo.load(name, device="cpu")) for name in sorted(models)
               if zoo.get_model_info(split_ensemble(name)[0]).weights is not None}
    assert {split_ensemble(name)[0] for name in digests} == {"arnet-nogan", "gan", "unet-l1"}
    for board, board_rows in rows.items():
        stale = {row.model for row in board_rows
                 if row.model in digests and row.weights != digests[row.model]}
        assert not stale, (f"{board.name}: rows of {sorted(stale)} were measured with other "
                           "weights than the shipped ones; measure the leaderboards again")
        meta = json.loads((board / "meta.json").read_text())
        here = {row.model for row in board_rows} & set(digests)
        assert {m: meta["weights"][m]["digest"] for m in here} == {m: digests[m] for m in here}, board.name


@pytest.mark.parametrize("board", BOARDS, ids=_board_id)
def test_the_rows_are_of_the_images_they_name(board: Path) -> None:
    if board.name == "sample":
        dataset = sample_dataset()
    elif (VALIDATION / board.name).is_dir():
        dataset = folder_dataset(VALIDATION / board.name)
    else:
        pytest.skip(f"the validation images are not in {VALIDATION} (set ZOO_VAL_DATA=DIR)")
    truths = {image_id: truth_digest(load()) for image_id, load in dataset.items}
    rows = read_rows(board / "results.csv")
    assert {row.image for row in rows} == set(truths)
    assert [r.key for r in rows if r.truth != truths[r.image]] == []


@pytest.mark.parametrize("name", ["arnet-nogan", "unet-l1"])
def test_the_shipped_models_reproduce_the_sample_leaderboard(name: str) -> None:
    """astronaut at q10, degraded and restored as the bench does, scores the committed PSNR: what
    the network computes (its input normalisation, a layer's padding) and the rounding to uint8
    are all in the number."""
    row = next(r for r in read_rows(ROOT / "leaderboard" / "sample" / "results.csv")
               if (r.model, r.image, r.quality, r.protocol) == (name, "astronaut", 10, "rgb"))
    if libjpeg_description() not in row.setup:
        pytest.skip(f"another libjpeg than the row's ({row.setup}) degrades the image differently")
    truth = to_protocol(dict(sample_dataset().items)["astronaut"](), "rgb")
    restored = restore(zoo.load(name, device="cpu"), jpeg_roundtrip(truth, 10))
    assert METRICS["psnr"](restored, truth) == pytest.approx(row.values["psnr"], abs=0.005)


@pytest.mark.parametrize("board", BOARDS, ids=_board_id)
def test_committed_leaderboards_regenerate_byte_for_byte(board: Path) -> None:
    """Each committed LEADERBOARD.md is what its summary.csv and meta.json render to: the bold,
    arrows, order and digits of every table are those the files were committed with."""
    meta = json.loads((board / "meta.json").read_text())
    reported = reported_for(meta["dataset"], set(meta["protocols"]), set(meta["qualities"]))
    text = render_markdown(meta["dataset"], read_summary(board / "summary.csv"),
                           tuple(meta["metrics"]), reported, meta)
    assert text == (board / "LEADERBOARD.md").read_text()



def test_each_committed_page_has_a_title_of_its_own() -> None:
    """Three pages were titled "Leaderboard: Set5" (Set5, ensemble/Set5, high-quality/Set5): a
    reader with several open, or a browser's history, could not tell them apart."""
    titles = [(b / "LEADERBOARD.md").read_text().splitlines()[0] for b in BOARDS]
    assert len(set(titles)) == len(titles), titles
    assert "# Leaderboard: Set5 (JPEG q50, q75, q90)" in titles
    assert "# Leaderboard: Set5 (JPEG q10, q20, q30; self-ensembles)" in titles

def test_the_readme_s_note_on_the_training_image_in_set5_is_the_overlap_script_s() -> None:
    """Set5's woman is a rescaled training image (the only pair of the shared training and
    validation folders alike above 0.85): README quotes the script's correlation."""
    train = VALIDATION.parent / "train"
    if not train.is_dir():
        pytest.skip(f"the training images are not in {train} (set ZOO_VAL_DATA=DIR/val)")
    from script_modules import load_script

    found = load_script("benchmarks/data_overlap.py").near_duplicates([str(VALIDATION)], [str(train)], 0.85)
    assert [(round(score, 3), a.name, b.name) for score, a, b in found] == [
        (0.984, "woman.png", "302003.png")]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "thumbnail correlation 0.984, no other pair above 0.85" in readme
    rows = {(r.model, r.image): r.values["psnr"] for r in read_rows(ROOT / "leaderboard" / "Set5" / "results.csv")
            if r.quality == 10 and r.protocol == "rgb"}
    gains = {image: rows[("unet-l1", image)] - rows[("jpeg", image)] for _, image in rows}
    others = sorted(gain for image, gain in gains.items() if image != "woman")
    assert max(gains, key=gains.get) == "woman"
    assert (f"rgb {gains['woman']:+.2f} dB against {others[0]:+.2f} to {others[-1]:+.2f} for the "
            "others") in readme
