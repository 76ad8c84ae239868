"""Datasets: image folders, the sample suite, the data cache."""

from __future__ import annotations

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
