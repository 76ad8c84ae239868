"""Bad input to the scripts in training/ (dead_units, grow, grey_gap, arnet_variants) is one
line, before the work where it can be; their outputs say what they are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from zoo.errors import ZooError
from zoo.models.arnet import ARNet
from zoo.models.unet import UNet
from zoo.weights import save_weights
from script_modules import load_script

REPO = Path(__file__).resolve().parent.parent


def _load(script: str) -> ModuleType:
    return load_script(f"training/{script}.py")


def _run_main(script: str | ModuleType, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int | None:
    """``training/<script>.py``'s ``main()`` (or a loaded one's) with ``argv``; errors raise, as
    run_tool sees them."""
    module = _load(script) if isinstance(script, str) else script
    monkeypatch.setattr(sys, "argv", [f"{module.__name__}.py", *argv])
    return module.main()


def _images(folder: Path, shapes: list[tuple[int, ...]]) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i, shape in enumerate(shapes):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


@pytest.mark.parametrize("entry", ["jpeg", "arnet-nogan"])
def test_dead_units_names_an_entry_without_residual_blocks(entry: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    val = _images(tmp_path / "val", [(32, 32, 3)])
    with pytest.raises(ZooError, match=f"^{entry}: no residual blocks to inspect"):
        _run_main("dead_units", [entry, "--val", str(val), "--crop", "32", "--quality", "10"],
                  monkeypatch)


@pytest.mark.parametrize(("script", "argv"), [
    ("dead_units", ["unet-l1", "--quality", "0"]),
    ("dead_units", ["unet-l1", "--crop", "-1"]),
    ("grey_gap", ["sample", "--quality", "0"])])
def test_scripts_refuse_a_value_out_of_range_as_usage(script: str, argv: list[str],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        _run_main(script, argv + ["--val" if script == "dead_units" else "--model", "unused"],
                  monkeypatch)
    assert stop.value.code == 2
    option, value = argv[1:3]
    rule = "a JPEG quality is 1..100" if option == "--quality" else "must be at least 0"
    assert f"argument {option}: {rule}, got {value}" in capsys.readouterr().err


def test_dead_units_says_whole_images_and_each_quality(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    val = _images(tmp_path / "val", [(24, 32, 3), (32, 16, 3)])
    _run_main("dead_units", ["unet-l1", "--val", str(val), "--crop", "0", "--quality", "10", "30"],
              monkeypatch)
    *blocks, last = capsys.readouterr().out.splitlines()
    counts = [[int(word) for word in line.split()[1:4:2]] for line in blocks]  # "X of N"
    dead, total = map(sum, zip(*counts))
    assert last == (f"in all: {dead} of {total} ({round(100 * dead / total)}%) dead on 2 whole "
                    "images at q10, q30") and dead > 0


def test_dead_units_refuses_an_impossible_revive_path_before_the_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    missing_val = str(tmp_path / "no-val")  # the work would fail on it: the check comes first
    refused = r"^--revive .*afile/r\.safetensors: .*afile is a file, not a folder"
    with pytest.raises(ZooError, match=refused):
        _run_main("dead_units", ["unet-l1", "--val", missing_val,
                                 "--revive", str(tmp_path / "afile" / "r.safetensors")], monkeypatch)


def test_dead_units_refuses_to_overwrite_its_source(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "w.safetensors"
    source.write_bytes(b"weights")
    (tmp_path / "link.safetensors").symlink_to(source)
    for out in (source, tmp_path / "link.safetensors"):
        with pytest.raises(ZooError, match="is the source weights file"):
            _run_main("dead_units", ["unet-l1", "--val", str(tmp_path / "no-val"), "--weights",
                                     str(source), "--revive", str(out)], monkeypatch)
    assert source.read_bytes() == b"weights"


@pytest.fixture(scope="module")
def small_unet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grow") / "unet.safetensors"
    save_weights(UNet(channels=(8, 16, 32), blocks=(1, 1, 2)), path, dtype=torch.float32)
    return path


UNET_FROM = ["--from", "channels=[8,16,32]", "blocks=[1,1,2]"]


@pytest.mark.parametrize(("source_args", "grown_args", "message"), [
    (UNET_FROM, ["blocks=[1,1,1]"], r"^--to blocks=\[1,1,1\]: UNet.grown: blocks can only grow"),
    (UNET_FROM, ["blocks=[3,3]"], r"^--to blocks=\[3,3\]: UNet.grown: blocks can only grow"),
    (UNET_FROM, ["blocks=[3,3,-8]"], r"^--to blocks=\[3,3,-8\]: UNet.grown: blocks can only grow"),
    (UNET_FROM, ["blocks=3"], r"^--to blocks=3: "),
    (UNET_FROM, ["blocks=[3,true,8]"],
     r"^--to blocks=\[3,true,8\]: argument 'blocks' must be a list of int, got list \[3, True, 8\]"),
    (UNET_FROM, ["bogus=1"], r"^--to: unknown argument 'bogus' \(it takes: blocks\)"),
    (["--from", "bogus=1"], ["blocks=[3,3,8]"],
     r"^--from: unknown argument 'bogus' \(it takes: channels, blocks\)"),
    (["--from", 'channels="x"'], ["blocks=[3,3,8]"], r'^--from channels="x": ')])
def test_grow_names_arguments_that_do_not_fit(source_args: list[str], grown_args: list[str],
                                              message: str, small_unet: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ZooError, match=message):
        _run_main("grow", ["unet-l1", str(small_unet), str(tmp_path / "out.safetensors"),
                           *source_args, "--to", *grown_args], monkeypatch)
    assert not (tmp_path / "out.safetensors").exists()


def test_grow_refuses_to_shrink_arnet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_weights(ARNet(), tmp_path / "a.safetensors", dtype=torch.float32)
    with pytest.raises(ZooError, match=r"^--to last_blocks=0: ARNet.grown: last_blocks can only"):
        _run_main("grow", ["arnet-nogan", str(tmp_path / "a.safetensors"),
                           str(tmp_path / "out.safetensors"), "--to", "last_blocks=0"], monkeypatch)


def test_grow_reports_the_grown_size_and_how_far_it_is_from_the_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A grown network whose head is shifted by 0.25 (a broken grown()) is reported 0.25 away,
    not 0; the count is the grown network's."""
    grown = ARNet.grown

    def shifted(self: ARNet, last_blocks: int) -> ARNet:
        net = grown(self, last_blocks)
        with torch.no_grad():
            net.head.bias.add_(0.25)
        return net

    monkeypatch.setattr(ARNet, "grown", shifted)
    save_weights(ARNet(), tmp_path / "a.safetensors", dtype=torch.float32)
    _run_main("grow", ["arnet-nogan", str(tmp_path / "a.safetensors"),
                       str(tmp_path / "out.safetensors"), "--to", "last_blocks=3"], monkeypatch)
    millions = sum(p.numel() for p in ARNet(last_blocks=3).parameters()) / 1e6
    assert f": {millions:.2f}M parameters, max |grown - source| = 2.5e-01 on a random image" in \
        capsys.readouterr().out


def test_grow_checks_its_output_path_before_the_work(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("")
    refused = r"^output .*afile/out\.safetensors: .*afile is a file, not a folder"
    with pytest.raises(ZooError, match=refused):
        _run_main("grow", ["unet-l1", str(tmp_path / "missing.safetensors"),  # read after the check
                           str(tmp_path / "afile" / "out.safetensors"), "--to", "blocks=[3,3,8]"],
                  monkeypatch)


@pytest.mark.parametrize(("args", "says"), [
    (["training/grow.py", "unet-l1", "missing.safetensors", "out.safetensors", "--to", "blocks"],
     "error: --to blocks: not KEY=VALUE"),
    (["training/grow.py", "unet-l1", "missing.safetensors", "out.safetensors", "--to", "blocks=x"],
     "error: --to blocks=x: the value is not JSON"),
    (["training/arnet_variants.py", "bogus", "list"], "error: unknown variant 'bogus'"),
    (["training/arnet_variants.py", "fine0", "list"],
     "error: variant 'fine0': a fine branch needs at least 1 channel")])
def test_grow_and_arnet_variants_refuse_bad_input_in_one_line_with_status_2(
        args: list[str], says: str, tmp_path: Path) -> None:
    """They ended through SystemExit("..."): exit status 1, no 'error:' prefix (grow read the
    source weights before the --to syntax); fine0 built a branch of zero channels."""
    result = subprocess.run([sys.executable, str(REPO / args[0]), *args[1:]], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip().startswith(says), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.safetensors").exists()


@pytest.mark.parametrize("content", ["corrupt", "grey"])
def test_grey_gap_says_when_no_colour_image_was_measured(
        content: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "set"
    if content == "grey":
        _images(folder, [(24, 24), (16, 32)])
    else:
        folder.mkdir()
        (folder / "a.png").write_bytes(b"not a png")
    assert _run_main("grey_gap", [str(folder), "--model", "jpeg"], monkeypatch) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "set: no colour image was measured (its images are grey or unreadable)")


def test_the_noblur_variant_runs_the_zoo_command_without_blur(monkeypatch: pytest.MonkeyPatch) -> None:
    """noblur is an argument of the registered network: its override follows the command line,
    and nothing is patched (its export loads with zoo.load)."""
    variants = _load("arnet_variants")
    ran: list[list[str]] = []
    monkeypatch.setattr(variants, "zoo_main", lambda argv: ran.append(argv) or 0)
    assert variants.main(["noblur", "train", "arnet-nogan", "--out", "o"]) == 0
    assert ran == [["train", "arnet-nogan", "--out", "o", "model.args.blur=false"]]
    assert variants.apply_variant("base") == []


def test_arnet_variants_rewrite_a_card_whole_or_not_at_all(tmp_path: Path) -> None:
    """The card was rewritten with write_text: a write that failed part-way left it truncated."""
    variants = _load("arnet_variants")
    card = tmp_path / "README.md"
    original = "# m\n\n## Use with zoo\n\nzoo.load(...)\n\nFiles: a\n"
    card.write_text(original, encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        variants._replace_card_usage(card, "fine\udc80")  # fails while writing the new text
    assert card.read_text(encoding="utf-8") == original and list(tmp_path.iterdir()) == [card]
    variants._replace_card_usage(card, "fine8")
    assert "zoo.load(" not in card.read_text(encoding="utf-8")


def test_arnet_variant_exports_are_named_as_the_variant(tmp_path: Path) -> None:
    data = _images(tmp_path / "train", [(160, 160, 3)] * 2)
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(REPO / "training/arnet_variants.py"), "fine8", "train", "arnet-nogan",
         "--out", str(out), "--max-steps", "1", "--val", "", "--data", str(data), "--no-progress"],
        cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "export" / "config.json").read_text())
    assert config["name"] == "arnet-nogan-fine8"
    assert config["description"].startswith("Probe variant 'fine8' of training/arnet_variants.py")
    card = (out / "export" / "README.md").read_text()
    assert "# arnet-nogan-fine8" in card
    # neither the card nor the last line sends the user to zoo.load, which refuses these weights
    assert "zoo.load(" not in card and "zoo restore" not in card
    assert "python training/arnet_variants.py fine8 bench --models PATH/TO/THIS/FOLDER" in card
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"exported arnet-nogan (fine8 variant) to {out / 'export'}; zoo.load refuses "
                    "it, load it through this script: python training/arnet_variants.py fine8 "
                    f"bench --models {out / 'export'}")


def test_grey_gap_scores_the_models_gain_on_the_luma_and_the_full_range_grey(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    grey_gap = _load("grey_gap")
    truth = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    # a "model" that halves the JPEG's error: about 6 dB better than the JPEG
    monkeypatch.setattr(grey_gap, "restore",
                        lambda model, jpeg: ((model.astype(int) + jpeg) // 2).astype(np.uint8))
    assert 5 < grey_gap.gain(truth, truth, 10) < 7
    folder = tmp_path / "set"
    folder.mkdir()
    white = np.zeros((32, 32, 3), np.uint8)
    white[:, 16:] = 255
    Image.fromarray(white).save(folder / "a.png")
    monkeypatch.setattr(grey_gap, "gain", lambda model, grey, quality: float(grey.max()))
    assert _run_main(grey_gap, [str(folder), str(tmp_path / "missing"), "--model", "jpeg"],
                     monkeypatch) == 1  # one of the two could not be read
    out = capsys.readouterr().out
    assert out.startswith("skipped: ") and out.splitlines()[-1] == (  # white: luma 235, grey 255
        "set: 1 colour images, q10 gain over the JPEG: luma (16-235) +235.000 dB, full-range grey "
        "+255.000 dB")


def test_validation_rows_prints_the_tables_cells_as_training_scores_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """training/README.md's validation cells, reproducible: the JPEG's row is the mean PSNR, SSIM
    and LPIPS of the JPEG-compressed images themselves; a model that cannot be loaded is one line
    and exit status 1, the other rows printed."""
    from zoo.degrade import jpeg_roundtrip
    from zoo.metrics import compute_metrics

    val = _images(tmp_path / "val", [(48, 64, 3), (56, 40, 3)])
    code = _run_main("validation_rows", ["jpeg", str(tmp_path / "nosuch"), "--val", str(val),
                                         "--crop", "0", "--quality", "10", "30"], monkeypatch)
    out = capsys.readouterr().out.splitlines()
    assert code == 1 and out[0].startswith("2 images of ") and "nosuch: cannot be loaded" in out[2]
    images = [np.asarray(Image.open(path)) for path in sorted(val.iterdir())]
    expected = []
    for quality in (10, 30):
        scores = [compute_metrics(jpeg_roundtrip(truth, quality), truth,
                                  names=["psnr", "ssim", "lpips_alex"]) for truth in images]
        psnr, ssim, lpips = (np.mean([s[m] for s in scores]) for m in ("psnr", "ssim", "lpips_alex"))
        expected.append(f"{psnr:.2f} / {ssim:.3f} / {lpips:.4f}")
    assert out[1] == f"| jpeg | {expected[0]} | {expected[1]} |" and len(out) == 3

    # Qualities in any order: the header's and the cells' order are the table's (10 before 30).
    assert _run_main("validation_rows", ["jpeg", "--val", str(val), "--crop", "0",
                                         "--quality", "30", "10"], monkeypatch) == 0
    assert capsys.readouterr().out.splitlines()[:2] == out[:2]


def test_validation_rows_defaults_are_the_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Without options: the JPEG's row and every entry with weights, on the recipes' validation
    crops and qualities (a mutation audit's survivors: the test named every option)."""
    from zoo.train.recipe import ValidationSection

    script = _load("validation_rows")
    seen = {}

    class Valset:
        def __init__(self, folder: str, qualities: list[int], *, crop: int) -> None:
            seen.update(folder=folder, qualities=qualities, crop=crop)
            self.items = [None]

    monkeypatch.setattr(script, "ValidationSet", Valset)
    monkeypatch.setattr(script.zoo, "list_models", lambda with_weights: ["unet-l1"])
    monkeypatch.setattr(script.zoo, "load", lambda name, device: name)
    monkeypatch.setattr(script, "evaluate", lambda model, *a: {10: dict.fromkeys(script.METRICS, 1.0)})
    assert _run_main(script, [], monkeypatch) == 0
    recipe = ValidationSection()
    assert seen == {"folder": "../shared/data/val", "qualities": recipe.qualities, "crop": recipe.crop}
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split(" | ")[0] for row in rows] == ["| jpeg", "| unet-l1"]
