"""Image-quality metrics at reference parity, on uint8 numpy images (HxW grey or HxWx3 RGB).

``METRICS[name](restored, reference)`` returns a float; no-reference metrics (NIQE,
BRISQUE) ignore ``reference``. The caller applies the benchmark protocol (e.g. passes Y
images under the ``y`` protocol); nothing here crops borders or converts colour, except
NIQE/BRISQUE which score MATLAB ``rgb2gray`` of RGB input as their reference does.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from zoo.errors import did_you_mean
from zoo.metrics.brisque import brisque
from zoo.metrics.lpips_metric import lpips_alex, prepare_lpips_reference
from zoo.metrics.niqe import niqe
from zoo.metrics.psnr import psnr, psnr_b
from zoo.metrics.ssim import ms_ssim, ssim

if TYPE_CHECKING:
    import torch

__all__ = ["METRICS", "Metric", "compute_metrics", "metric_of_token"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Metric:
    """One metric: what it measures, the function computing it, and how leaderboards show it.

    ``fn(restored, reference)`` (``reference`` None for a no-reference metric; a ``device``
    keyword where it takes one) returns a number, NaN where the metric is undefined on the image
    (too small, flat). A new metric is one module and one entry in :data:`METRICS`: ``zoo
    bench``'s columns, direction of ranking, labels and digits are read from here
    (docs/metrics.md, "Adding a metric").
    """

    name: str
    """Lower-case letters, digits and ``_``: a column of results.csv and a ``--metrics`` word."""
    full_reference: bool
    higher_is_better: bool
    description: str
    fn: Callable[..., float]
    label: str = ""
    """The leaderboards' column header (default: ``name``)."""
    digits: int = 3
    """Decimals shown on the leaderboards (and at which two models tie for the best)."""
    unit: str | None = None
    """The unit of a value, where it has one (``dB``)."""
    revision: int = 1
    """Raised when the definition changes, so that stored results of an older one are not
    shown as current and are measured again (``zoo bench`` resumes)."""
    prepare: Callable[..., None] | None = None
    """Computes and keeps what the metric derives from a reference alone (LPIPS's features),
    so that a benchmark can do it before timing the rows that share the reference."""

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):  # '@', ' ' and ':' separate fields in the files
            raise ValueError(f"metric name {self.name!r}: use lower-case letters, digits and '_'")
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def token(self) -> str:
        """How a results file records a value of this definition: ``name``, or ``name@revision``."""
        return self.name if self.revision == 1 else f"{self.name}@{self.revision}"

    def __call__(self, restored: np.ndarray, reference: np.ndarray | None = None,
                 device: str | None = None) -> float:
        _check_image(restored, "restored")
        if self.full_reference:
            if reference is None:
                raise ValueError(f"{self.name} is a full-reference metric: give a reference")
            _check_image(reference, "reference")
        if device is not None and "device" in inspect.signature(self.fn).parameters:
            value = self.fn(restored, reference, device=device)
        else:
            value = self.fn(restored, reference)
        if isinstance(value, (str, bytes, bool, np.bool_)) or value is None:
            raise TypeError(f"{self.name} returned {type(value).__name__} {value!r}, not a number")
        return float(value)


def _check_image(image: np.ndarray, what: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"{what} image must be a uint8 numpy array, got "
                        f"{getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"{what} image must be HxW or HxWx3, got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"{what} image is empty, shape {image.shape}")


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("psnr", True, True, "PSNR (dB), 0..255, float64", psnr, label="PSNR", digits=2,
           unit="dB"),
    # revision 2: the published code's pair counts on sides that are not multiples of 8
    Metric("psnr_b", True, True, "PSNR-B (dB), Yim & Bovik 2011, 8x8 blocking factor", psnr_b,
           label="PSNR-B", digits=2, unit="dB", revision=2),
    Metric("ssim", True, True, "SSIM, Gaussian 11x11 sigma 1.5 (MATLAB ssim_index)", ssim,
           label="SSIM", digits=4),
    Metric("ms_ssim", True, True, "MS-SSIM, 5 scales (Wang's msssim.m); NaN below 161 px",
           ms_ssim, label="MS-SSIM", digits=4),
    Metric("lpips_alex", True, False, "LPIPS v0.1, AlexNet backbone; NaN below 31 px", lpips_alex,
           label="LPIPS (alex)", digits=4, prepare=prepare_lpips_reference),
    # revision 2: a block of zero MSCN coefficients (black) has shape 0.2, as MATLAB's min gives
    Metric("niqe", False, False, "NIQE, LIVE pristine model, 96x96 blocks", niqe, label="NIQE",
           digits=3, revision=2),
    Metric("brisque", False, False, "BRISQUE, LIVE SVR", brisque, label="BRISQUE", digits=2),
)}
"""Every metric, in the leaderboards' column order."""


def metric_of_token(token: str) -> str:
    """The metric name of a results file's ``measured`` token (``psnr_b@2`` -> ``psnr_b``)."""
    return token.partition("@")[0]


def compute_metrics(restored: np.ndarray, reference: np.ndarray | None,
                    names: str | list[str] | tuple[str, ...] | None = None,
                    device: str | torch.device | None = None) -> dict[str, float]:
    """Every named metric (all by default, or one name) of one image pair, in ``METRICS``
    order. ``device``: where LPIPS runs (a device that is not here is a one-line ZooError)."""
    wanted = list(METRICS) if names is None else [names] if isinstance(names, str) else list(names)
    unknown = [n for n in wanted if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; {did_you_mean(unknown[0], list(METRICS))}"
                         f"known: {list(METRICS)}")
    if device is not None:
        from zoo.devices import usable_device

        device = str(usable_device(device))
    return {name: METRICS[name](restored, reference, device=device) for name in wanted}
