"""zoo.jpeg_quality: a JPEG's IJG quality from its quantization tables."""

from __future__ import annotations

import io
import math
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


# The JPEG specification's example tables (Annex K.1, K.2), row by row, typed again here rather
# than imported, so that the tables below are built independently of zoo.jpeg_quality.
ANNEX_K1_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99)
ANNEX_K2_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99)


def libjpeg_tables(quality: int, largest: int = 255) -> dict[int, list[int]]:
    """libjpeg's jpeg_quality_scaling and jpeg_add_quant_table written out again: the scale is
    5000 / q below 50 and 200 - 2 q from 50 on, each entry (base * scale + 50) // 100 clamped to
    [1, largest] (255 with force_baseline, else 32767: 16-bit tables). {0: luma, 1: chroma}."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return {key: [min(max((value * scale + 50) // 100, 1), largest) for value in base]
            for key, base in enumerate((ANNEX_K1_LUMINANCE, ANNEX_K2_CHROMINANCE))}


def mean_log_distance(tables: dict[int, list[int]], quality: int) -> float:
    """The mean over both tables and all 64 entries of |log(entry / quality's entry)|."""
    reference = libjpeg_tables(quality)
    return sum(abs(math.log(a / b)) for key in (0, 1)
               for a, b in zip(tables[key], reference[key])) / 128


@pytest.mark.parametrize("quality", [3, 5, 10, 20])
def test_16_bit_tables_of_low_qualities_are_found_exactly(quality: int) -> None:
    """libjpeg without force_baseline keeps entries above 255 (up to 32767): at quality 20 and
    below the luma table has some. Compared with 8-bit tables (every entry above 255 clipped to
    255), q3 and q5 matched no quality and q10-q20 only approximately."""
    buffer = io.BytesIO()
    photo().save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as baseline:  # the builder agrees with libjpeg's 8-bit tables
        written = {key: list(table) for key, table in baseline.quantization.items()}
    assert written == libjpeg_tables(quality)
    tables = libjpeg_tables(quality, largest=32767)
    assert max(tables[0]) > 255  # really an extended (16-bit) table
    assert quality_from_tables(tables) == QualityEstimate(quality, exact=True)


def test_the_tolerance_is_a_mean_log_factor_of_1_5() -> None:
    """TOLERANCE is log(1.5) ~ 0.405 of mean |log(entry / IJG entry)|: tables farther than that
    from every quality are None, nearer ones the nearest quality, marked approximate."""
    # Entries alternately x1.9 and /1.9 of q75's (rounded, at least 1): about log(1.9) ~ 0.64
    # from q75's tables, and no quality is nearer than log(1.5) (all within log(2)).
    far = {key: [max(1, round(v * 1.9 if i % 2 == 0 else v / 1.9)) for i, v in enumerate(table)]
           for key, table in libjpeg_tables(75).items()}
    nearest = min(mean_log_distance(far, q) for q in range(1, 101))
    assert math.log(1.5) < nearest < math.log(2)
    assert quality_from_tables(far) is None
    # Entries in turn x1.7, /1.7 and as they are: (2/3) log(1.7) ~ 0.354 before rounding, 0.36
    # after, within the tolerance. (Only x and / in turn would be as far from q74 or q76 as from
    # q75: one entry gains what its neighbour loses; the entries kept make q75 the nearest.)
    near = {key: [max(1, round(v * (1.7, 1 / 1.7, 1)[i % 3])) for i, v in enumerate(table)]
            for key, table in libjpeg_tables(75).items()}
    assert mean_log_distance(near, 75) == pytest.approx(0.36, abs=0.005)
    assert quality_from_tables(near) == QualityEstimate(75, exact=False)
