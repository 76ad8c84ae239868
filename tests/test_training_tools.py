"""The scripts beside the harness: growing a trained network, packing a GPU run's carry, and
sizing its stages from a throughput probe; the speed benchmark's variants."""

from __future__ import annotations

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
from zoo.restore import array_to_tensor
from zoo.train.data import ValidationSet
from zoo.weights import load_weights, save_weights
from script_modules import load_script

REPO = Path(__file__).resolve().parent.parent


def _script(relative: str) -> ModuleType:
    return load_script(relative)


def _write(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"im{i}.png")


def test_grow_script_writes_a_bigger_network_with_the_same_output(tmp_path: Path) -> None:
    torch.manual_seed(0)
    small = ARNet()
    with torch.no_grad():
        small.head.weight.normal_(0, 0.1)  # not the identity, so equal outputs mean something
    save_weights(small, tmp_path / "small.safetensors", dtype=torch.float32)
    subprocess.run([sys.executable, str(REPO / "training/grow.py"), "arnet-nogan",
                    str(tmp_path / "small.safetensors"), str(tmp_path / "big.safetensors"),
                    "--to", "last_blocks=3"], check=True, cwd=REPO, capture_output=True)
    big = ARNet(last_blocks=3)
    load_weights(big, tmp_path / "big.safetensors")
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(big.eval()(x), small.eval()(x))


def test_grow_script_rejects_an_assignment_without_a_value() -> None:
    grow = _script("training/grow.py")
    assert grow.parse_assignments("--to", ["blocks=[2,2,4]", "last_blocks=4"]) == {
        "blocks": [2, 2, 4], "last_blocks": 4}
    with pytest.raises(ZooError, match="^--to blocks: not KEY=VALUE"):
        grow.parse_assignments("--to", ["blocks"])


def test_dead_channels_are_found_and_revived_without_changing_the_output(tmp_path: Path) -> None:
    dead_units = _script("training/dead_units.py")
    _write(tmp_path / "val", [(96, 96), (80, 64)])
    valset = ValidationSet(tmp_path / "val", [10, 30])
    torch.manual_seed(0)
    net = UNet(channels=(8, 16), blocks=(1, 2)).eval()
    with torch.no_grad():
        net.tail[0].weight.normal_(0, 0.1)  # not the identity, so equal outputs mean something
        for block in dead_units.residual_blocks(net).values():
            block.conv2.weight.normal_(0, 0.1)
        net.bottom[1].conv1.bias[[2, 5]] = -1e3  # two channels that can never fire
    fired = dead_units.firing_channels(net, valset)
    assert list(fired) == ["encoders.0.0", "bottom.0", "bottom.1", "decoders.0.0"]
    assert not fired["bottom.1"][[2, 5]].any()
    dead = sum(int((~f).sum()) for f in fired.values())
    x = array_to_tensor(valset.items[0][2][10])
    with torch.no_grad():
        before = net(x)
        assert dead_units.revive(net, fired) == dead
        assert torch.allclose(net(x), before, atol=1e-6)
    after = dead_units.firing_channels(net, valset)
    assert after["bottom.1"][[2, 5]].all()
    assert sum(int((~f).sum()) for f in after.values()) < dead / 2
    assert torch.count_nonzero(net.bottom[1].conv2.weight[:, [2, 5]]) == 0


def test_packed_validation_crops_score_like_the_originals(tmp_path: Path) -> None:
    pack = _script("training/device/pack.py")
    _write(tmp_path / "val" / "SetA", [(300, 200), (100, 90)])
    pack.pack_val(tmp_path / "val", tmp_path / "packed", crop=128)
    original = ValidationSet(tmp_path / "val", [10], crop=128)
    packed = ValidationSet(tmp_path / "packed", [10], crop=128)
    assert [name for name, *_ in packed.items] == [name for name, *_ in original.items]
    for (_, a, qa), (_, b, qb) in zip(original.items, packed.items):
        assert np.array_equal(a, b) and np.array_equal(qa[10], qb[10])


def test_packed_training_images_are_lossless_and_placed_first_fit(tmp_path: Path) -> None:
    pack = _script("training/device/pack.py")
    _write(tmp_path / "train" / "A", [(96, 64)] * 4, seed=1)
    _write(tmp_path / "train" / "B", [(64, 64)] * 3, seed=2)
    one = 96 * 64 * 3  # random pixels do not compress: about this many bytes per image
    out = tmp_path / "out"
    (out / "carry-1" / "val").mkdir(parents=True)
    (out / "carry-1" / "val" / "fixed.bin").write_bytes(bytes(2 * one))  # carry-1's fixed part
    folders = pack.CarryFolders(out, room=3 * one)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(2 * one))  # does not fit beside carry-1's part: opens carry-2
    assert folders.place(big, "zoo-data/big.bin") == out / "carry-2" / "zoo-data" / "big.bin"
    pack.pack_train([tmp_path / "train" / "A", tmp_path / "train" / "B"], folders)
    packed = sorted(out.glob("carry-*/train/*/*.webp"))
    assert len(packed) == 7 and not (out / "tmp.webp").exists()
    assert list((out / "carry-1" / "train").rglob("*.webp"))  # the first folder's room was used
    assert len(folders.used) >= 3
    for n in range(1, len(folders.used) + 1):
        assert pack.folder_bytes(out / f"carry-{n}") <= 3 * one * 1.1
    for path in packed:
        source = tmp_path / "train" / path.parent.name / path.with_suffix(".png").name
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), np.asarray(Image.open(source)))


def test_stages_are_sized_to_the_budget_in_the_recipes_proportions() -> None:
    speed = _script("benchmarks/speed_train.py")
    rows = [{"stage": "pretrain", "stage_steps": 2000, "stage_minutes_est": 6.0},
            {"stage": "critic", "stage_steps": 300, "stage_minutes_est": 0.0},
            {"stage": "gan", "stage_steps": 600, "stage_minutes_est": 2.0}]
    assert speed.fitted_steps(rows, 4.0) == ["stages.pretrain.steps=1000", "stages.critic.steps=150",
                                             "stages.gan.steps=300"]
    assert speed.fitted_steps(rows, 0.008) == ["stages.pretrain.steps=2", "stages.critic.steps=1",
                                               "stages.gan.steps=1"]  # critic: 0.3 -> at least 1
    with pytest.raises(ZooError, match="no steps to scale"):
        speed.fitted_steps([{"stage": "x", "stage_steps": 0, "stage_minutes_est": 0.0}], 1.0)


def test_speed_benchmark_reads_untrained_variants_of_an_entry() -> None:
    speed = _script("benchmarks/speed_restore.py")
    assert speed.parse_model_spec("arnet-nogan") == ("arnet-nogan", {})
    assert speed.parse_model_spec("unet-l1:blocks=[1,1,2]:channels=[32,64,128]") == (
        "unet-l1", {"blocks": [1, 1, 2], "channels": [32, 64, 128]})


def test_speed_benchmark_names_a_bad_override_in_one_line(tmp_path: Path, monkeypatch) -> None:
    speed = _script("benchmarks/speed_train.py")
    monkeypatch.setattr(sys, "argv", ["speed_train.py", "--data", str(tmp_path), "--models", "unet-l1",
                                      "--steps", "1", "bogus.key=1"])
    with pytest.raises(ZooError, match=r"^override bogus.key=1: unknown key 'bogus'"):
        speed.main()


_VARIANT_CHECK = """
import sys, torch
from torch import nn
sys.path.insert(0, "training")
import arnet_variants
from zoo.models.arnet import ARNet
base = ARNet()
arnet_variants.apply_variant(sys.argv[1])
net = ARNet().eval()
decoder = [m for name, m in net.named_modules() if not name.startswith("encoder")]
params = sum(p.numel() for p in net.parameters()) - sum(p.numel() for p in base.parameters())
with torch.inference_mode():
    shape = tuple(net(torch.rand(1, 3, 64, 64)).shape)
encoder_bn = [sum(isinstance(m, nn.BatchNorm2d) for m in n.encoder.modules()) for n in (net, base)]
from zoo.cli import train_cmd
marked = f"({sys.argv[1]} variant)" in train_cmd.export_note("arnet-nogan", "F")
print(params, sum(isinstance(m, nn.BatchNorm2d) for m in decoder),
      sum(hasattr(m, "parametrizations") for m in decoder), encoder_bn[0] == encoder_bn[1], marked,
      shape)
"""


@pytest.mark.parametrize(("variant", "extra_params", "has_bn", "has_sn"), [
    ("base", 0, True, True), ("nosn", 0, True, False), ("plain", None, False, False),
    ("fine32", 45152, True, True)])
def test_arnet_variants_change_only_what_they_name(variant: str, extra_params: int | None,
                                                   has_bn: bool, has_sn: bool) -> None:
    out = subprocess.run([sys.executable, "-c", _VARIANT_CHECK, variant], check=True, cwd=REPO,
                         capture_output=True, text=True).stdout.split(maxsplit=5)
    if extra_params is not None:
        assert int(out[0]) == extra_params
    assert (int(out[1]) > 0, int(out[2]) > 0, out[5].strip()) == (has_bn, has_sn,
                                                                 "(1, 3, 64, 64)")
    # The encoder keeps its batch norms; every variant but base exports under its own name.
    assert out[3:5] == ["True", str(variant != "base")]


def test_arnet_variants_name_an_unknown_variant() -> None:
    result = subprocess.run([sys.executable, str(REPO / "training/arnet_variants.py"), "wide",
                             "list"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode != 0 and "unknown variant 'wide'" in result.stderr
