"""Export of the chosen generator: ``config.json`` + fp16 ``model.safetensors`` + model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.models.base import Restorer

__all__ = ["export_model"]


def export_model(model: Restorer, folder: Path, training: dict[str, Any]) -> Path:
    """Write a folder loadable with ``zoo.load(folder)`` and ready for ``zoo push``, with
    ``training.json`` and a card section on the run (recipe, steps, chosen checkpoint, scores)."""
    from zoo.hub import save_pretrained

    return save_pretrained(model.eval(), Path(folder), training=training)
