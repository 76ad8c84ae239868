"""Export of the chosen generator: ``config.json`` + fp16 ``model.safetensors`` + model card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.models.base import Restorer

__all__ = ["export_model"]


def export_model(model: Restorer, folder: Path, training: dict[str, Any]) -> Path:
    """Write a folder loadable with ``zoo.load(folder)`` and ready for ``zoo push``; the card
    gets a training section (recipe, steps, chosen checkpoint, its validation scores)."""
    from zoo.hub import save_pretrained

    folder = Path(folder)
    save_pretrained(model.eval(), folder)
    (folder / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    card = folder / "README.md"
    lines = ["", "## Training (this export)", "",
             f"- recipe: `{training.get('recipe', '?')}`",
             f"- steps: {training.get('steps', '?')}; chosen checkpoint: step {training.get('chosen_step', '?')} "
             f"({training.get('chosen_stage', '?')}), by {training.get('select_metric', '?')}"]
    for q, scores in (training.get("validation") or {}).items():
        values = ", ".join(f"{k} {v:.4f}" for k, v in scores.items())
        lines.append(f"- validation at q={q}: {values}")
    with open(card, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return folder
