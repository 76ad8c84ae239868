"""The geometric self-ensemble (``NAME+x8``): symmetry, block-grid alignment, and where it is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import zoo
from zoo.bench.api import ModelSelectionError, select_models
from zoo.cli import main
from zoo.degrade import jpeg_roundtrip
from zoo.ensemble import SelfEnsemble, split_ensemble
from zoo.errors import ZooError
from zoo.hub import save_pretrained
from zoo.metrics import psnr
from zoo.models.base import Restorer
from zoo.restore import restore_tensor
from zoo.samples import sample_image


class LopsidedNet(Restorer):
    """A small random network with no symmetry of its own (one-sided kernels, a stride)."""

    pad_multiple = 4

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, (3, 5), padding=(1, 2)), nn.ReLU(),
                                  nn.Conv2d(8, 8, 4, stride=4), nn.ReLU(),
                                  nn.ConvTranspose2d(8, 3, 4, stride=4))

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.body(x)


class CornerSpy(Restorer):
    """The identity, recording where the original image's top-left pixel lies in each input.

    Channels 0 and 1 of the input hold each pixel's row and column plus one, so that the
    original top-left pixel is the only one whose first two channels sum to 2."""

    def __init__(self) -> None:
        super().__init__()
        self.corners: list[tuple[int, int, int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        where = ((x[0, 0] + x[0, 1]) == 2).nonzero()
        assert len(where) == 1
        self.corners.append((int(where[0, 0]), int(where[0, 1]), x.shape[-2], x.shape[-1]))
        return x


def test_split_ensemble(tmp_path: Path) -> None:
    assert split_ensemble("unet-l1+x8") == ("unet-l1", True)
    assert split_ensemble("unet-l1") == ("unet-l1", False)
    assert split_ensemble("+x8") == ("+x8", False)
    saved = tmp_path / "export+x8"
    saved.mkdir()
    assert split_ensemble(str(saved)) == (str(saved), False)  # an existing path is a saved model
    with pytest.raises(ZooError, match=r"unet-l1\+x8\+x8: \+x8 applies once"):
        split_ensemble("unet-l1+x8+x8")


@pytest.mark.parametrize("turn", [
    lambda x: x.flip(-1), lambda x: x.flip(-2), lambda x: torch.rot90(x, 1, (-2, -1)),
    lambda x: x.transpose(-2, -1)])
def test_the_ensemble_commutes_with_flips_and_turns(turn) -> None:
    net = LopsidedNet().eval()
    x = torch.rand(1, 3, 48, 64)  # sides on the 16-pixel grid: no padding to break the symmetry
    with torch.no_grad():
        assert (net(turn(x)) - turn(net(x))).abs().max() > 1e-3  # the network alone does not
        ensemble = SelfEnsemble(net)
        torch.testing.assert_close(ensemble(turn(x)), turn(ensemble(x)), atol=1e-5, rtol=0)


@pytest.mark.parametrize("h,w", [(8, 8), (37, 53), (64, 48), (17, 100)])
def test_every_copy_keeps_the_jpeg_block_grid(h: int, w: int) -> None:
    spy = CornerSpy()
    rows = torch.arange(1, h + 1, dtype=torch.float64).view(h, 1).expand(h, w)
    cols = torch.arange(1, w + 1, dtype=torch.float64).view(1, w).expand(h, w)
    x = torch.stack([rows, cols, torch.zeros(h, w, dtype=torch.float64)])[None]
    out = SelfEnsemble(spy)(x)
    assert out.shape == x.shape
    torch.testing.assert_close(out, x)  # the identity's eight copies turned back and averaged
    assert len(spy.corners) == 8
    for row, col, height, width in spy.corners:
        # The original's first row and column start a 16-pixel unit, or end one when mirrored.
        assert height % 16 == 0 and width % 16 == 0
        assert row % 16 in (0, 15) and col % 16 in (0, 15)


class OriginSpy(Restorer):
    """The identity, recording the smallest row and column coordinate (channels 0 and 1) it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.origins: set[tuple[float, float]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.origins.add((float(x[0, 0].min()), float(x[0, 1].min())))
        return x


def test_an_image_off_the_grid_is_padded_by_replicating_its_last_row_and_column() -> None:
    """37x53 goes to the network as 48x64 (the 16-pixel grid; LopsidedNet's own multiple, 4,
    divides it), padded at the bottom and right with copies of its last row and column as a JPEG
    encoder pads a partial block; LopsidedNet's 4x4 strided blocks mix the last real rows and
    columns with the padding, so zeros there would change the pixels kept. The reference pads by
    indexing, and lists the eight symmetries of the square with their inverses."""
    net = LopsidedNet().eval()
    x = torch.rand(1, 3, 37, 53, generator=torch.Generator().manual_seed(0))
    rows, cols = torch.arange(48).clamp(max=36), torch.arange(64).clamp(max=52)
    padded = x[..., rows[:, None], cols]
    assert padded.shape == (1, 3, 48, 64)
    turn_180 = lambda t: t.flip(-2, -1)  # noqa: E731
    transpose = lambda t: t.transpose(-2, -1)  # noqa: E731
    symmetries = [  # (symmetry, its inverse)
        (lambda t: t, lambda t: t),
        (lambda t: t.flip(-1), lambda t: t.flip(-1)),
        (lambda t: t.flip(-2), lambda t: t.flip(-2)),
        (turn_180, turn_180),
        (transpose, transpose),
        (lambda t: transpose(turn_180(t)), lambda t: turn_180(transpose(t))),  # the anti-diagonal
        (lambda t: transpose(t).flip(-1), lambda t: transpose(t.flip(-1))),  # a quarter turn
        (lambda t: transpose(t).flip(-2), lambda t: transpose(t.flip(-2))),  # the other way
    ]
    with torch.no_grad():
        expected = sum(back(net.forward_padded(there(padded))) for there, back in symmetries) / 8
        torch.testing.assert_close(SelfEnsemble(net)(x), expected[..., :37, :53], atol=1e-5, rtol=0)


def test_tiles_start_on_the_16_pixel_grid() -> None:
    h, w = 150, 230
    rows = torch.arange(h, dtype=torch.float64).view(h, 1).expand(h, w)
    cols = torch.arange(w, dtype=torch.float64).view(1, w).expand(h, w)
    x = torch.stack([rows, cols, torch.zeros(h, w, dtype=torch.float64)])[None] / 255
    spy = OriginSpy()
    restore_tensor(SelfEnsemble(spy), x, tile=40, overlap=16)
    origins = {(round(r * 255), round(c * 255)) for r, c in spy.origins}
    assert len(origins) > 4 and all(r % 16 == 0 and c % 16 == 0 for r, c in origins)


def test_grey_and_tiled_restores_go_through_the_ensemble() -> None:
    ensemble = SelfEnsemble(LopsidedNet())
    grey = torch.rand(1, 1, 40, 72)
    assert restore_tensor(ensemble, grey).shape == grey.shape
    x = torch.rand(1, 3, 150, 130)
    whole = restore_tensor(ensemble, x, tile=0)
    tiled = restore_tensor(ensemble, x, tile=96, overlap=32)
    assert (whole - tiled).abs().max() < 1e-5  # the overlap is wider than the net can see


def test_the_identitys_ensemble_returns_a_bfloat16_input_exactly() -> None:
    """The eight copies are summed at float32: in bfloat16 (8 significant bits) 3x or 5x a value
    is rounded, and the mean of eight equal values would come back a level off."""
    x = torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    torch.testing.assert_close(SelfEnsemble(zoo.create_model("jpeg"))(x), x, atol=0, rtol=0)


def test_the_shipped_cnn_gains_from_its_ensemble() -> None:
    truth = sample_image("astronaut")[96:288, 128:320]
    degraded = jpeg_roundtrip(truth, 10)
    plain = zoo.load("unet-l1", device="cpu")
    ensemble = zoo.load("unet-l1+x8", device="cpu")
    assert isinstance(ensemble, SelfEnsemble) and ensemble.name == "unet-l1+x8"
    gain = psnr(np.asarray(ensemble.restore(degraded)), truth) - psnr(plain.restore(degraded), truth)
    assert 0.02 < gain < 0.5


def test_the_suffix_is_understood_wherever_a_model_is_named(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    assert select_models(["jpeg", "unet*+x8", "unet-l1+x8"]) == ["jpeg", "unet-l1+x8"]
    assert "jpeg+x8" not in select_models(["*+x8"]) and select_models(["jpeg+x8"]) == ["jpeg+x8"]
    with pytest.raises(ModelSelectionError, match=r"^--models m\+x8: no registry entry"):
        select_models(["m+x8"])
    with pytest.raises(ZooError, match=r"^nothing\+x8: unknown model 'nothing'"):
        zoo.load("nothing+x8")
    assert not zoo.load("jpeg+x8").training
    image = tmp_path / "in.png"
    Image.fromarray(np.full((24, 40, 3), 90, np.uint8)).save(image)
    assert main(["restore", "-m", "jpeg", "--ensemble", str(image), "-o", str(tmp_path / "o.png")]) == 0
    assert "model jpeg+x8" in capsys.readouterr().err
    assert main(["push", "unet-l1+x8", "--repo", "org/name", "--dry-run", str(tmp_path / "hub")]) == 2
    assert "push unet-l1" in capsys.readouterr().err
    with pytest.raises(ZooError, match="save unet-l1 itself"):
        save_pretrained(zoo.load("unet-l1+x8"), tmp_path / "saved")


def test_an_entry_s_ensemble_is_not_a_folder_of_that_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder named ``unet-l1+x8`` in the working folder stood in for the entry's ensemble
    (an empty one made zoo.load fail; a saved model in it was benchmarked under that name)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "unet-l1+x8").mkdir()
    assert split_ensemble("unet-l1+x8") == ("unet-l1", True)
    assert split_ensemble("./unet-l1+x8") == ("./unet-l1+x8", False)  # the folder
    assert isinstance(zoo.load("unet-l1+x8"), SelfEnsemble)
    assert select_models(["unet-l1+x8"]) == ["unet-l1+x8"]
