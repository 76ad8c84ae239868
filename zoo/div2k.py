"""DIV2K validation (0801.png .. 0900.png): where it lives in the data cache, and its fetch.

The fetch downloads the official archive, verifies its size and sha256 while it streams, and
unpacks only the 100 validation PNGs, so that a wrong or hostile download is refused in one
line and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from zoo.errors import DataError, first_line, os_reason
from zoo.locks import missing_folders
from zoo.resources import cache_dir

# The official archive. The DIV2K site publishes no checksum; these are the size and sha256 that
# TensorFlow Datasets records for this URL (tensorflow_datasets/url_checksums/div2k.txt).
DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip"
DIV2K_SIZE = 448_993_893
DIV2K_SHA256 = "20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc"
DIV2K_COUNT = 100  # 0801.png .. 0900.png


def div2k_dir() -> Path:
    """Where ``zoo data fetch div2k`` puts the 100 validation PNGs."""
    return cache_dir() / "div2k" / "DIV2K_valid_HR"


def div2k_names() -> list[str]:
    """The validation images' file names: 0801.png .. 0900.png."""
    return [f"{801 + i:04d}.png" for i in range(DIV2K_COUNT)]


def div2k_found() -> int:
    """How many of the validation images are in the cache (non-empty files of their names; one
    that cannot even be looked at, in a folder without permissions, is not counted)."""
    folder = div2k_dir()
    return sum(1 for name in div2k_names() if _non_empty_file(folder / name))


def _non_empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:  # is_file() raises PermissionError where the folder cannot be searched
        return False


def div2k_present() -> bool:
    """Whether all 100 validation images are in the cache."""
    return div2k_found() == DIV2K_COUNT


def offline_hint() -> str:
    """How to provide DIV2K without a download, for the end of a failed fetch's error."""
    return (f"to provide the data without a download, place the 100 PNGs (0801.png .. 0900.png) in "
            f"{div2k_dir()} or pass --data DIR to `zoo bench`")


def fetch_div2k(url: str = DIV2K_URL, *, sha256: str | None = None, size: int | None = None,
                progress: bool = True, timeout: float = 30.0) -> Path:
    """Download the official DIV2K validation archive, verify it and unpack it; returns the folder.

    ``sha256`` and ``size`` default to the official archive's, as TensorFlow Datasets records
    them (a mirror must serve the same bytes).

    The download goes to a ``.part`` file in the cache, hashed while it streams; the archive is
    unpacked into a temporary folder and renamed into place, so an interrupted fetch leaves no
    half-filled dataset behind.
    """
    dest = div2k_dir()
    sha256 = sha256 or DIV2K_SHA256
    size = size or DIV2K_SIZE
    root = dest.parent
    made = missing_folders(root)  # removed again if the fetch fails
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in its place, a read-only data cache
        raise DataError(f"{root}: cannot make the DIV2K folder here ({os_reason(exc)}); move what "
                        "is in the way, or set ZOO_DATA to another folder") from None
    try:
        return _fetch_into(url, dest, sha256=sha256, size=size, timeout=timeout, progress=progress)
    except BaseException:
        for folder in made:  # deepest first: nothing of a failed fetch is left behind
            try:
                folder.rmdir()
            except OSError:  # not empty (another dataset beside), or gone
                break
        raise


def _fetch_into(url: str, dest: Path, *, sha256: str, size: int, timeout: float,
                progress: bool) -> Path:
    root = dest.parent
    archive = root / "DIV2K_valid_HR.zip"  # not the URL's name: it could be the dataset folder's
    part = archive.with_name(archive.name + ".part")
    try:
        digest = _download(url, part, size=size, timeout=timeout, progress=progress)
    except DataError:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)  # OSError: ConnectionError, TimeoutError, a full disk ...
        reason = getattr(exc, "reason", None) or first_line(exc)
        raise DataError(f"cannot download {url} ({reason}); {offline_hint()}") from None
    except BaseException:  # Ctrl-C: no half-downloaded archive is left behind either
        part.unlink(missing_ok=True)
        raise
    got_size = part.stat().st_size
    if got_size != size:
        part.unlink(missing_ok=True)
        raise DataError(f"{url}: downloaded {got_size} bytes, expected {size}; try again, or "
                        + offline_hint())
    if digest != sha256:
        part.unlink(missing_ok=True)
        raise DataError(f"{url}: sha256 {digest} is not the official archive's {sha256} (a mirror "
                        "must serve the same bytes); " + offline_hint())
    os.replace(part, archive)
    try:
        _unpack_pngs(archive, dest, label=f"the archive downloaded from {url}")
    except OSError as exc:  # a full disk, a folder in the way: one line naming the folder
        raise DataError(f"{dest}: cannot unpack the DIV2K images into it "
                        f"({os_reason(exc)})") from None
    finally:  # the verified 449 MB archive is only a means: never left behind
        archive.unlink(missing_ok=True)
    return dest


def _download(url: str, target: Path, *, size: int, timeout: float, progress: bool) -> str:
    """Stream ``url`` into ``target``, hashing it; stop as soon as it cannot be the archive."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    from zoo.terminal import console, description_column

    hasher = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "zoo-data-fetch"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        announced = int(response.headers.get("Content-Length") or 0) or None
        kind = response.headers.get("Content-Type") or "unknown type"
        if announced is not None and announced != size:
            raise DataError(f"{url}: the server sends {announced} bytes ({kind}), the archive has "
                            f"{size}: not the DIV2K archive; check the URL, or {offline_hint()}")
        columns = (description_column(), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn())
        with Progress(*columns, disable=not progress, transient=False,
                      console=console(stderr=True)) as bar:
            task = bar.add_task("DIV2K_valid_HR.zip", total=size)
            written = 0
            while chunk := response.read(1 << 20):
                written += len(chunk)
                if written > size:  # an endless or wrong stream must not fill the disk
                    raise DataError(f"{url}: more than the archive's {size} bytes arrived ({kind}): "
                                    f"not the DIV2K archive; check the URL, or {offline_hint()}")
                out.write(chunk)
                hasher.update(chunk)
                bar.advance(task, len(chunk))
    return hasher.hexdigest()


MAX_IMAGE_BYTES = 64 << 20
"""The most one unpacked image may take (the archive holds 4.5 MB per image on average)."""


def _unpack_pngs(archive: Path, dest: Path, label: str | None = None) -> None:
    """Extract the validation PNGs (0801.png .. 0900.png, nothing else) into ``dest`` atomically.

    Members are matched by name and written flat, so nothing lands outside ``dest``; a path that
    climbs (``..``) or is absolute, a name given twice and an oversized member refuse the archive.
    ``label`` names the archive in errors (the download's, which is deleted after).
    """
    label = label or str(archive)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise DataError(f"{label}: not a zip archive") from None
    wanted = set(div2k_names())
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with zf:
            for member in zf.infolist():
                path = Path(member.filename)
                if member.is_dir() or path.name not in wanted:
                    continue
                if path.is_absolute() or ".." in path.parts:
                    raise DataError(f"{label}: member {member.filename!r} climbs out of its folder")
                if (staging / path.name).exists():
                    raise DataError(f"{label}: {path.name} is in the archive twice")
                with zf.open(member) as src, open(staging / path.name, "wb") as out:
                    copied = _copy_at_most(src, out, MAX_IMAGE_BYTES)
                if copied > MAX_IMAGE_BYTES:
                    raise DataError(f"{label}: {path.name} unpacks to more than "
                                    f"{MAX_IMAGE_BYTES >> 20} MB: not a DIV2K image")
        found = len(list(staging.iterdir()))
        if found < len(wanted):
            raise DataError(f"{label}: holds {found} of the {len(wanted)} DIV2K validation images "
                            f"({min(wanted)} .. {max(wanted)})")
        if dest.is_symlink():  # a link to the user's own copy: replaced, the copy left alone
            dest.unlink()
        elif dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _copy_at_most(src, out, limit: int) -> int:  # noqa: ANN001  (binary file objects)
    """Copy up to ``limit`` + 1 bytes (one more says the source is larger); returns the count."""
    copied = 0
    while copied <= limit and (chunk := src.read(min(1 << 20, limit + 1 - copied))):
        out.write(chunk)
        copied += len(chunk)
    return copied
