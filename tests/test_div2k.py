"""DIV2K validation: the fetch, for real, against loopback HTTP servers, and the cached copy."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo import datasets, div2k
from zoo.errors import DataError


def _div2k_zip(n: int = 3) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("DIV2K_valid_HR/", "")
        for i in range(n):
            png = io.BytesIO()
            Image.fromarray(np.full((8, 8, 3), i, np.uint8)).save(png, format="PNG")
            zf.writestr(f"DIV2K_valid_HR/{801 + i:04d}.png", png.getvalue())
        zf.writestr("../evil.png", b"outside")  # not a validation image's name: left out
        zf.writestr("notes/readme.txt", b"other files are left out")
    return buf.getvalue()


@pytest.fixture
def server():
    payload = {"body": b"", "gets": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            payload["gets"] += 1
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
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 3)
    folder = div2k.fetch_div2k(url, sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                                  progress=False)
    assert folder == tmp_path / "cache" / "div2k" / "DIV2K_valid_HR"
    assert sorted(p.name for p in folder.iterdir()) == ["0801.png", "0802.png", "0803.png"]
    assert not (tmp_path / "cache" / "evil.png").exists()
    assert not list((tmp_path / "cache" / "div2k").glob("*.zip*"))  # archive removed after unpacking


def test_fetch_rejects_a_wrong_checksum(tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    payload, url = server
    payload["body"] = body = _div2k_zip()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="sha256 .* is not the official archive's"):
        div2k.fetch_div2k(url, sha256="0" * 64, size=len(body), progress=False)
    with pytest.raises(DataError, match=f"the server sends {len(body)} bytes .* the archive has 5: "
                                        "not the DIV2K archive"):
        div2k.fetch_div2k(url, sha256="0" * 64, size=5, progress=False)
    assert not div2k.div2k_dir().exists()
    assert not (tmp_path / "cache").exists()  # nothing of the failed fetch is left


def test_fetch_offline_says_how_to_provide_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    with socket.socket() as s:  # a port with nobody listening: connection refused, like offline
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError) as info:
        div2k.fetch_div2k(f"http://127.0.0.1:{port}/DIV2K_valid_HR.zip", progress=False, timeout=5)
    message = str(info.value)
    assert "\n" not in message and "--data DIR" in message and str(div2k.div2k_dir()) in message


def test_cli_fetch_list_and_fetch_again_only_with_force(tmp_path: Path, server,
                                                         monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from zoo.cli import main

    payload, url = server
    payload["body"] = body = _div2k_zip()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(div2k, "DIV2K_SHA256", hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(div2k, "DIV2K_SIZE", len(body))
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 3)
    assert main(["data", "fetch", "div2k", "--url", url]) == 0
    assert "3 images verified" in capsys.readouterr().err
    assert div2k.div2k_present()
    assert datasets.resolve_dataset(None).name == "div2k"
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "div2k" in out and "sample" in out
    assert main(["data", "fetch", "div2k", "--url", url]) == 0
    assert payload["gets"] == 1 and "use --force to fetch again" in capsys.readouterr().err
    assert main(["data", "fetch", "div2k", "--url", url, "--force"]) == 0
    assert payload["gets"] == 2 and "3 images verified" in capsys.readouterr().err


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize(("members", "message"), [
    ({"DIV2K_valid_HR/0801.png": b"a", "../0802.png": b"b"}, "climbs out of its folder"),
    ({"/tmp/0801.png": b"a", "0802.png": b"b"}, "climbs out of its folder"),
    ({"a/0801.png": b"a", "b/0801.png": b"b", "0802.png": b"c"}, "0801.png is in the archive twice"),
    ({"0801.png": b"a"}, "holds 1 of the 2 DIV2K validation images"),
    ({"0801.png": b"a", "0802.png": b"x" * 2000}, "unpacks to more than"),
])
def test_unpack_refuses_archives_that_are_not_div2k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    members: dict[str, bytes], message: str) -> None:
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 2)
    monkeypatch.setattr(div2k, "MAX_IMAGE_BYTES", 1000)
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip(members))
    dest = tmp_path / "div2k" / "DIV2K_valid_HR"
    dest.parent.mkdir()
    with pytest.raises(DataError, match=message):
        div2k._unpack_pngs(archive, dest)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["a.zip"]  # nothing left


@contextlib.contextmanager
def _served(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A quiet loopback server with ``handler`` while the block runs; yields its port."""
    handler.log_message = lambda self, *args: None  # type: ignore[method-assign]
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("url", ["notaurl", "http://[::1", "http://127.0.0.1:{port}/cut.zip"])
def test_download_failures_are_one_line_and_leave_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          url: str) -> None:
    """Bad URLs, and a server that closes a chunked response early (IncompleteRead)."""
    class Cut(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"400\r\n" + b"x" * 100)  # a chunk of 1024 bytes, cut at 100
            self.wfile.flush()
            self.close_connection = True

    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    with _served(Cut) as port, pytest.raises(DataError, match="cannot download") as info:
        div2k.fetch_div2k(url.format(port=port), progress=False, timeout=5)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "cache").exists()  # the folders the fetch made are gone again


def test_an_endless_stream_is_cut_at_the_archive_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Endless(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.end_headers()  # no Content-Length
            try:
                for _ in range(64):
                    self.wfile.write(b"x" * (1 << 16))
            except OSError:
                pass

    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    with _served(Endless) as port, pytest.raises(DataError, match="more than the archive's 1000 bytes"):
        div2k.fetch_div2k(f"http://127.0.0.1:{port}/x", size=1000, progress=False, timeout=5)
    assert not (tmp_path / "cache").exists()


def test_an_incomplete_copy_is_named_so_and_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys) -> None:
    from zoo.bench.api import dataset_notice
    from zoo.cli import main

    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 3)
    folder = div2k.div2k_dir()
    folder.mkdir(parents=True)
    for name in ("0801.png", "0802.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / name)
    (folder / "0803.png").write_bytes(b"")  # an empty file does not count
    assert not div2k.div2k_present() and div2k.div2k_found() == 2
    assert datasets.resolve_dataset(None).name == "sample"
    assert "incomplete (2 of 3 images" in dataset_notice(None)
    assert main(["data", "list"]) == 0
    assert "incomplete (2/3)" in capsys.readouterr().out
    # Asked for by name, it is refused as incomplete (it said "not there"), with the fix.
    with pytest.raises(DataError, match=r"DIV2K validation is incomplete \(2 of 3 images\); "
                                                 r"run `zoo data fetch div2k --force`"):
        datasets.resolve_dataset("div2k")


def test_only_the_validation_images_are_div2k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other files in the cache folder (a converted copy, an extra image) were benchmarked as
    DIV2K, and a 0801.jpg beside 0801.png renamed 0801's rows; they are listed as ignored."""
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 2)
    folder = div2k.div2k_dir()
    folder.mkdir(parents=True)
    for name in ("0801.png", "0802.png", "0801.jpg", "extra.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / name)
    dataset = datasets.resolve_dataset("div2k")
    assert [image_id for image_id, _ in dataset.items] == ["0801", "0802"]
    assert dataset.ignored == ["0801.jpg (not one of DIV2K's validation images 0801.png-0802.png)",
                               "extra.png (not one of DIV2K's validation images 0801.png-0802.png)"]


def test_an_archive_that_fails_to_unpack_is_not_left_in_the_cache(
        tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The verified archive (449 MB for the real one) stayed in the cache when unpacking failed
    (an archive short of images, a full disk), although a failed fetch is to leave nothing."""
    payload, url = server
    payload["body"] = body = _div2k_zip(n=2)  # the right bytes, one image short
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 3)
    with pytest.raises(DataError, match="holds 2 of the 3"):
        div2k.fetch_div2k(url, sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                          progress=False)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_a_linked_copy_is_replaced_by_the_fetch_and_left_alone(
        tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    """DIV2K_valid_HR as a link to the user's own copy: `zoo data fetch div2k --force` ended in
    'Cannot call rmtree on a symbolic link', naming no file. The link is replaced; the copy it
    pointed to is not touched."""
    payload, url = server
    payload["body"] = body = _div2k_zip()
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(div2k, "DIV2K_COUNT", 3)
    mine = tmp_path / "my-div2k"
    mine.mkdir()
    (mine / "0801.png").write_bytes(b"mine")
    div2k.div2k_dir().parent.mkdir(parents=True)
    div2k.div2k_dir().symlink_to(mine)
    folder = div2k.fetch_div2k(url, sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                               progress=False)
    assert not folder.is_symlink() and len(list(folder.iterdir())) == 3
    assert [p.name for p in mine.iterdir()] == ["0801.png"]
    assert (mine / "0801.png").read_bytes() == b"mine"


def test_an_empty_url_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`--url ''` fetched from the official address without a word."""
    from zoo.cli import main

    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    assert main(["data", "fetch", "div2k", "--url", ""]) == 2
    assert "--url '': give the address of a mirror" in capsys.readouterr().err


def test_a_file_where_the_cache_folder_goes_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys) -> None:
    """It said only "[Errno 17] File exists", naming neither what was in the way nor the remedy."""
    from zoo.cli import main

    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    (tmp_path / "div2k").write_text("not a folder")
    assert main(["data", "fetch", "div2k", "--url", "http://127.0.0.1:9/x.zip"]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"error: {tmp_path / 'div2k'}: cannot make the DIV2K folder here (")


def test_an_archive_error_names_the_download_not_the_deleted_file(
        tmp_path: Path, server, monkeypatch: pytest.MonkeyPatch) -> None:
    payload, url = server
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "cache"))
    payload["body"] = body = b"not a zip at all"
    with pytest.raises(DataError, match=rf"^the archive downloaded from {re.escape(url)}: not a zip archive$"):
        div2k.fetch_div2k(url, progress=False, timeout=5, size=len(body),
                          sha256=hashlib.sha256(body).hexdigest())
