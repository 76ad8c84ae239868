"""zoo: a model zoo for JPEG artifact removal.

>>> import zoo
>>> model = zoo.load("arnet-nogan")
>>> restored = model.restore(pil_image)

Beyond these names: ``zoo.restore`` (files: ``restore_file``), ``zoo.metrics``
(``compute_metrics``, ``METRICS``), ``zoo.degrade`` (the benchmark's JPEG and protocols:
``jpeg_roundtrip``, ``to_protocol``), ``zoo.bench.api`` (``bench``, ``zoo bench`` as a
function), ``zoo.hub`` (``save_pretrained``, ``push_to_hub``) and ``zoo.train`` (``Trainer``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from zoo.errors import ImageError, WeightsError, ZooError
from zoo.registry import create_model, get_model_info, list_models, register_model

if TYPE_CHECKING:  # torch is imported by the first load, not by `import zoo`
    import torch

    from zoo.models.base import Restorer

__version__ = "0.1.0"

__all__ = ["ImageError", "WeightsError", "ZooError", "__version__", "create_model", "get_model_info",
           "list_models", "load", "register_model"]


def load(name_or_path: str | os.PathLike[str], *, device: str | int | torch.device | None = None,
         weights: str | os.PathLike[str] | None = None, precision: str = "fp32") -> Restorer:
    """Load a model ready for inference (eval mode, pretrained weights).

    ``name_or_path`` is a registry name (``"arnet-nogan"``, see :func:`list_models`),
    ``"hf-hub:ORG/NAME"`` for a Hub repo holding ``config.json`` + ``model.safetensors``, a
    local folder of the same form (a ``zoo train`` export), a ``.safetensors`` file with its
    ``config.json`` beside it, or a training run's ``OUT/best/step-N.safetensors``; add ``+x8``
    for the model's self-ensemble (``"unet-l1+x8"``). ``weights``: a safetensors file to load
    into a registry model instead of its own. ``device``: "cpu", "cuda", "cuda:N", a GPU's
    index (``0``), a ``torch.device``, or "mps" (default: cuda when available). ``precision``: "fp32" (default),
    or "bf16" / "fp16" to run under autocast, faster where the hardware computes that
    precision natively (docs/restore.md, "Precision").

    Raises :class:`ZooError` (one line) for a name, file, device or precision that cannot be
    used; :class:`WeightsError` (a ZooError) for missing or mismatched weights. The caller's
    random numbers are left as they were (building the network draws its initial weights).
    """
    import torch

    from zoo.loading import load_model

    with torch.random.fork_rng(devices=[]):
        return load_model(name_or_path, device=device, weights=weights, precision=precision)
