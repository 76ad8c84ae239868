"""Validation during training: restore the validation images at fixed qualities, score them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from zoo.fp32 import exact_fp32
from zoo.metrics import compute_metrics
from zoo.restore import array_to_tensor, tensor_to_uint8
from zoo.train.data import ValidationSet

__all__ = ["PSNR_CEILING_DB", "evaluate"]

PSNR_CEILING_DB = 100.0
"""Per-image PSNR and PSNR-B count at most this in validation means. An image reproduced exactly
scores infinity, which would make every mean it is in infinite: checkpoints would tie (selection
stays on the first) and a JPEG input floor of infinity (``select.not_worse_than_input``) would
shut out every checkpoint not exact on it. A uint8 image scores above 100 dB only with fewer
than one value in 150 000 off by one level; JPEG restorations of photographs score 25 to 50 dB,
so their means are unchanged."""

_CAPPED = frozenset({"psnr", "psnr_b"})


@torch.no_grad()
def evaluate(model: nn.Module, valset: ValidationSet, device: torch.device,
             metrics: Sequence[str]) -> dict[int, dict[str, float]]:
    """Mean metrics per quality: ``{q: {metric: value}}``, in fp32 as ``zoo.load`` runs the model
    (bf16 autocast would score a slightly different network than the one exported).

    A metric undefined on an image (NaN: LPIPS below 31 px, say) is averaged over the others;
    the same images are left out at every validation, so checkpoints stay comparable. PSNR and
    PSNR-B count at most :data:`PSNR_CEILING_DB` per image.
    """
    was_training = model.training
    model.eval()
    scores: dict[int, dict[str, list[float]]] = {q: {m: [] for m in metrics}
                                                 for q in valset.qualities}
    try:
        with exact_fp32():  # TF32 moves scores by the thousandths of a dB that choose checkpoints
            for _, target, degraded in valset.items:
                for q, image in degraded.items():
                    x = array_to_tensor(image).to(device)
                    y = model(x)
                    values = compute_metrics(tensor_to_uint8(y), target, names=list(metrics),
                                             device=device)
                    for m in metrics:
                        value = values[m]
                        if m in _CAPPED and value > PSNR_CEILING_DB:  # NaN stays NaN
                            value = PSNR_CEILING_DB
                        scores[q][m].append(value)
    finally:
        model.train(was_training)
    return {q: {m: _mean_without_nan(v) for m, v in row.items()} for q, row in scores.items()}


def _mean_without_nan(values: list[float]) -> float:
    """The mean of the values that are not NaN."""
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan
