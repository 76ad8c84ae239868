"""NIQE (Mittal, Soundararajan, Bovik 2013), as in the LIVE MATLAB release.

Conventions of the reference: MATLAB ``rgb2gray`` (rounded) for RGB input; the image cropped
to whole 96x96 blocks; MSCN with ``imfilter(..., 'replicate')``; 18 block features per scale
at two scales (the second by ``imresize(0.5)``, bicubic, antialiased); the distance to the
pristine model of the LIVE release (``modelparameters.mat``, as shipped in BasicSR) with
``nanmean``/``nancov`` and ``pinv``. Lower is better.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from scipy.special import gamma

from zoo.metrics.matlab import imresize, rgb2gray
from zoo.metrics.natural_scene import aggd_fit, mscn, paired_products
from zoo.metrics.pypi_artifacts import NIQE_PARAMS, cached_arrays, read_artifact

BLOCK = 96


def pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """The pristine mean (36,) and covariance (36, 36), converted once into the zoo cache."""
    def build() -> dict[str, np.ndarray]:
        with np.load(io.BytesIO(read_artifact(NIQE_PARAMS)), allow_pickle=False) as npz:
            return {"mu": np.asarray(npz["mu_pris_param"], np.float64).ravel(),
                    "cov": np.asarray(npz["cov_pris_param"], np.float64)}

    arrays = cached_arrays("niqe_pristine_live", build)
    return arrays["mu"], arrays["cov"]


def _blocks(image: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping ``size`` x ``size`` blocks as an (n, size, size) array."""
    rows, cols = image.shape[0] // size, image.shape[1] // size
    view = image[: rows * size, : cols * size].reshape(rows, size, cols, size)
    return view.transpose(0, 2, 1, 3).reshape(rows * cols, size, size)


def _aggd_betas(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD shape and scale parameters (beta, not std) per row."""
    alpha, left, right = aggd_fit(rows)
    scale = np.sqrt(gamma(1.0 / alpha) / gamma(3.0 / alpha))
    return alpha, left * scale, right * scale


def block_features(coeffs: np.ndarray, size: int) -> np.ndarray:
    """The 18 NIQE features of every block of an MSCN map: (n_blocks, 18)."""
    blocks = _blocks(coeffs, size)
    n = blocks.shape[0]
    alpha, beta_l, beta_r = _aggd_betas(blocks.reshape(n, -1))
    columns = [alpha, (beta_l + beta_r) / 2.0]
    for pairs in paired_products(blocks):  # circular shifts inside each block, like blkproc
        alpha, beta_l, beta_r = _aggd_betas(pairs.reshape(n, -1))
        mean = (beta_r - beta_l) * gamma(2.0 / alpha) / gamma(1.0 / alpha)
        columns += [alpha, mean, beta_l, beta_r]
    return np.stack(columns, axis=1)


def niqe_features(grey: np.ndarray) -> np.ndarray:
    """Two-scale features of a float64 grey image on 0..255: (n_blocks, 36)."""
    rows, cols = (grey.shape[0] // BLOCK) * BLOCK, (grey.shape[1] // BLOCK) * BLOCK
    image = grey[:rows, :cols]
    per_scale = []
    for scale in (1, 2):
        per_scale.append(block_features(mscn(image, "replicate"), BLOCK // scale))
        if scale == 1:
            image = imresize(image, 0.5)
    return np.concatenate(per_scale, axis=1)


def _nancov(x: np.ndarray) -> np.ndarray:
    """MATLAB ``nancov``: rows with any NaN dropped, normalised by N - 1."""
    kept = x[~np.isnan(x).any(axis=1)]
    if kept.shape[0] < 2:
        return np.full((x.shape[1], x.shape[1]), np.nan)
    return np.cov(kept, rowvar=False, ddof=1)


def niqe(restored: np.ndarray, reference: np.ndarray | None = None) -> float:
    """NIQE of a uint8 grey or RGB image (no reference); NaN below two 96x96 blocks."""
    grey = rgb2gray(restored)
    if grey.shape[0] < BLOCK or grey.shape[1] < BLOCK:
        return float("nan")
    feats = niqe_features(grey)
    mu_pris, cov_pris = pristine_model()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # A flat image has no usable block: NaN is the answer, not a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        mu_dist = np.nanmean(feats, axis=0)
    cov_dist = _nancov(feats)
    if np.isnan(mu_dist).any() or np.isnan(cov_dist).any():
        return float("nan")
    diff = mu_pris - mu_dist
    cov = (cov_pris + cov_dist) / 2.0
    inv = np.linalg.pinv(cov, rtol=max(cov.shape) * np.finfo(np.float64).eps)
    return float(np.sqrt(diff @ inv @ diff))
