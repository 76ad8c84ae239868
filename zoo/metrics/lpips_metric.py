"""LPIPS (AlexNet, v0.1) on uint8 images: inputs scaled to [-1, 1], grey as three channels."""

from __future__ import annotations

import numpy as np
import torch

from zoo.metrics.lpips_weights import lpips_model


def to_lpips_input(image: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """uint8 HxW or HxWx3 -> float32 (1, 3, H, W) in [-1, 1]."""
    x = torch.tensor(image, device=device, dtype=torch.float32)  # copies: inputs may be read-only
    x = x[..., None].expand(*x.shape, 3) if x.ndim == 2 else x[..., :3]
    return (x.permute(2, 0, 1)[None] / 127.5 - 1.0).contiguous()


def lpips_alex(restored: np.ndarray, reference: np.ndarray,
               device: torch.device | str | None = None) -> float:
    """LPIPS distance with the AlexNet backbone (lower is better)."""
    if reference is None:
        raise ValueError("LPIPS needs a reference image")
    if restored.shape != reference.shape:
        raise ValueError(f"image shapes differ: {restored.shape} vs {reference.shape}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model = lpips_model("alex", dev)
    with torch.inference_mode():
        value = model(to_lpips_input(restored, dev), to_lpips_input(reference, dev))
    return float(value.item())
