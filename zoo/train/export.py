"""Export of the chosen generator: ``config.json`` + fp16 ``model.safetensors`` + model card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.models.base import Restorer
from zoo.train.files import write_folder

__all__ = ["export_model"]


def export_model(model: Restorer, folder: Path, training: dict[str, Any]) -> Path:
    """Write a folder loadable with ``zoo.load(folder)`` and ready for ``zoo push``, with
    ``training.json`` and a card section on the run (recipe, steps, chosen checkpoint, scores).

    It is written beside ``folder`` and renamed into place, replacing an older export: a kill
    leaves the whole export or none."""
    from zoo.hub import save_pretrained

    return write_folder(Path(folder), "the export",
                        lambda tmp: save_pretrained(model.eval(), tmp, training=training))
