"""Lower-precision inference (``precision="bf16"``/``"fp16"``, ``zoo restore --precision``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import zoo
import zoo.precision
from zoo.cli import main
from zoo.cli.restore_cmd import PRECISION_CHOICES
from zoo.degrade import jpeg_roundtrip
from zoo.ensemble import SelfEnsemble
from zoo.errors import ZooError
from zoo.hub import save_pretrained
from zoo.metrics import psnr
from zoo.models.base import Restorer
from zoo.precision import PRECISIONS, LowPrecision, with_precision
from zoo.samples import sample_image


class DtypeSpy(Restorer):
    """A 1x1 convolution that records the dtype its output was computed in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.seen: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        self.seen.append(out.dtype)
        return out


@pytest.fixture(scope="module")
def astronaut_q10() -> tuple[np.ndarray, np.ndarray]:
    truth = np.ascontiguousarray(sample_image("astronaut")[96:224, 160:288])
    return truth, jpeg_roundtrip(truth, 10)


def test_fp32_is_the_model_itself() -> None:
    model = DtypeSpy()
    assert with_precision(model, "fp32") is model


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_the_network_runs_at_the_precision_and_returns_the_inputs_dtype(
        precision: str, dtype: torch.dtype) -> None:
    spy = DtypeSpy()
    out = LowPrecision(spy, precision)(torch.rand(1, 3, 8, 8))
    assert spy.seen == [dtype]
    assert out.dtype == torch.float32


def test_an_unknown_precision_is_refused_naming_the_choices() -> None:
    with pytest.raises(ZooError, match=r"unknown precision 'int8'; choose one of fp32, bf16, fp16"):
        zoo.load("jpeg", precision="int8")


def test_a_device_without_autocast_is_refused_in_one_line(monkeypatch) -> None:
    monkeypatch.setattr(zoo.precision, "is_autocast_available", lambda kind: False)
    with pytest.raises(ZooError, match="bf16 is not available on cpu; use fp32 there"):
        LowPrecision(DtypeSpy(), "bf16")(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_the_shipped_unet_loses_almost_nothing(precision: str, astronaut_q10) -> None:
    truth, jpeg = astronaut_q10
    full = zoo.load("unet-l1").restore(jpeg)
    low = zoo.load("unet-l1", precision=precision).restore(jpeg)
    assert not np.array_equal(low, full)  # it did run at the lower precision
    assert abs(psnr(low, truth) - psnr(full, truth)) < 0.02
    assert np.abs(low.astype(int) - full).max() <= 3


def test_it_composes_with_the_ensemble_and_tiling(astronaut_q10) -> None:
    _, jpeg = astronaut_q10
    model = zoo.load("unet-l1+x8", precision="bf16")
    assert isinstance(model, LowPrecision) and isinstance(model.model, SelfEnsemble)
    assert model.name == "unet-l1+x8" and not model.training
    assert model.pad_multiple == 16  # tiles of a tiled restore start on the ensemble's grid
    whole = zoo.load("unet-l1+x8").restore(jpeg)
    tiled = model.restore(jpeg, tile=64)
    assert np.abs(tiled.astype(int) - whole).mean() < 0.5


def test_a_low_precision_model_is_not_saved_as_weights(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="save unet-l1 itself"):
        save_pretrained(zoo.load("unet-l1+x8", precision="bf16"), tmp_path / "saved")


def test_restore_cli(tmp_path: Path, capsys, astronaut_q10) -> None:
    assert PRECISION_CHOICES == tuple(PRECISIONS)
    image = tmp_path / "in.png"
    Image.fromarray(astronaut_q10[1]).save(image)
    outputs = {}
    for precision in ("fp32", "bf16"):
        outputs[precision] = tmp_path / f"{precision}.png"
        assert main(["restore", "-m", "unet-l1", "--precision", precision, str(image),
                     "-o", str(outputs[precision])]) == 0
        assert ("on cpu in bf16" in capsys.readouterr().err) == (precision == "bf16")
    assert not np.array_equal(np.asarray(Image.open(outputs["fp32"])),
                              np.asarray(Image.open(outputs["bf16"])))
    assert main(["restore", "-m", "jpeg+x8", "--precision", "fp16", "--ensemble", str(image),
                 "-o", str(tmp_path / "o.png")]) == 0
    err = capsys.readouterr().err
    assert "model jpeg+x8 (0 parameters) on cpu in fp16" in err  # the ensemble once
    assert "note: most CPUs emulate fp16, which can be hundreds of times slower" in err
    with pytest.raises(SystemExit):
        main(["restore", "--precision", "fp8", str(image)])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
