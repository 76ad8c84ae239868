"""Restoring images with a model: PIL images, uint8 arrays, float tensors, and files.

Every kind of input comes back as the same kind. Grey images go through the RGB model as three
equal channels and come back as the luma of the output (0.299 R + 0.587 G + 0.114 B); an alpha
channel is kept aside and put back unchanged.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from PIL import Image

from zoo.atomic import check_replaceable
from zoo.degrade import GREY_WEIGHTS
from zoo.devices import DeviceSpec, usable_device
from zoo.errors import ImageError, first_line, is_out_of_memory
from zoo.fp32 import exact_fp32
from zoo.image_output import (RESULT_SOFTWARE, check_output, output_format, output_path, to_pil,
                              write_image)
from zoo.imaging import LoadedImage, check_size, from_pil, read_image
from zoo.models.base import Restorer
from zoo.orientation import as_stored, upright
# QualityWarning stays importable here: docs/restore.md names it zoo.restore.QualityWarning
from zoo.quality_warning import QualityWarning, warn_above_training
from zoo.tiling import (DEFAULT_OVERLAP, auto_batch, auto_tile_for, padded_size, restore_tiled,
                         run_whole, smaller_tile)

__all__ = ["QualityWarning", "array_to_tensor", "resolve_device", "restore_array", "restore_file",
           "restore_image", "restore_tensor", "tensor_to_uint8"]


def resolve_device(device: DeviceSpec,
                   model: Restorer | None = None) -> torch.device:
    """The device to run on: the one asked for (checked), else the model's, else the CPU."""
    if device is not None:
        return usable_device(device)
    if model is not None:
        param = next(model.parameters(), None)
        if param is not None:
            return param.device
    return torch.device("cpu")


@contextmanager
def _inference(model: Restorer, device: torch.device) -> Iterator[None]:
    """Eval mode and no autograd on ``device``; the model's training flag is restored after.

    ``no_grad`` rather than ``inference_mode``: the results are handed to the caller, and
    inference tensors would refuse later in-place edits and autograd (the speed is the same).
    fp32 is fp32 on GPUs too (no TF32): lower precision is the caller's choice (``precision=``).
    """
    was_training = model.training
    model.to(device).eval()
    try:  # inference_mode(False): inside a caller's inference_mode too
        with torch.inference_mode(False), torch.no_grad(), exact_fp32():
            yield
    finally:
        model.train(was_training)


def restore_tensor(model: Restorer, x: torch.Tensor, *, tile: int | None = None,
                   device: DeviceSpec = None,
                   overlap: int = DEFAULT_OVERLAP) -> torch.Tensor:
    """Restore a float ``(3, H, W)`` or ``(B, 3, H, W)`` tensor in [0, 1]; same shape and device.

    One-channel tensors (grey) are accepted too and return the luma of the output. ``tile``:
    None tiles automatically for large images, 0 never tiles, a positive side tiles with it.
    """
    if not torch.is_floating_point(x):
        raise TypeError(f"expected a float tensor in [0, 1], got dtype {x.dtype}")
    if x.layout != torch.strided or x.is_meta:
        raise TypeError(f"expected a dense tensor with values, got a "
                        f"{'meta' if x.is_meta else x.layout} tensor; use x.to_dense() or real data")
    _check_range(x)
    single = x.ndim == 3
    batch = x.unsqueeze(0) if single else x
    if batch.ndim != 4 or batch.shape[1] not in (1, 3):
        raise ValueError(f"expected a (C, H, W) or (B, C, H, W) tensor with C = 3 (RGB) or 1 (grey), "
                         f"got {tuple(x.shape)}")
    check_size(batch.shape[-2], batch.shape[-1])  # as files and PIL images are refused
    tile = _check_tile(tile)
    if batch.shape[0] == 0:  # nothing to restore (networks differ in how they fail on it)
        return x.clone()
    grey = batch.shape[1] == 1
    run_device = resolve_device(device, model)

    with _inference(model, run_device):
        rgb = batch.expand(-1, 3, -1, -1) if grey else batch
        out = _restore_rgb(model, rgb, tile, overlap, run_device).to(x.device, x.dtype)
        if grey:  # at float32 or better: a bfloat16 sum of three products loses a grey level
            exact = torch.promote_types(out.dtype, torch.float32)
            weights = torch.tensor(GREY_WEIGHTS, dtype=exact, device=out.device).view(1, 3, 1, 1)
            out = (out.to(exact) * weights).sum(dim=1, keepdim=True).to(x.dtype)
    return out[0] if single else out


def _restore_rgb(model: Restorer, rgb: torch.Tensor, tile: int | None, overlap: int,
                 run_device: torch.device) -> torch.Tensor:
    """``(B, 3, H, W)`` restored whole or in tiles. With automatic tiling (``tile`` None) a batch
    runs as many images at a time as the device's untiled limit holds, and running out of memory
    is retried in smaller tiles (a warning says so) rather than failing the image."""
    h, w = rgb.shape[-2:]
    automatic = tile is None
    side = auto_tile_for(model, h, w, run_device) if automatic else (tile or None)
    while True:
        try:
            if side is None:
                step = auto_batch(*padded_size(model, h, w), run_device) if automatic else rgb.shape[0]
                pieces = [run_whole(model, rgb[i:i + step]) for i in range(0, rgb.shape[0], step)]
            else:  # the input stays where it is; restore_tiled moves one tile at a time
                pieces = [restore_tiled(model, rgb[i:i + 1], side, overlap)
                          for i in range(rgb.shape[0])]
            return pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        except (RuntimeError, MemoryError) as exc:  # a CPU's allocation failure: RuntimeError
            smaller = (smaller_tile(side, h, w, run_device)
                       if automatic and is_out_of_memory(exc) else None)
            if smaller is None:
                raise
            warnings.warn(f"out of {run_device.type} memory for a {w}x{h} image "
                          f"{'whole' if side is None else f'in {side}-px tiles'}: trying "
                          f"{smaller}-px tiles", stacklevel=4)
            side = smaller
        if run_device.type == "cuda":  # after the handler, whose traceback held the failed tensors
            torch.cuda.empty_cache()


def _check_tile(tile: Any) -> int | None:
    """``tile`` as an int (None: automatic, 0: never), or a one-line error naming it."""
    if tile is None:
        return None
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)):
        raise TypeError(f"tile must be an int (None: automatic, 0: no tiling), got {tile!r}")
    if tile < 0:
        raise ValueError(f"tile must be >= 0 (0: no tiling), got {tile}")
    return int(tile)


RANGE_TOLERANCE = 1 / 255
"""How far outside [0, 1] a float input may stray (one grey level) before it is refused."""


def _check_range(x: torch.Tensor) -> None:
    """Refuse NaN/inf and values clearly outside [0, 1] (0..255 data, say), naming the range."""
    if x.numel() == 0:
        return
    values = x.detach().float()
    low, high = (float(v) for v in torch.aminmax(values))
    if low >= -RANGE_TOLERANCE and high <= 1 + RANGE_TOLERANCE:  # NaN fails both
        return
    finite = torch.isfinite(values)
    bad = int(finite.numel() - finite.sum())
    where = f"values from {low:g} to {high:g}"
    if bad:  # the range of the finite values, and how many are not (NaN made both ends NaN)
        shown = values[finite]
        low, high = (float(v) for v in torch.aminmax(shown)) if shown.numel() else (0.0, 0.0)
        where = (f"finite values from {low:g} to {high:g} and " if shown.numel() else "no finite "
                 "value, ") + f"{bad} NaN or infinite value{'s' if bad > 1 else ''}"
    hint = "; divide 0..255 data by 255" if high > 1.5 else ""
    raise ValueError(f"expected float values in [0, 1], got {where}{hint}")


def array_to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float (1, 3, H, W) in [0, 1], contiguous.

    Contiguous because a channel-interleaved view (``permute`` of the HxWx3 array) sends
    convolutions down slower paths: ``arnet-nogan`` ran at half speed in fp32, and fp16
    autocast ten times slower, on this project's CPU. The planes are split at uint8, before
    the float copy, so that no second float image is made.
    """
    planes = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))
    return planes.float().div_(255)[None]


def tensor_to_uint8(x: torch.Tensor, *, consume: bool = False) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> C-contiguous uint8 HxWx3, rounded and clamped; with
    ``consume`` a float32 ``x`` is scaled in place rather than copied (a large image's output)."""
    scaled = x[0].float().mul_(255) if consume else x[0].float().mul(255)
    scaled = scaled.round_().clamp_(0, 255).to(torch.uint8)
    return scaled.permute(1, 2, 0).contiguous().cpu().numpy()


def _grey_uint8(rgb: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> the uint8 HxW full-range BT.601 grey, rounded."""
    weights = torch.tensor(GREY_WEIGHTS, dtype=torch.float32).view(1, 3, 1, 1)
    y = (rgb.cpu().float() * weights).sum(dim=1)[0] * 255
    return y.round_().clamp_(0, 255).to(torch.uint8).numpy()


def restore_pixels(model: Restorer, pixels: np.ndarray, *, tile: int | None = None,
                   device: DeviceSpec = None) -> np.ndarray:
    """Restore uint8 HxWx3 RGB or HxW grey pixels (no alpha); returns the same shape."""
    grey = pixels.ndim == 2
    rgb = np.repeat(pixels[..., None], 3, axis=2) if grey else pixels
    out = restore_tensor(model, array_to_tensor(rgb), tile=tile, device=device)
    return _grey_uint8(out) if grey else tensor_to_uint8(out, consume=True)


def restore_array(model: Restorer, array: np.ndarray, *, tile: int | None = None,
                  device: DeviceSpec = None) -> np.ndarray:
    """Restore a uint8 HxW, HxWx1, HxWx3 or HxWx4 (alpha kept) array; same shape and dtype."""
    if array.dtype != np.uint8:
        raise TypeError(f"expected a uint8 array, got {array.dtype}; pass floats as a tensor")
    if array.ndim == 2:
        return restore_pixels(model, array, tile=tile, device=device)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 array, got {array.shape}")
    channels = array.shape[2]
    if channels == 1:
        return restore_pixels(model, array[..., 0], tile=tile, device=device)[..., None]
    out = restore_pixels(model, array[..., :3], tile=tile, device=device)
    if channels == 4:
        out = np.concatenate([out, array[..., 3:]], axis=2)
    return out


def restore_loaded(model: Restorer, image: LoadedImage, *, tile: int | None = None,
                   device: DeviceSpec = None) -> LoadedImage:
    """Restore a :class:`LoadedImage`; alpha, ICC profile and EXIF are carried over. A file
    turned upright by its EXIF orientation is restored as stored, where its JPEG blocks lie."""
    stored = as_stored(image.pixels, image.orientation)
    pixels = upright(restore_pixels(model, stored, tile=tile, device=device), image.orientation)
    return dataclasses.replace(image, pixels=np.ascontiguousarray(pixels))


def _restore_pil(model: Restorer, image: Image.Image, *, tile: int | None,
                 device: DeviceSpec) -> Image.Image:
    name = getattr(image, "filename", "") or "the PIL image"
    try:
        loaded = from_pil(image)
    except OSError as exc:  # decoding is lazy: a damaged file fails here, at image.load()
        raise ImageError(f"{name}: corrupt or unreadable image ({type(exc).__name__}: "
                         f"{first_line(exc)})") from None
    warn_above_training(model, image, name)
    out = to_pil(restore_loaded(model, loaded, tile=tile, device=device))
    # From the LoadedImage, not image.info: a CMYK image's profile was converted to sRGB's.
    carried = {"icc_profile": loaded.icc_profile, "exif": loaded.exif, "dpi": loaded.dpi,
               "xmp": loaded.xmp}
    out.info.update({key: value for key, value in carried.items() if value is not None})
    return out


def restore_image(model: Restorer, image: Any, *, tile: int | None = None,
                  device: DeviceSpec = None) -> Any:
    """Restore a PIL image, a uint8 numpy array or a float tensor; returns the same kind.

    - PIL: grey modes come back as ``L`` (``LA`` with alpha), colour as ``RGB`` (``RGBA``);
      palette and CMYK images come back as RGB(A).
    - numpy uint8 HxW, HxWx3 or HxWx4: same shape and dtype (the alpha plane unchanged).
    - torch float (3, H, W) or (B, 3, H, W) in [0, 1]: same shape, dtype and device.

    ``tile``: None tiles automatically when the image is large, 0 never, N tiles of NxN.
    ``device``: where the model runs (it is moved there); default: where the model is.
    """
    if isinstance(image, Image.Image):
        return _restore_pil(model, image, tile=tile, device=device)
    if isinstance(image, np.ndarray):
        return restore_array(model, image, tile=tile, device=device)
    if isinstance(image, torch.Tensor):
        return restore_tensor(model, image, tile=tile, device=device)
    named = (" (for image files: zoo.restore.restore_file(model, IN, OUT))"
             if isinstance(image, (str, os.PathLike)) else "")
    raise TypeError(f"cannot restore a {type(image).__name__}; pass a PIL image, "
                    f"a uint8 numpy array or a float tensor{named}")


def _resolved(path: str | os.PathLike[str]) -> Path:
    """``path`` with its links followed; links that loop are an ImageError naming it."""
    try:
        return Path(path).resolve()
    except RuntimeError:  # Python 3.11's "Symlink loop" (3.13 raises OSError ELOOP, as reading does)
        raise ImageError(f"{path}: its symbolic links form a loop; it names no file") from None


def restore_file(model: Restorer, in_path: str | os.PathLike[str],
                 out_path: str | os.PathLike[str], *, tile: int | None = None,
                 device: DeviceSpec = None) -> Path:
    """Read, restore and write one image (format from ``out_path``'s suffix, PNG by default).

    Raises :class:`~zoo.errors.ImageError` for an unusable input, and before the model runs
    for an output suffix that cannot be written, an output that is the input itself, a result
    its format cannot hold (alpha in JPEG, a side over WebP's or JPEG's limit), or an output
    that cannot be replaced (an OSError: write-protected, a folder in its place).
    """
    # A folder without a suffix would become FOLDER.png beside it (one with a suffix, where the
    # result should be, is refused below as the file it stands in place of).
    if str(out_path).endswith(("/", os.sep)) or (
            Path(out_path).is_dir() and output_path(out_path) != Path(out_path)):
        raise ImageError(f"{out_path}: names a folder, not a file; name the result file "
                         "(FOLDER/NAME.png)")
    output_format(out_path)
    if _resolved(in_path) == _resolved(output_path(out_path)):
        raise ImageError(f"{in_path}: the output would overwrite the input; choose another "
                         "output name")
    image = read_image(in_path)
    warn_above_training(model, in_path)
    # Known before the model runs: what the format cannot hold, a protected file, a folder there.
    check_output(out_path, image)
    check_replaceable(output_path(out_path))
    restored = restore_loaded(model, image, tile=tile, device=device)
    return write_image(out_path, restored, software=result_software(model))


def result_software(model: Restorer) -> str:
    """What a PNG result says made it: ``zoo VERSION (MODEL)``."""
    from zoo import __version__

    return f"{RESULT_SOFTWARE} {__version__} ({model.name})"
