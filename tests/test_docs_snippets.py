"""The Python snippets a user copies from the README and docs/restore.md run as written, and the
example model module of docs/models.md registers an entry that keeps the zoo's contract."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_model_modules import ModuleWriter, model_module  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(doc: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / doc).read_text(), flags=re.S)


@pytest.mark.parametrize("doc", ["README.md", "docs/restore.md"])
def test_python_snippets_run_as_written(doc: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(doc)
    assert blocks, f"{doc} has no Python snippet"
    monkeypatch.chdir(tmp_path)  # the snippets open photo.jpg from the current folder
    pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save("photo.jpg", quality=20)
    for block in blocks:
        names: dict[str, object] = {}
        exec(compile(block, doc, "exec"), names)  # noqa: S102 - the documentation's own code
        assert isinstance(names["restored"], Image.Image)
        assert names["restored"].size == (64, 48)


def test_the_example_model_module_registers_an_entry_that_keeps_the_contract(
        model_module: ModuleWriter, tmp_path: Path) -> None:  # noqa: F811  (the fixture)
    """Written as zoo/models/tiny_cnn.py with its name in MODULES, as docs/models.md says."""
    import test_models
    import test_registry

    import zoo
    from zoo.registry import get_model_info, load_problems

    [module] = python_blocks("docs/models.md")
    model_module("tiny_cnn", module, header=False)
    assert load_problems() == [] and "tiny-cnn" in zoo.list_models()
    model = zoo.create_model("tiny-cnn")
    assert model.num_parameters() > 0 and model.pad_multiple == 2
    assert get_model_info("tiny-cnn").inputs.pad_multiple == 2  # from the class
    images = test_models.odd_images()
    for check in (test_models.test_forward_on_odd_sizes_keeps_shape_and_range,
                  test_models.test_pad_and_crop_matches_explicit_padding,
                  test_models.test_batch_items_are_independent,
                  test_models.test_untrained_model_is_the_identity,
                  test_models.test_perturbed_model_is_not_the_identity):
        check("tiny-cnn", images)
    test_models.test_save_and_strict_load_round_trip("tiny-cnn", images, tmp_path)
    test_models.test_rebuild_from_config_json("tiny-cnn")
    test_registry.test_entry_facts_are_consistent("tiny-cnn")
    test_registry.test_create_model_builds_the_registered_architecture("tiny-cnn")


def test_the_metrics_snippet_scores_an_image_as_zoo_bench_does(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/metrics.md's "Scoring one image as zoo bench does" gives the bench's own row."""
    from zoo.bench.api import bench
    from zoo.samples import sample_image

    [block] = python_blocks("docs/metrics.md")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for where in ("truth.png", "photos/truth.png"):
        Image.fromarray(sample_image("astronaut")[90:186, 150:278]).save(where)
    names: dict[str, object] = {}
    exec(compile(block, "docs/metrics.md", "exec"), names)  # noqa: S102 - the documentation's own code
    (run,) = bench(data="photos", models="unet-l1", qualities=10, protocols="rgb",
                   metrics=["psnr", "ssim", "lpips_alex"], out="out", progress=False, crops=0)
    (row,) = run.outcome.rows
    assert names["scores"] == {name: row.values[name] for name in ("psnr", "ssim", "lpips_alex")}
    assert 20 < names["scores"]["psnr"] < 40  # a real score, not an empty dict's


def test_the_bench_snippet_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """docs/bench.md's "From Python": a row per model, image, quality and protocol, printed."""
    from zoo.samples import sample_image

    [block] = python_blocks("docs/bench.md")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for index, name in enumerate(("astronaut", "coffee")):
        Image.fromarray(sample_image(name)[64:120, 96:160]).save(f"photos/{index}.png")
    names: dict[str, object] = {}
    exec(compile(block, "docs/bench.md", "exec"), names)  # noqa: S102 - the documentation's own code
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 2 * 2 * 2 and all(line.split()[3] == "rgb" for line in printed)
    assert {tuple(line.split()[:3]) for line in printed} == {
        (model, image, quality) for model in ("jpeg", "unet-l1") for image in ("0", "1")
        for quality in ("10", "30")}
    assert (tmp_path / "runs/mine/summary.csv").is_file()
