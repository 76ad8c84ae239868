"""zoo: a model zoo for JPEG artifact removal.

>>> import zoo
>>> model = zoo.load("arnet-nogan")
>>> restored = model.restore(pil_image)
"""

from zoo.registry import create_model, get_model_info, list_models, register_model

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "get_model_info", "list_models", "load", "register_model"]


def load(name_or_path: str, *, device: str | None = None, weights: str | None = None,
         precision: str = "fp32"):
    """Load a model ready for inference (eval mode, pretrained weights).

    ``name_or_path`` is a registry name (``"arnet-nogan"``), ``"hf-hub:ORG/NAME"`` for a Hub
    repo holding ``config.json`` + ``model.safetensors``, or a local folder of the same form.
    ``precision``: "fp32" (default), or "bf16" / "fp16" to run under autocast, faster where the
    hardware computes that precision natively (docs/restore.md, "Precision").
    """
    from zoo.loading import load_model

    return load_model(name_or_path, device=device, weights=weights, precision=precision)
