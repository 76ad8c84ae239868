"""Lower-precision inference (``precision="bf16"``/``"fp16"``, ``zoo restore --precision``)."""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from rich.console import Console
from torch import nn

import zoo
import zoo.precision
from zoo.cli import main
from zoo.cli.restore_cmd import PRECISION_CHOICES, _load_model
from zoo.degrade import jpeg_roundtrip
from zoo.ensemble import SelfEnsemble
from zoo.errors import ZooError
from zoo.hub import save_pretrained
from zoo.metrics import psnr
from zoo.models.base import Restorer
from zoo.precision import PRECISIONS, LowPrecision, PrecisionWarning, with_precision
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
        LowPrecision(DtypeSpy(), "bf16")


class _RefusingAutocast:
    """torch.autocast as a GPU without bf16 answers: an error on entering."""

    def __init__(self, device_type: str, dtype: torch.dtype) -> None:
        pass

    def __enter__(self) -> None:
        raise RuntimeError("Current CUDA Device does not support bfloat16. Please switch dtype "
                           "to float16.\nmore")

    def __exit__(self, *exc: object) -> None:
        pass


class _IgnoringAutocast(_RefusingAutocast):
    """torch.autocast for an unsupported dtype: a warning, then fp32 as if nothing was asked."""

    def __enter__(self) -> None:
        warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                      "autocast.", UserWarning, stacklevel=2)


@pytest.mark.parametrize(("autocast", "reason"), [
    (_RefusingAutocast, "Current CUDA Device does not support bfloat16"),
    (_IgnoringAutocast, "In CPU autocast, but the target dtype is not supported")])
def test_a_precision_the_device_cannot_run_is_refused_when_loading(monkeypatch, autocast,
                                                                   reason: str) -> None:
    monkeypatch.setattr(torch, "autocast", autocast)
    with pytest.raises(ZooError, match=f"^bf16 is not available on cpu \\({reason}.*\\); "
                                       "use fp32 there$"):
        zoo.load("jpeg", precision="bf16")


def test_the_model_sees_a_contiguous_input() -> None:
    """A permuted HxWx3 view sent arnet-nogan down a path half as fast (benchmarks/README)."""
    seen: list[bool] = []

    class LayoutSpy(DtypeSpy):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(x.is_contiguous())
            return x

    spy = LayoutSpy()
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    spy.restore(image)
    spy.restore(image, tile=16)
    spy.restore(torch.rand(1, 3, 40, 56).to(memory_format=torch.channels_last))
    assert len(seen) > 3 and all(seen)


@pytest.mark.filterwarnings("ignore::zoo.precision.PrecisionWarning")  # slow on CPUs, said elsewhere
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_the_shipped_unet_loses_almost_nothing(precision: str, astronaut_q10) -> None:
    truth, jpeg = astronaut_q10
    full = zoo.load("unet-l1").restore(jpeg)
    low = zoo.load("unet-l1", precision=precision).restore(jpeg)
    assert not np.array_equal(low, full)  # it did run at the lower precision
    assert abs(psnr(low, truth) - psnr(full, truth)) < 0.02
    assert np.abs(low.astype(int) - full).max() <= 3


def test_every_pass_of_a_tiled_ensemble_runs_at_the_precision() -> None:
    spy = DtypeSpy()
    model = LowPrecision(SelfEnsemble(spy), "bf16")
    out = model.restore(np.full((40, 72), 128, np.uint8), tile=32)  # grey, tiled
    assert out.shape == (40, 72) and out.dtype == np.uint8
    assert len(spy.seen) >= 16 and set(spy.seen) == {torch.bfloat16}


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
    with pytest.raises(ZooError, match=r"^unet-l1\+x8 at bf16: a way of running a model, not "
                                       r"weights of its own; save unet-l1 itself$"):
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
    for spec in ("unet-l1", "unet-l1+x8"):  # both spellings: the ensemble once, inside the autocast
        args = argparse.Namespace(model=spec, ensemble=True, device=None, weights=None,
                                  precision="fp16")
        with pytest.warns(PrecisionWarning, match="emulate fp16"):
            model = _load_model(args, Console(file=io.StringIO()))
        assert isinstance(model, LowPrecision) and isinstance(model.model, SelfEnsemble)
        assert not isinstance(model.model.model, SelfEnsemble)
    assert main(["restore", "-m", "unet-l1", "--precision", "fp16", "--ensemble", str(image),
                 "-o", str(tmp_path / "o.png"), "--tile", "0"]) == 0
    err = capsys.readouterr().err
    assert "model unet-l1+x8 (7.08M parameters) on cpu in fp16" in err
    assert "warning: unet-l1+x8: most CPUs emulate fp16, several times slower than fp32" in err
    assert main(["restore", "-m", "jpeg", "--precision", "fp16", str(image),
                 "-o", str(tmp_path / "o.png")]) == 0
    assert "emulate" not in capsys.readouterr().err  # nothing runs in fp16 there
    with pytest.raises(SystemExit):
        main(["restore", "--precision", "fp8", str(image)])
    assert "invalid choice: 'fp8'" in capsys.readouterr().err


@pytest.mark.parametrize("major", [7, 8])
def test_bf16_is_for_gpus_that_compute_it(monkeypatch: pytest.MonkeyPatch, major: int) -> None:
    """torch's is_bf16_supported() says yes on a T4 (emulated bf16); restore refuses bf16 there
    and training's ``auto`` takes fp16 (with a gradient scaler), as the docs say."""
    from types import SimpleNamespace

    from zoo.errors import RecipeError
    from zoo.precision import check_autocast
    from zoo.train.hardware import autocast_dtype

    props = SimpleNamespace(name="Tesla T4" if major == 7 else "A100", major=major,
                            minor=5 if major == 7 else 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(zoo.precision, "is_autocast_available", lambda kind: True)
    monkeypatch.setattr(torch, "autocast", lambda *args, **kwargs: contextlib.nullcontext())
    gpu = torch.device("cuda:0")
    if major == 7:
        with pytest.raises(ZooError, match=r"^bf16: Tesla T4 \(compute capability 7\.5\) has no native bf16"):
            check_autocast(gpu, "bf16")
        check_autocast(gpu, "fp16")
        assert autocast_dtype("auto", gpu) == torch.float16
        with pytest.raises(RecipeError, match=r"^recipe\.toml: precision bf16: Tesla T4 .*; use fp16 or auto$"):
            autocast_dtype("bf16", gpu, where="recipe.toml")
    else:
        check_autocast(gpu, "bf16")
        assert autocast_dtype("auto", gpu) == torch.bfloat16
        assert autocast_dtype("bf16", gpu) == torch.bfloat16


def test_fp16_on_a_cpu_is_said_to_be_emulated_where_the_model_is_loaded() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        zoo.load("unet-l1", device="cpu", precision="fp16")
        zoo.load("unet-l1", device="cpu", precision="bf16")  # the CPUs' fast precision
        zoo.load("jpeg", device="cpu", precision="fp16")  # nothing runs in fp16
    assert [(w.category, Path(w.filename).name) for w in caught] == [
        (PrecisionWarning, "test_precision.py")]
    assert str(caught[0].message).startswith("unet-l1: most CPUs emulate fp16, several times "
                                             "slower than fp32")


def test_warnings_name_the_callers_module_even_when_its_name_starts_like_zoo() -> None:
    """A caller's file beside the package, zoo_demo.py (or a package zookeeper), is not zoo's
    own: judged by a path prefix it was skipped, and the warning named no file of the user's
    ('sys:1'). The file is simulated: code compiled under that name, run as that module."""
    beside = str(Path(zoo.__file__).parent) + "_demo.py"
    code = compile("import zoo\nzoo.load('unet-l1', device='cpu', precision='fp16')\n", beside,
                   "exec")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(code, {"__name__": "zoo_demo"})  # noqa: S102
    assert [(w.category, w.filename, w.lineno) for w in caught] == [(PrecisionWarning, beside, 2)]
