"""A ``zoo train`` run's best file (``OUT/best/step-N.safetensors``) loads, benches and restores
as the network the run trained: its entry, built with the run's ``model.args``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.errors import ZooError
from zoo.registry import create_model
from zoo.weights import load_weights, save_weights

SMALL = {"channels": [8, 16], "blocks": [1, 1]}  # model.args a run may override


def _run(tmp_path: Path, recipe: object, arguments: dict | None = None, seed: int = 0) -> Path:
    """A run folder as `zoo train unet-l1` leaves it: recipe.json and one best file."""
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    (out / "recipe.json").write_text(json.dumps(recipe))
    torch.manual_seed(seed)
    best = out / "best" / "step-00000040.safetensors"
    save_weights(create_model("unet-l1", **(SMALL if arguments is None else arguments)), best)
    return best


def test_a_best_file_loads_as_the_run_s_network(tmp_path: Path) -> None:
    best = _run(tmp_path, {"entry": "unet-l1", "model": {"args": SMALL, "init": ""}, "seed": 0})
    model = zoo.load(str(best), device="cpu")
    reference = create_model("unet-l1", **SMALL)
    load_weights(reference, best)
    x = torch.rand(1, 3, 24, 40)
    assert model.config == reference.config and not model.training
    assert torch.equal(model(x), reference.eval()(x))
    assert model.weights_source == str(best)
    assert zoo.loading.is_saved_model(str(best))


def test_a_best_file_is_a_leaderboard_row(tmp_path: Path) -> None:
    """``zoo bench --models OUT/best/step-N.safetensors`` measures the run's network: the released
    weights saved as a best file score what the entry scores."""
    import csv

    from zoo.bench import api

    best = _run(tmp_path, {"entry": "unet-l1", "model": {"args": {}}}, arguments={})
    load_weights(create_model("unet-l1"), best)  # the fixture's file fits the default network
    save_weights(zoo.load("unet-l1", device="cpu").float(), best)
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in "ab":
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(images / f"{name}.png")
    assert api.select_models([str(best), "jpeg"]) == [str(best), "jpeg"]
    api.bench(data=[str(images)], models=["unet-l1", str(best)], qualities=[20], protocols=["rgb"],
              metrics=["psnr"], out=tmp_path / "out", progress=False, crops=0)
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_model: dict[str, list[float]] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(float(row["psnr"]))
    assert set(by_model) == {"unet-l1", str(best)} and len(by_model["unet-l1"]) == 2
    assert by_model[str(best)] == pytest.approx(by_model["unet-l1"], abs=1e-9)


@pytest.mark.parametrize("recipe, arguments, message", [
    ({"model": {"args": {}}}, None, r"recipe.json: names no entry and model.args .*weights=FILE"),
    ({"entry": "unet-l1", "model": "x"}, None, r"recipe.json: names no entry and model.args"),
    ({"entry": "no-such", "model": {"args": {}}}, None, r"recipe.json: unknown model 'no-such'"),
    ({"entry": "unet-l1", "model": {"args": {"width": 3}}}, None,
     r"recipe.json: its model.args do not fit 'unet-l1' \(.*width"),
    ({"entry": "unet-l1", "model": {"args": {}}}, SMALL, r"step-00000040.safetensors.*does not fit|shape"),
])
def test_a_run_that_cannot_rebuild_its_network_is_one_line(tmp_path: Path, recipe: dict,
                                                           arguments: dict | None, message: str) -> None:
    best = _run(tmp_path, recipe, arguments)
    if arguments is not None:  # the best file of other model.args than recipe.json's
        best = _run(tmp_path / "other", {"entry": "unet-l1", "model": {"args": SMALL}})
        (tmp_path / "run" / "best" / best.name).write_bytes(best.read_bytes())
        best = tmp_path / "run" / "best" / best.name
    with pytest.raises(ZooError, match=message):
        zoo.load(str(best), device="cpu")


def test_only_the_run_s_own_best_files_are_read_so(tmp_path: Path) -> None:
    """A file set aside in best/earlier/ (an earlier recipe's), another name in best/, or a best
    file of a run without recipe.json is no model: the error asks for config.json or the entry."""
    best = _run(tmp_path, {"entry": "unet-l1", "model": {"args": SMALL}})
    others = [best.parent / "earlier" / best.name, best.parent / "step-1.bak.safetensors"]
    for other in others:
        other.parent.mkdir(exist_ok=True)
        other.write_bytes(best.read_bytes())
    for path in others:
        assert not zoo.loading.is_saved_model(str(path))
        with pytest.raises(ZooError, match=r"no config.json beside it"):
            zoo.load(str(path), device="cpu")
    assert zoo.loading.is_saved_model(str(best))
    (best.parent.parent / "recipe.json").unlink()
    assert not zoo.loading.is_saved_model(str(best))
    with pytest.raises(ZooError, match=r"no config.json beside it"):
        zoo.load(str(best), device="cpu")


def test_a_best_file_named_from_inside_its_folder_loads(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``zoo bench --models step-N.safetensors`` from inside OUT/best: the file's folder had no
    name (Path("step-N.safetensors").parent is "."), so it was no best file."""
    best = _run(tmp_path, {"entry": "unet-l1", "model": {"args": SMALL}})
    monkeypatch.chdir(best.parent)
    assert zoo.loading.is_saved_model(best.name)
    assert zoo.load(best.name, device="cpu").weights_source == best.name


def test_a_best_file_s_network_is_checked_before_it_is_built(tmp_path: Path) -> None:
    """recipe.json's model.args were built for real (3.2 GB for one wide level) before the
    file's shapes were compared; absurd layer counts now stop the meta build itself."""
    best = _run(tmp_path, {"entry": "unet-l1", "model": {"args": {"channels": [8, 64],
                                                                  "blocks": [1, 1]}}})
    with pytest.raises(ZooError, match=r"step-00000040.safetensors does not fit the network "
                                       r".*recipe.json describes"):
        zoo.load(str(best), device="cpu")
    (best.parent.parent / "recipe.json").write_text(json.dumps(
        {"entry": "unet-l1", "model": {"args": {"channels": [8, 16], "blocks": [1, 10**9]}}}))
    with pytest.raises(ZooError, match=r"recipe.json: its arguments build more than 300 parameter"):
        zoo.load(str(best), device="cpu")


def test_a_run_s_initialisation_choice_is_not_taken_again(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An ARNet run with model.args.encoder_pretrained = true downloaded timm's ImageNet
    weights for each load of its best file, which replaces them."""
    import zoo.models.arnet as arnet

    asked: list[bool] = []
    real = arnet.create_encoder

    def create_encoder(name: str, pretrained: bool) -> torch.nn.Module:
        asked.append(pretrained)
        return real(name, pretrained=False)

    monkeypatch.setattr(arnet, "create_encoder", create_encoder)
    out = tmp_path / "run"
    (out / "best").mkdir(parents=True)
    args = {"nf": 16, "encoder_pretrained": True}
    (out / "recipe.json").write_text(json.dumps({"entry": "arnet-nogan", "model": {"args": args}}))
    save_weights(create_model("arnet-nogan", nf=16), out / "best" / "step-1.safetensors")
    asked.clear()
    model = zoo.load(str(out / "best" / "step-1.safetensors"), device="cpu")
    assert model.config["nf"] == 16 and asked and not any(asked)
