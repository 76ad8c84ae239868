"""Tiled inference: the tile grid, seamless blending, and agreement with untiled inference."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zoo.models.base import Restorer
from zoo.tiling import _ramp, auto_tile, restore_tiled, smaller_tile, tile_grid, tile_plan


class WideConvNet(Restorer):
    """A small encoder-decoder with a receptive field of about 100 pixels (two 4x downsamplings)."""

    pad_multiple = 16

    def __init__(self) -> None:
        super().__init__()

        def conv(i: int, o: int) -> nn.Conv2d:
            return nn.Conv2d(i, o, 3, padding=1)

        self.body = nn.Sequential(
            conv(3, 16), nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=4), nn.ReLU(), conv(32, 32), nn.ReLU(),
            nn.Conv2d(32, 32, 4, stride=4), nn.ReLU(), conv(32, 32), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, stride=4), nn.ReLU(), conv(32, 32), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, stride=4), nn.ReLU(), conv(16, 3))

    def forward_padded(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TileSpy(Restorer):
    """The identity, recording where each tile it is given starts and how large it is."""

    def __init__(self, pad_multiple: int) -> None:
        super().__init__()
        self.pad_multiple = pad_multiple
        self.calls: list[tuple[int, int, int, int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The input encodes coordinates: channel 0 is the row, channel 1 the column (scaled).
        y0, x0 = round(float(x[0, 0, 0, 0]) * 4096), round(float(x[0, 1, 0, 0]) * 4096)
        self.calls.append((y0, x0, x.shape[-2], x.shape[-1]))
        return x


def coordinate_image(h: int, w: int) -> torch.Tensor:
    rows = torch.arange(h, dtype=torch.float64).view(h, 1).expand(h, w) / 4096
    cols = torch.arange(w, dtype=torch.float64).view(1, w).expand(h, w) / 4096
    return torch.stack([rows, cols, torch.zeros(h, w, dtype=torch.float64)])[None]


@pytest.mark.parametrize("length", [1, 31, 64, 100, 257, 1000])
@pytest.mark.parametrize("tile,overlap,unit", [(64, 16, 8), (100, 32, 32), (96, 64, 8), (64, 0, 8)])
def test_tile_grid_covers_and_aligns(length: int, tile: int, overlap: int, unit: int) -> None:
    side, actual, origins = tile_grid(length, tile, overlap, unit)
    assert side % unit == 0 and side <= max(tile, unit)
    assert all(o % unit == 0 for o in origins)
    assert origins[0] == 0 and origins[-1] + side >= length  # covered
    if len(origins) > 1:
        assert min(overlap, side // 2) <= actual <= side // 2  # at most two tiles overlap
        assert origins[-2] + side < length  # no useless last tile
        assert length - origins[-1] > actual  # the last tile is longer than the overlap


@pytest.mark.parametrize("tile", [1, 8, 40, 63])
def test_tiles_below_two_grid_units_still_overlap(tile: int) -> None:
    side, actual, origins = tile_grid(1000, tile, 64, 32)
    assert (side, actual) == (64, 32) and len(origins) > 1  # seams would show without overlap
    assert tile_grid(1000, tile, 0, 32)[:2] == (32, 0)  # no overlap asked for: one unit will do


def test_tiles_are_on_the_jpeg_and_network_grid() -> None:
    spy = TileSpy(pad_multiple=32)
    x = coordinate_image(300, 200)
    out = restore_tiled(spy, x, tile=100, overlap=24)
    assert len(spy.calls) > 4
    for y0, x0, h, w in spy.calls:
        assert y0 % 32 == 0 and x0 % 32 == 0  # lcm(8, 32)
        assert h <= 96 and w <= 96  # tile rounded down to the grid: memory follows the tile
    # The blending weights sum to one everywhere: the identity comes back unchanged.
    torch.testing.assert_close(out, x.clamp(0, 1), atol=1e-12, rtol=0)


@pytest.mark.parametrize("h,w,tile,overlap,pad", [(300, 200, 100, 24, 32), (64, 64, 8, 2, 1),
                                                   (40, 200, 64, 16, 8), (50, 50, 64, 16, 8),
                                                   (130, 70, 48, 0, 16)])
def test_tile_plan_is_the_tiles_restore_tiled_runs(h: int, w: int, tile: int, overlap: int,
                                                   pad: int) -> None:
    spy = TileSpy(pad_multiple=pad)
    restore_tiled(spy, coordinate_image(h, w), tile=tile, overlap=overlap)
    plan = tile_plan(spy, h, w, tile, overlap)
    if plan is None:
        assert spy.calls == [(0, 0, h, w)]  # one call on the whole image
        return
    assert spy.calls == [(y, x, min(plan.side, h - y), min(plan.side, w - x))
                         for y in plan.rows for x in plan.cols]
    # Neighbouring tiles share plan.overlap pixels (the step is the same along both axes).
    origins = plan.rows if len(plan.rows) > 1 else plan.cols
    assert origins[1] - origins[0] == plan.side - plan.overlap


def test_tiled_matches_untiled_with_a_real_receptive_field() -> None:
    torch.manual_seed(0)
    model = WideConvNet().eval()
    x = torch.rand(1, 3, 1, 1).expand(1, 3, 200, 264).clone()
    x += 0.2 * torch.rand(1, 3, 200, 264)  # texture on a flat colour
    x = x.clamp(0, 1)
    with torch.inference_mode():
        full = model(x).clamp(0, 1)
        tiled = restore_tiled(model, x, tile=96, overlap=32)
        seams = restore_tiled(model, x, tile=96, overlap=0)
    assert (full - x).abs().mean() > 0.01  # the network really changes the image
    error = (full - tiled).abs().mean().item()
    assert error < 1e-3
    # The overlap is what removes the seams (measured: 2.3e-6 against 2.1e-4 without it).
    assert error < 0.1 * (full - seams).abs().mean().item()
    assert tiled.shape == x.shape


def test_single_tile_is_plain_inference() -> None:
    model = WideConvNet().eval()
    x = torch.rand(1, 3, 40, 50)
    with torch.inference_mode():
        torch.testing.assert_close(restore_tiled(model, x, tile=512), model(x).clamp(0, 1))


def test_auto_tile() -> None:
    assert auto_tile(512, 512, "cpu") is None
    assert auto_tile(2000, 1500, "cpu") == 512
    assert auto_tile(2000, 1500, "cuda") is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        restore_tiled(WideConvNet(), torch.rand(2, 3, 32, 32), tile=16)
    with pytest.raises(ValueError):
        restore_tiled(WideConvNet(), torch.rand(1, 3, 32, 32), tile=0)


# Mean |tiled - whole| allowed on the 0..1 scale. unet-l1 is a conv net (3.1e-4 measured).
# arnet-nogan's self-attention sees one tile instead of the whole image, and the GPU-trained
# weights lean on it: 3.0e-3 measured here (about 0.8 grey levels), which is why its tiles are
# also held to scoring the same against the ground truth.
TILED_MEAN_ERROR = {"arnet-nogan": 5e-3, "unet-l1": 1e-3}


@pytest.mark.parametrize("name", ["arnet-nogan", "unet-l1"])
def test_shipped_models_tiled_match_untiled(name: str) -> None:
    """The shipped networks, with their trained weights, on a photograph that fits both ways."""
    import numpy as np
    import skimage.data

    import zoo
    from zoo.degrade import jpeg_roundtrip
    from zoo.metrics import METRICS

    model = zoo.load(name, device="cpu")
    truth = np.ascontiguousarray(skimage.data.coffee())
    jpeg = jpeg_roundtrip(truth, 10)
    x = torch.from_numpy(jpeg.copy()).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        whole = model(x)
        tiled = restore_tiled(model, x, tile=256, overlap=64)
    assert (whole - x).abs().mean() > 1e-3, "the model must actually change the image"
    assert (whole - tiled).abs().mean() < TILED_MEAN_ERROR[name]

    def psnr(out: torch.Tensor) -> float:
        pixels = (out[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
        return METRICS["psnr"](pixels, truth)

    assert abs(psnr(tiled) - psnr(whole)) < 0.1  # measured: 0.03 dB for arnet-nogan


def test_each_tile_is_reported_while_reporting_tiles() -> None:
    """The progress of one large image (zoo restore's tile bar)."""
    from zoo.tiling import reporting_tiles, restore_tiled, tile_plan

    net = torch.nn.Identity()
    x = torch.rand(1, 3, 200, 300)
    seen: list[tuple[int, int]] = []
    with reporting_tiles(lambda done, total: seen.append((done, total))):
        restore_tiled(net, x, 64, overlap=16)
    plan = tile_plan(net, 200, 300, 64, 16)
    total = len(plan.rows) * len(plan.cols)
    assert total > 1 and seen == [(i, total) for i in range(1, total + 1)]
    restore_tiled(net, x, 64, overlap=16)  # outside: nothing more reported
    assert len(seen) == total


def test_the_default_overlap_is_64_pixels() -> None:
    """docs/restore.md: tiles are cross-faded in the middle of their 64-pixel overlap."""
    from zoo.restore import restore_tensor

    spy = TileSpy(pad_multiple=1)
    assert tile_plan(spy, 300, 300, 128).overlap == 64
    restore_tensor(spy, coordinate_image(300, 300), tile=128)
    assert sorted({y0 for y0, _, _, _ in spy.calls}) == [0, 64, 128, 192]  # 128-px tiles, step 64


def test_a_network_padding_to_4_still_gets_tiles_on_the_8_pixel_block_grid() -> None:
    """lcm(8, 4) = 8: a 100-px tile is cut to 96, and every origin is a multiple of 8."""
    spy = TileSpy(pad_multiple=4)
    restore_tiled(spy, coordinate_image(300, 200), tile=100, overlap=24)
    assert len(spy.calls) > 4
    assert all(y0 % 8 == 0 and x0 % 8 == 0 for y0, x0, _, _ in spy.calls)
    assert max(max(h, w) for _, _, h, w in spy.calls) == 96


class Doubler(Restorer):
    """Twice its input: values above 1 that the tiled result must clamp."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def test_tiled_results_are_clamped_to_the_unit_range() -> None:
    x = torch.rand(1, 3, 100, 100)
    out = restore_tiled(Doubler(), x, tile=32)
    assert out.max() <= 1
    torch.testing.assert_close(out, (2 * x).clamp(0, 1), atol=1e-6, rtol=0)  # weights sum to 1


def test_after_running_out_of_memory_untiled_the_first_tile_cuts_the_image() -> None:
    """A 512-px tile on a 512x300 image is the whole image again: the retry is 256-px tiles."""
    assert smaller_tile(None, 512, 300, "cpu") == 256
    assert smaller_tile(None, 513, 300, "cpu") == 512


def test_the_blending_ramp_is_a_raised_cosine_over_the_middle_half() -> None:
    """For 8 pixels (centres at 0.5 .. 7.5) the ramp rises over 2..6: sin^2(pi/2 * (c - 2) / 4)."""
    expected = [0, 0] + [math.sin(math.pi / 16 * k) ** 2 for k in (1, 3, 5, 7)] + [1, 1]
    torch.testing.assert_close(_ramp(8, torch.float64, torch.device("cpu")),
                               torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=0)
