"""Tiled inference: restore a large image tile by tile, with no seams and bounded memory.

Tile origins are multiples of ``lcm(8, pad_multiple)``, so that every tile sees the 8x8 JPEG
block grid where the whole image has it and needs no padding inside the image. Neighbouring
tiles overlap; inside an overlap the two predictions are cross-faded with a raised-cosine ramp
that lies in the middle of the overlap, so each pixel is taken mostly from the tile in which it
is farther from the edge. The ramps of neighbours sum to one (a partition of unity, also in 2-D
as products of 1-D ramps), so tiles are added into the output as they are computed, without a
weight map and without holding the tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

import torch

from zoo.models.base import Restorer

__all__ = ["DEFAULT_OVERLAP", "TilePlan", "auto_batch", "auto_tile", "auto_tile_for", "padded_size",
           "reporting_tiles", "restore_tiled", "run_whole", "smaller_tile", "tile_grid", "tile_plan"]

DEFAULT_OVERLAP = 64
JPEG_BLOCK = 8
AUTO_TILE = {"cpu": 512, "cuda": 1024}
"""Tile side used when tiling is automatic, per device type."""
AUTO_TILE_ABOVE = {"cpu": 1024 * 1024, "cuda": 2048 * 2048}
"""Images with more pixels than this are tiled automatically, per device type."""


TileCallback = Callable[[int, int], None]
_tile_report: ContextVar[TileCallback | None] = ContextVar("tile_report", default=None)


@contextmanager
def reporting_tiles(callback: TileCallback) -> Iterator[None]:
    """Within it, :func:`restore_tiled` calls ``callback(done, total)`` after each tile: the
    progress of one large image (a 96-MP photograph takes minutes on a CPU)."""
    token = _tile_report.set(callback)
    try:
        yield
    finally:
        _tile_report.reset(token)


def auto_tile(height: int, width: int, device: torch.device | str) -> int | None:
    """The tile side to use for an image when none was asked for, or None for no tiling."""
    kind = _auto_kind(device)
    return AUTO_TILE[kind] if height * width > AUTO_TILE_ABOVE[kind] else None


def padded_size(model: Restorer, height: int, width: int) -> tuple[int, int]:
    """The size ``model`` runs an image at: each side padded up to its ``pad_multiple`` (a strip
    8 px high runs at 32 for a multiple of 32, four times its pixels)."""
    unit = max(1, int(getattr(model, "pad_multiple", 1)))
    return -(-height // unit) * unit, -(-width // unit) * unit


def auto_tile_for(model: Restorer, height: int, width: int, device: torch.device | str) -> int | None:
    """:func:`auto_tile` for the size ``model`` really runs the image at."""
    return auto_tile(*padded_size(model, height, width), device)


def auto_batch(height: int, width: int, device: torch.device | str) -> int:
    """How many untiled images of this size one forward takes when tiling is automatic: as many
    as :data:`AUTO_TILE_ABOVE` pixels hold (at least one), so that a batch of images each below
    the tiling threshold does not ask for the memory of a far larger image."""
    return max(1, AUTO_TILE_ABOVE[_auto_kind(device)] // max(1, height * width))


SMALLEST_FALLBACK_TILE = 128
"""The smallest tile :func:`smaller_tile` falls back to."""


def smaller_tile(tile: int | None, height: int, width: int, device: torch.device | str) -> int | None:
    """The tile side to retry with after running out of memory at ``tile`` (None: untiled), or
    None when there is no smaller one worth trying: the automatic tile for the device when it
    cuts the image, then halves, down to :data:`SMALLEST_FALLBACK_TILE`."""
    side = AUTO_TILE[_auto_kind(device)] if tile is None else tile // 2
    while side >= max(height, width):
        side //= 2
    return side if side >= SMALLEST_FALLBACK_TILE else None


def auto_tile_rule(device: torch.device | str) -> str:
    """What :func:`auto_tile` does on ``device``, in words (``512 px above 1.0 MP``)."""
    kind = _auto_kind(device)
    return f"{AUTO_TILE[kind]} px above {AUTO_TILE_ABOVE[kind] / 2**20:.1f} MP"


def _auto_kind(device: torch.device | str) -> str:
    kind = torch.device(device).type
    return kind if kind in AUTO_TILE else "cpu"


def _grid_unit(model: Restorer) -> int:
    return math.lcm(JPEG_BLOCK, max(1, int(getattr(model, "pad_multiple", 1))))


def tile_grid(length: int, tile: int, overlap: int, unit: int) -> tuple[int, int, list[int]]:
    """Tile side, actual overlap and tile origins along one axis of ``length`` pixels.

    The tile side is rounded down to a multiple of ``unit``, and raised to two units when an
    overlap is asked for (one unit would leave no room for it, and seams would show); the step
    between origins is a multiple of ``unit`` no smaller than half a tile (so at most two tiles
    overlap anywhere). The last tile is cut at the image's edge; it is always longer than the
    overlap.
    """
    tile = max(unit * (2 if overlap > 0 else 1), tile // unit * unit)
    step = max(unit, (tile - max(0, overlap)) // unit * unit)
    step = max(step, math.ceil(tile / 2 / unit) * unit)
    step = min(step, tile)
    origins = [0]
    while origins[-1] + tile < length:
        origins.append(origins[-1] + step)
    return tile, tile - step, origins


def tile_side(model: Restorer, tile: int) -> int:
    """The side of the tiles ``--tile tile`` gives ``model``: whole cells of its grid
    (``lcm(8, pad_multiple)``), two at least when tiles overlap."""
    return tile_grid(tile, tile, DEFAULT_OVERLAP, _grid_unit(model))[0]


class TilePlan(NamedTuple):
    """The tiles :func:`restore_tiled` cuts an image into."""

    side: int
    """Tile side: the one asked for, on the model's grid (see :func:`tile_grid`)."""
    overlap: int
    """Pixels shared by neighbouring tiles (the same along both axes)."""
    rows: list[int]
    """Tile origins down the image."""
    cols: list[int]
    """Tile origins across the image."""


def tile_plan(model: Restorer, height: int, width: int, tile: int,
              overlap: int = DEFAULT_OVERLAP) -> TilePlan | None:
    """The tiles :func:`restore_tiled` uses for ``model`` on a ``height`` x ``width`` image when
    asked for ``tile``-pixel tiles overlapping by ``overlap``; None when the image fits in one
    tile, so that it is restored whole."""
    if tile <= 0:
        raise ValueError(f"tile must be positive, got {tile}")
    unit = _grid_unit(model)
    side, used, rows = tile_grid(height, tile, overlap, unit)
    cols = tile_grid(width, tile, overlap, unit)[2]
    if len(rows) == 1 and len(cols) == 1:
        return None
    return TilePlan(side, used, rows, cols)


def _ramp(overlap: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Weights rising from 0 to 1 across an overlap: raised cosine over its middle half."""
    exact = torch.float32 if device.type == "mps" else torch.float64  # mps has no float64
    pos = torch.arange(overlap, dtype=exact, device=device) + 0.5
    start, width = overlap / 4, overlap / 2
    t = ((pos - start) / width).clamp(0.0, 1.0)
    return (0.5 - 0.5 * torch.cos(math.pi * t)).to(dtype)


def _axis_weights(origin: int, size: int, length: int, overlap: int, ramp: torch.Tensor,
                  dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    w = torch.ones(size, dtype=dtype, device=device)
    if overlap > 0 and origin > 0:
        w[:overlap] = ramp
    if overlap > 0 and origin + size < length:
        w[size - overlap:] = 1.0 - ramp
    return w


def _where_it_runs(model: Restorer, x: torch.Tensor) -> tuple[torch.device, torch.dtype]:
    """The model's device and floating dtype (``x``'s for a model without parameters)."""
    param = next(model.parameters(), None)
    run_device = param.device if param is not None else x.device
    run_dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
    return run_device, run_dtype


@torch.no_grad()
def run_whole(model: Restorer, x: torch.Tensor) -> torch.Tensor:
    """``model`` on all of ``x`` at once, where the model is; back on ``x``'s device and dtype,
    clamped to [0, 1]. The input is made contiguous: a channels-last or permuted tensor (a view
    of an HxWx3 array) runs slower convolution paths."""
    run_device, run_dtype = _where_it_runs(model, x)
    # Out of place: an identity model returns a view of the caller's tensor.
    return model(x.to(run_device, run_dtype).contiguous()).to(x.device, x.dtype).clamp(0.0, 1.0)


@torch.no_grad()
def restore_tiled(model: Restorer, x: torch.Tensor, tile: int,
                  overlap: int = DEFAULT_OVERLAP) -> torch.Tensor:
    """Run ``model`` on ``x`` (``(1, 3, H, W)`` float in [0, 1]) tile by tile.

    Tiles are moved to the model's device one at a time and the output is accumulated on
    ``x``'s device, so the memory the network needs grows with ``tile``, not with the image.
    Returns a ``(1, 3, H, W)`` tensor on ``x``'s device, clamped to [0, 1].
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"restore_tiled expects a (1, C, H, W) tensor, got {tuple(x.shape)}")
    h, w = x.shape[-2:]
    plan = tile_plan(model, h, w, tile, overlap)
    if plan is None:
        return run_whole(model, x)

    run_device, run_dtype = _where_it_runs(model, x)
    # Blended at float32 or better: half-precision sums of ramp-weighted tiles lose grey levels.
    acc = torch.promote_types(x.dtype, torch.float32)
    out = torch.zeros(x.shape, dtype=acc, device=x.device)
    ramp = _ramp(plan.overlap, acc, x.device)
    report, total, done = _tile_report.get(), len(plan.rows) * len(plan.cols), 0
    for y0 in plan.rows:
        th = min(plan.side, h - y0)
        wy = _axis_weights(y0, th, h, plan.overlap, ramp, acc, x.device)
        for x0 in plan.cols:
            tw = min(plan.side, w - x0)
            wx = _axis_weights(x0, tw, w, plan.overlap, ramp, acc, x.device)
            piece = x[..., y0:y0 + th, x0:x0 + tw].to(run_device, run_dtype).contiguous()
            restored = model(piece).to(x.device, acc)
            out[..., y0:y0 + th, x0:x0 + tw].addcmul_(restored, wy[:, None] * wx[None, :])
            done += 1
            if report is not None:
                report(done, total)
    return out.clamp_(0.0, 1.0).to(x.dtype)
