"""zoo.jpeg_quality: a JPEG's IJG quality from its quantization tables."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.jpeg_quality import (CHROMINANCE, LUMINANCE, QualityEstimate, estimate_quality,
                              ijg_table, quality_from_tables)


def photo(mode: str = "RGB") -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def saved(path: Path, image: Image.Image, **options) -> Path:
    image.save(path, **options)
    return path


@pytest.mark.parametrize("quality", [1, 5, 10, 50, 75, 90, 95, 100])
@pytest.mark.parametrize("mode, subsampling", [("RGB", 2), ("RGB", 0), ("L", 2)])
def test_pillow_qualities_are_found_exactly(tmp_path: Path, quality: int, mode: str,
                                            subsampling: int) -> None:
    path = saved(tmp_path / "x.jpg", photo(mode), quality=quality, subsampling=subsampling)
    assert estimate_quality(path) == QualityEstimate(quality, exact=True)


def test_every_quality_has_its_own_tables() -> None:
    assert len({ijg_table(LUMINANCE, q) + ijg_table(CHROMINANCE, q) for q in range(1, 101)}) == 100


def test_other_tables_get_the_nearest_quality_or_none(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noisy = [[max(1, round(v * rng.uniform(0.8, 1.25))) for v in ijg_table(base, 90)]
             for base in (LUMINANCE, CHROMINANCE)]  # a camera's own tables, near q90's
    assert quality_from_tables(dict(enumerate(noisy))) == QualityEstimate(90, exact=False)
    assert str(QualityEstimate(90, exact=False)) == "~90"
    backwards = [list(ijg_table(base, 50))[::-1] for base in (LUMINANCE, CHROMINANCE)]
    path = saved(tmp_path / "odd.jpg", photo(), qtables=backwards)
    assert estimate_quality(path) is None


def test_other_formats_and_unreadable_files_give_none(tmp_path: Path) -> None:
    assert estimate_quality(saved(tmp_path / "x.png", photo(), format="PNG")) is None
    assert estimate_quality(tmp_path / "missing.jpg") is None
    (tmp_path / "text.jpg").write_text("not an image")
    assert estimate_quality(tmp_path / "text.jpg") is None
    assert quality_from_tables({}) is None


def test_opened_images_turned_files_and_camera_mpo_files_have_it(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    photo().save(buffer, "JPEG", quality=75)
    buffer.seek(0)
    with Image.open(buffer) as image:
        assert estimate_quality(image) == QualityEstimate(75, exact=True)
    turned = photo()
    exif = turned.getexif()
    exif[0x0112] = 6  # stored on its side: the tables are the file's, whatever the turn
    path = saved(tmp_path / "turned.jpg", turned, quality=90, exif=exif)
    assert estimate_quality(path) == QualityEstimate(90, exact=True)
    # Phones and cameras write MPO (Pillow's format "MPO"): no estimate came, so no warning.
    mpo = saved(tmp_path / "camera.jpg", photo(), format="MPO", quality=90,
                save_all=True, append_images=[photo()])
    with Image.open(mpo) as opened:
        assert opened.format == "MPO"
    assert estimate_quality(mpo) == QualityEstimate(90, exact=True)
