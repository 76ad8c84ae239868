"""LPIPS (AlexNet, v0.1) on uint8 images: inputs scaled to [-1, 1], grey as three channels.

A benchmark scores every model at every quality against the same ground truth, so the
reference's normalised backbone features are kept for the last reference seen (keyed by a
digest of its pixels, not by object identity) and only the restored image goes through the
network again. The distance is ``lpips.LPIPS.forward``'s own arithmetic, split in two.
"""

from __future__ import annotations

import numpy as np
import torch

from zoo.metrics.digest import KeepLast, pixel_digest
from zoo.metrics.lpips_weights import MIN_SIDE as _MIN_SIDES
from zoo.metrics.lpips_weights import lpips_model

_REFERENCE_FEATURES: KeepLast[list[torch.Tensor]] = KeepLast()
MIN_SIDE = _MIN_SIDES["alex"]


def to_lpips_input(image: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """uint8 HxW or HxWx3 -> float32 (1, 3, H, W) in [-1, 1]."""
    # A float32 copy: inputs may be read-only, or views with negative strides (torch takes neither).
    x = torch.from_numpy(image.astype(np.float32)).to(device)
    x = x[..., None].expand(*x.shape, 3) if x.ndim == 2 else x[..., :3]
    return (x.permute(2, 0, 1)[None] / 127.5 - 1.0).contiguous()


def lpips_features(model: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The unit-normalised backbone activations that LPIPS compares, one tensor per layer."""
    import lpips

    return [lpips.normalize_tensor(out) for out in model.net(model.scaling_layer(x))]


def lpips_distance(model: torch.nn.Module, feats0: list[torch.Tensor],
                   feats1: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the spatially averaged, linearly weighted squared differences."""
    import lpips

    terms = [lpips.spatial_average(lin((f0 - f1) ** 2), keepdim=True)
             for lin, f0, f1 in zip(model.lins, feats0, feats1)]
    return sum(terms[1:], terms[0])


def _reference_features(model: torch.nn.Module, reference: np.ndarray,
                        dev: torch.device) -> list[torch.Tensor]:
    return _REFERENCE_FEATURES.get((pixel_digest(reference), str(dev)),
                                   lambda: lpips_features(model, to_lpips_input(reference, dev)))


def prepare_lpips_reference(reference: np.ndarray, device: torch.device | str | None = None) -> None:
    """Compute and keep the reference's features, as the next :func:`lpips_alex` with this
    reference would (a benchmark does it before timing the rows that share it)."""
    if min(reference.shape[:2]) < MIN_SIDE:
        return
    dev = torch.device(device) if device is not None else torch.device("cpu")
    with torch.inference_mode():
        _reference_features(lpips_model("alex", dev), reference, dev)


def lpips_alex(restored: np.ndarray, reference: np.ndarray,
               device: torch.device | str | None = None) -> float:
    """LPIPS distance with the AlexNet backbone (lower is better); NaN below 31 px a side."""
    if reference is None:
        raise ValueError("LPIPS needs a reference image")
    if restored.shape != reference.shape:
        raise ValueError(f"image shapes differ: {restored.shape} vs {reference.shape}")
    if min(restored.shape[:2]) < MIN_SIDE:
        return float("nan")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = lpips_model("alex", dev)
    with torch.inference_mode():
        feats = lpips_features(model, to_lpips_input(restored, dev))
        value = lpips_distance(model, feats, _reference_features(model, reference, dev))
    return float(value.item())
