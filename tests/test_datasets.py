"""Datasets: image folders, the sample suite, and the DIV2K fetch against a loopback server."""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo import datasets
from zoo.errors import DataError, ImageError


def _png(path: Path, seed: int, size: tuple[int, int] = (24, 32), grey: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = size if grey else (*size, 3)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


def test_folder_dataset_sorted_named_after_folder(tmp_path: Path) -> None:
    folder = tmp_path / "LIVE1"
    folder.mkdir()
    b = _png(folder / "b.png", 1)
    a = _png(folder / "a.bmp", 2, grey=True)
    (folder / "notes.txt").write_text("not an image")
    ds = datasets.folder_dataset(folder)
    assert ds.name == "LIVE1"
    assert ds.ids == ["a", "b"]
    assert ds.ignored == ["notes.txt"]
    np.testing.assert_array_equal(ds.items[0][1](), a)  # grey stays HxW
    np.testing.assert_array_equal(ds.items[1][1](), b)


def test_corrupt_image_raises_image_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    _png(folder / "good.png", 1)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ds = datasets.folder_dataset(folder)
    assert ds.ids == ["broken", "good"]
    with pytest.raises(ImageError, match="broken.png"):
        ds.items[0][1]()
    errors: list[str] = []
    assert [image_id for image_id, _ in ds.readable(errors.append)] == ["good"]
    assert len(errors) == 1 and "broken.png" in errors[0]


def test_missing_or_empty_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        datasets.folder_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        datasets.folder_dataset(tmp_path / "empty")


def test_sample_dataset_and_default_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    ds = datasets.sample_dataset()
    assert ds.name == "sample" and len(ds) == 5
    assert datasets.resolve_dataset(None).name == "sample"  # no DIV2K in the cache
    with pytest.raises(DataError, match="zoo data fetch div2k"):
        datasets.resolve_dataset("div2k")
    # A folder placed in the data cache is found by its name.
    (tmp_path / "cache" / "Classic5").mkdir(parents=True)
    _png(tmp_path / "cache" / "Classic5" / "x.png", 3)
    assert datasets.resolve_dataset("Classic5").ids == ["x"]


# --- the fetch, for real, against a loopback HTTP server ---------------------------------

def _div2k_zip(n: int = 3) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("DIV2K_valid_HR/", "")
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(png, format="PNG")
            zf.writestr(f"DIV2K_valid_HR/{801 + i:04d}.png", png.getvalue())
        zf.writestr("../evil.png", b"outside")  # must not escape the target folder
    return buf.getvalue()


@pytest.fixture
def server():
    payload = {"body": b""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = payload["body"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield payload, f"http://127.0.0.1:{httpd.server_address[1]}/DIV2K_valid_HR.zip"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_verifies_and_unpacks(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    payload, url = server
    payload["body"] = body = _div2k_zip()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    folder = datasets.fetch_div2k(url, sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                                  progress=False)
    assert folder == tmp_path / "cache" / "div2k" / "DIV2K_valid_HR"
    assert sorted(p.name for p in folder.iterdir()) == ["0801.png", "0802.png", "0803.png", "evil.png"]
    assert not (tmp_path / "cache" / "evil.png").exists()
    assert not list((tmp_path / "cache" / "div2k").glob("*.zip*"))  # archive removed after unpacking


def test_fetch_rejects_a_wrong_checksum(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    payload, url = server
    payload["body"] = body = _div2k_zip()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="sha256 .* does not match"):
        datasets.fetch_div2k(url, sha256="0" * 64, size=len(body), progress=False)
    with pytest.raises(DataError, match="downloaded .* bytes, expected 5;"):
        datasets.fetch_div2k(url, sha256="0" * 64, size=5, progress=False)
    assert not datasets.div2k_dir().exists()
    assert not list((tmp_path / "cache" / "div2k").iterdir())


def test_fetch_offline_says_how_to_provide_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    with socket.socket() as s:  # a port with nobody listening: connection refused, like offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as info:
        datasets.fetch_div2k(f"http://127.0.0.1:{port}/DIV2K_valid_HR.zip", progress=False, timeout=5)
    message = str(info.value)
    assert "\n" not in message and "--data DIR" in message and str(datasets.div2k_dir()) in message


def test_cli_fetch_and_list(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from zoo.cli import main

    payload, url = server
    payload["body"] = body = _div2k_zip()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "DIV2K_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(datasets, "DIV2K_SIZE", len(body))
    assert main(["data", "fetch", "div2k", "--url", url]) == 0
    assert "4 images verified" in capsys.readouterr().err
    monkeypatch.setattr(datasets, "DIV2K_COUNT", 4)
    assert datasets.div2k_present()
    assert datasets.resolve_dataset(None).name == "div2k"
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "div2k" in out and "sample" in out
