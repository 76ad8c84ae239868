"""Reading every supported input kind, refusing bad files, and writing outputs faithfully."""

from __future__ import annotations

import io
import warnings
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from zoo.errors import ImageError, ZooError
from zoo.image_output import write_image
from zoo.imaging import ImageWarning, LoadedImage, from_pil, read_image

RNG = np.random.default_rng(0)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ORIENTATION, DESCRIPTION = 0x0112, 0x010E


def rgb(h: int = 24, w: int = 40) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def exif_bytes(orientation: int | None = None, description: str = "zoo test") -> bytes:
    exif = Image.Exif()
    exif[DESCRIPTION] = description
    if orientation is not None:
        exif[ORIENTATION] = orientation
    return exif.tobytes()


def png16(path: Path, values: np.ndarray, size: tuple[int, int] | None = None, *,
          key: tuple[int, int, int] | None = None, sub_filter: bool = False) -> None:
    """A 16-bit RGB (HxWx3), RGBA (HxWx4) or grey + alpha (HxWx2) PNG written by hand (Pillow
    cannot).

    ``size`` (width, height) overrides the header's size, to fake a huge image; ``key`` adds a
    tRNS colour key; ``sub_filter`` stores each row as differences from the pixel to its left
    (PNG filter 1), which a decoder can only undo knowing the pixel's size in bytes.
    """
    h, w, channels = values.shape
    rows = [np.frombuffer(values[y].astype(">u2").tobytes(), np.uint8) for y in range(h)]
    if sub_filter:
        step = 2 * channels
        rows = [np.concatenate([r[:step], r[step:] - r[:-step]]) for r in rows]  # mod 256
    raw = b"".join(bytes([int(sub_filter)]) + r.tobytes() for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    colour_type = {3: 2, 2: 4, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", *(size or (w, h)), 16, colour_type, 0, 0, 0)
    transparency = chunk(b"tRNS", struct.pack(">HHH", *key)) if key else b""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + transparency
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".bmp"),
                                        ("TIFF", ".tif"), ("WEBP", ".webp")])
def test_reads_each_format(tmp_path: Path, fmt: str, suffix: str) -> None:
    pixels = rgb()
    path = tmp_path / f"x{suffix}"
    Image.fromarray(pixels).save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    image = read_image(path)
    assert image.pixels.shape == (24, 40, 3) and image.pixels.dtype == np.uint8
    assert image.alpha is None and image.source == path
    if fmt != "JPEG":  # the lossless ones come back exactly
        np.testing.assert_array_equal(image.pixels, pixels)


def test_grey_stays_grey(tmp_path: Path) -> None:
    grey = rgb()[..., 0]
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    image = read_image(tmp_path / "g.png")
    assert image.is_grey and image.mode == "L"
    np.testing.assert_array_equal(image.pixels, grey)


def test_16bit_grey_png_is_scaled_with_rounding(tmp_path: Path) -> None:
    levels = RNG.integers(0, 256, (16, 16)).astype(np.uint16)
    values = levels * 257  # exact 8-bit levels in 16 bits
    values[0, :4] = [128, 127, 65535 - 128, 65535]  # rounding: 128/257 -> 0.498 -> 0
    Image.fromarray(values).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.bit_depth == 16 and image.is_grey
    expected = np.round(values / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(image.pixels, expected)


def test_every_16bit_grey_value_and_wide_integer_grey_is_rounded_as_in_real_numbers(
        tmp_path: Path) -> None:
    """All 65536 values of a 16-bit grey PNG, and 32-bit integer grey (mode I) beyond 0..65535,
    scaled in integers exactly as round(v * 255 / 65535), clipped, would be."""
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    Image.fromarray(values).save(tmp_path / "all.png")
    expected = np.round(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "all.png").pixels, expected)
    wide = np.array([[-5, 0, 300, 65535, 70000, 2**31 - 1, 32767, 32768]] * 8, dtype=np.int32)
    Image.fromarray(wide, "I").save(tmp_path / "wide.tif")
    scaled = np.clip(np.round(wide * 255 / 65535), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(read_image(tmp_path / "wide.tif").pixels, scaled)


def test_16bit_rgb_png(tmp_path: Path) -> None:
    values = RNG.integers(0, 65536, (12, 10, 3)).astype(np.uint16)
    png16(tmp_path / "c16.png", values)
    image = read_image(tmp_path / "c16.png")
    assert image.bit_depth == 16 and image.pixels.shape == (12, 10, 3)
    # scaled with rounding as 16-bit grey is (Pillow alone keeps each sample's high byte)
    np.testing.assert_array_equal(image.pixels, np.round(values / 257.0).astype(np.uint8))
    assert (image.pixels != values >> 8).any()


def test_16bit_rgba_png_is_scaled_with_rounding(tmp_path: Path) -> None:
    values = RNG.integers(0, 65536, (12, 10, 4)).astype(np.uint16)
    png16(tmp_path / "c16a.png", values)
    image = read_image(tmp_path / "c16a.png")
    expected = np.round(values / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(image.pixels, expected[..., :3])
    np.testing.assert_array_equal(image.alpha, expected[..., 3])


def test_rgba_alpha_kept_aside(tmp_path: Path) -> None:
    rgba = np.dstack([rgb(), RNG.integers(0, 256, (24, 40), dtype=np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(image.pixels, rgba[..., :3])
    np.testing.assert_array_equal(image.alpha, rgba[..., 3])


def test_la_grey_with_alpha(tmp_path: Path) -> None:
    la = RNG.integers(0, 256, (16, 16, 2), dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    image = read_image(tmp_path / "la.png")
    assert image.is_grey
    np.testing.assert_array_equal(image.alpha, la[..., 1])


def test_16bit_grey_with_alpha_stays_grey(tmp_path: Path) -> None:
    grey = RNG.integers(0, 65536, (12, 20), dtype=np.uint16)
    alpha = RNG.integers(0, 65536, (12, 20), dtype=np.uint16)
    png16(tmp_path / "la16.png", np.dstack([grey, alpha]))  # Pillow opens it as RGBA
    image = read_image(tmp_path / "la16.png")
    assert image.is_grey and image.bit_depth == 16
    np.testing.assert_array_equal(image.pixels, (grey >> 8).astype(np.uint8))
    np.testing.assert_array_equal(image.alpha, (alpha >> 8).astype(np.uint8))


def test_16bit_grey_colour_key_becomes_alpha(tmp_path: Path) -> None:
    values = (RNG.integers(0, 256, (12, 20)) * 257).astype(np.uint16)
    values[2, 3] = 1000  # the key: one 16-bit value, which no 8-bit level would tell apart
    values[5, 5] = 1001
    Image.fromarray(values).save(tmp_path / "k16.png", transparency=1000)
    image = read_image(tmp_path / "k16.png")
    assert image.is_grey and image.alpha is not None
    assert image.alpha[2, 3] == 0 and (image.alpha == 0).sum() == 1
    Image.fromarray(values).save(tmp_path / "k16-unused.png", transparency=7)
    assert read_image(tmp_path / "k16-unused.png").alpha is None  # a key no pixel has


@pytest.mark.parametrize("sub_filter", [False, True])
def test_16bit_rgb_colour_key_compared_at_16_bits(tmp_path: Path, sub_filter: bool) -> None:
    """Pillow reads 16-bit RGB at 8 bits (the high bytes); the tRNS key is 16-bit. Compared with
    the high bytes, pixel (4, 4) below would turn transparent and the key's own pixel not."""
    values = RNG.integers(2048, 65536, (12, 20, 3)).astype(np.uint16)
    key = (5, 6, 7)
    values[2, 3] = key
    values[4, 4] = (5 * 256, 6 * 256, 7 * 256)  # high bytes (5, 6, 7), as the key's numbers
    values[5, 5] = (5, 6, 8)  # differs from the key in one low byte only
    png16(tmp_path / "k16rgb.png", values, key=key, sub_filter=sub_filter)
    image = read_image(tmp_path / "k16rgb.png")
    assert image.bit_depth == 16 and image.pixels.shape == (12, 20, 3)
    np.testing.assert_array_equal(image.pixels, np.round(values / 257.0).astype(np.uint8))
    assert image.alpha is not None and image.alpha[2, 3] == 0 and (image.alpha == 0).sum() == 1
    png16(tmp_path / "k16rgb-unused.png", values, key=(1, 2, 3), sub_filter=sub_filter)
    assert read_image(tmp_path / "k16rgb-unused.png").alpha is None  # a key no pixel has


def test_palette_with_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (16, 16), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.paste(1, (0, 0, 8, 16))
    pal.save(tmp_path / "p.png", transparency=0)
    image = read_image(tmp_path / "p.png")
    assert image.mode == "P" and image.pixels.shape == (16, 16, 3)
    assert tuple(image.pixels[0, 0]) == (0, 0, 255) and tuple(image.pixels[0, 12]) == (255, 0, 0)
    assert image.alpha is not None and image.alpha[0, 0] == 255 and image.alpha[0, 12] == 0


def test_palette_without_transparency_is_rgb(tmp_path: Path) -> None:
    Image.fromarray(rgb()).convert("P").save(tmp_path / "p.gif")
    image = read_image(tmp_path / "p.gif")
    assert image.pixels.shape == (24, 40, 3) and image.alpha is None


def test_cmyk_jpeg_to_rgb(tmp_path: Path) -> None:
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:, 8:, 0] = 255  # full cyan on the right
    # An RGB profile cannot describe CMYK data: it is dropped and the plain conversion used.
    Image.fromarray(cmyk, "CMYK").save(tmp_path / "c.jpg", quality=100, icc_profile=SRGB)
    image = read_image(tmp_path / "c.jpg")
    assert image.mode == "CMYK" and image.pixels.shape == (16, 16, 3)
    assert image.icc_profile is None
    np.testing.assert_allclose(image.pixels[0, 0], [255, 255, 255], atol=2)
    np.testing.assert_allclose(image.pixels[0, 12], [0, 255, 255], atol=2)


def test_exif_orientation_applied_and_reset(tmp_path: Path) -> None:
    pixels = rgb(16, 40)
    pixels[:8, :8] = 255  # a white corner to follow
    pixels[:8, :8, 1:] = 0  # ... made red
    Image.fromarray(pixels).save(tmp_path / "o.png", exif=exif_bytes(orientation=6))
    image = read_image(tmp_path / "o.png")
    assert image.pixels.shape == (40, 16, 3)  # orientation 6: rotated 90 degrees clockwise
    np.testing.assert_array_equal(image.pixels, np.rot90(pixels, k=-1))
    carried = Image.Exif()
    carried.load(image.exif)
    assert ORIENTATION not in carried and carried[DESCRIPTION] == "zoo test"


def test_icc_and_exif_kept(tmp_path: Path) -> None:
    Image.fromarray(rgb()).save(tmp_path / "m.jpg", icc_profile=SRGB, exif=exif_bytes())
    image = read_image(tmp_path / "m.jpg")
    assert image.icc_profile == SRGB
    parsed = Image.Exif()
    parsed.load(image.exif)
    assert parsed[DESCRIPTION] == "zoo test"
    out = write_image(tmp_path / "m.png", image)
    with Image.open(out) as written:
        assert written.info["icc_profile"] == SRGB
        assert written.getexif()[DESCRIPTION] == "zoo test"


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp"])
def test_the_resolution_a_file_states_is_kept(tmp_path: Path, suffix: str) -> None:
    """zoo restore wrote a 300-dpi photograph without a resolution (72 dpi as JPEG)."""
    Image.fromarray(rgb()).save(tmp_path / "print.jpg", dpi=(300, 150))
    image = read_image(tmp_path / "print.jpg")
    assert image.dpi == (300, 150)
    with Image.open(write_image(tmp_path / f"out{suffix}", image)) as written:
        assert written.info["dpi"] == pytest.approx((300, 150), abs=0.05)  # PNG, BMP: per metre


def test_a_quarter_turn_swaps_the_resolution_and_nonsense_is_dropped(tmp_path: Path) -> None:
    Image.fromarray(rgb(16, 40)).save(tmp_path / "o.jpg", dpi=(300, 150),
                                      exif=exif_bytes(orientation=6))
    assert read_image(tmp_path / "o.jpg").dpi == (150, 300)
    Image.fromarray(rgb()).save(tmp_path / "zero.png", dpi=(0, 0))
    assert read_image(tmp_path / "zero.png").dpi is None
    Image.fromarray(rgb()).save(tmp_path / "none.png")
    assert read_image(tmp_path / "none.png").dpi is None
    # Pillow writes 1 dpi into a TIFF given none: a PNG -> TIFF -> PNG round trip states none
    write_image(tmp_path / "none.tif", read_image(tmp_path / "none.png"))
    assert read_image(tmp_path / "none.tif").dpi is None


def test_a_jpeg_s_resolution_is_stated_by_its_header_or_exif_not_made_up(tmp_path: Path) -> None:
    """Pillow gives a JPEG whose EXIF has no resolution 72 dpi, and zoo wrote that into the
    result as the resolution the file stated (a photographer's audit)."""
    Image.fromarray(rgb()).save(tmp_path / "camera.jpg", exif=exif_bytes())
    assert Image.open(tmp_path / "camera.jpg").info["dpi"] == (72, 72)  # Pillow's default
    assert read_image(tmp_path / "camera.jpg").dpi is None
    with Image.open(write_image(tmp_path / "camera.png", read_image(tmp_path / "camera.jpg"))) as out:
        assert "dpi" not in out.info
    stated = Image.Exif()
    stated[0x011A], stated[0x011B], stated[0x0128] = 240.0, 240.0, 2  # 240 dpi, in EXIF only
    Image.fromarray(rgb()).save(tmp_path / "exif-dpi.jpg", exif=stated.tobytes())
    assert read_image(tmp_path / "exif-dpi.jpg").dpi == (240, 240)
    Image.fromarray(rgb()).save(tmp_path / "jfif-72.jpg", dpi=(72, 72), exif=exif_bytes())
    assert read_image(tmp_path / "jfif-72.jpg").dpi == (72, 72)  # stated by its header


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
       b' tiff:Orientation="6"><dc:creator>Ann</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>')


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".tif"])
def test_the_xmp_packet_is_carried_without_its_orientation(tmp_path: Path, suffix: str) -> None:
    """XMP (creator, rights, keywords, Lightroom's edits) was dropped from every result without
    a word; its tiff:Orientation would turn an upright result again."""
    turned = Image.Exif()
    turned[ORIENTATION] = 6
    Image.fromarray(rgb(16, 40)).save(tmp_path / "in.jpg", xmp=XMP, exif=turned.tobytes())
    image = read_image(tmp_path / "in.jpg")
    assert image.xmp == XMP.replace(b' tiff:Orientation="6"', b"")
    assert image.exif is None  # the orientation was all it said: nothing left to carry
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped: no warning
        out = write_image(tmp_path / f"out{suffix}", image)
    with Image.open(out) as written:
        assert written.info["xmp"] == image.xmp and written.size == (16, 40)
    unturned = Image.open(tmp_path / "in.jpg")  # a PIL image keeps its layout and its packet
    assert from_pil(unturned).xmp == XMP


def test_an_xmp_packet_too_long_for_a_jpeg_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """Pillow refuses XMP over one APP1 marker ("XMP data is too long"): the JPEG result failed."""
    big = b"<x:xmpmeta>" + b"k" * 70_000 + b"</x:xmpmeta>"
    image = LoadedImage(pixels=rgb(), xmp=big)
    with pytest.warns(ImageWarning, match=r"the XMP packet \(70,023 bytes\) is longer than a JPEG "
                                          r"holds \(65,504\); written without it"):
        out = write_image(tmp_path / "big.jpg", image)
    with Image.open(out) as written:
        assert "xmp" not in written.info
    with Image.open(write_image(tmp_path / "big.png", image)) as written:
        assert written.info["xmp"] == big  # PNG keeps it
    small = LoadedImage(pixels=rgb(), xmp=b"<x:xmpmeta>" + b"k" * 65_481 + b"</x:xmpmeta>")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = write_image(tmp_path / "small.jpg", small)  # 65,504 bytes: the most a marker holds
    with Image.open(out) as written:
        assert written.info["xmp"] == small.xmp


def test_an_xmp_orientation_written_as_an_element_is_removed_too() -> None:
    from zoo.imaging import _xmp_without_orientation

    element = b"<rdf:Description><tiff:Orientation>6</tiff:Orientation><dc:x>y</dc:x></rdf:Description>"
    assert _xmp_without_orientation(element) == b"<rdf:Description><dc:x>y</dc:x></rdf:Description>"


def test_a_resolution_a_jpeg_states_per_centimetre_is_kept(tmp_path: Path) -> None:
    """JFIF unit 2 is dots per centimetre (a scanner's): stated, unlike Pillow's default 72."""
    Image.fromarray(rgb()).save(tmp_path / "cm.jpg", dpi=(300, 300))
    data = bytearray((tmp_path / "cm.jpg").read_bytes())
    unit = data.index(b"JFIF\x00") + 7  # version (2 bytes), then the unit byte
    assert data[unit] == 1
    data[unit], data[unit + 1:unit + 5] = 2, bytes([0, 118, 0, 118])  # 118 dots/cm = 299.72 dpi
    (tmp_path / "cm.jpg").write_bytes(bytes(data))
    assert read_image(tmp_path / "cm.jpg").dpi == pytest.approx((299.72, 299.72))


def test_what_a_format_cannot_take_is_named_in_one_warning(tmp_path: Path) -> None:
    Image.fromarray(rgb()).save(tmp_path / "in.jpg", xmp=XMP, exif=exif_bytes(), icc_profile=SRGB)
    image = read_image(tmp_path / "in.jpg")
    with pytest.warns(ImageWarning) as said:
        write_image(tmp_path / "out.bmp", image)
    assert [str(w.message) for w in said] == [
        f"{tmp_path / 'out.bmp'}: the input's ICC profile and EXIF and XMP cannot go into a BMP "
        "result; written without (PNG keeps them)"]
    with pytest.warns(ImageWarning, match=r"the input's EXIF cannot go into a TIFF result"):
        write_image(tmp_path / "out.tif", image)


def test_a_quarter_turn_swaps_the_exif_s_width_and_height(tmp_path: Path) -> None:
    """The carried EXIF said 40x16 of a result 16x40 after a quarter turn."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif.get_ifd(0x8769).update({0xA002: 40, 0xA003: 16})
    Image.fromarray(rgb(16, 40)).save(tmp_path / "turned.jpg", exif=exif.tobytes())
    image = read_image(tmp_path / "turned.jpg")
    parsed = Image.Exif()
    parsed.load(image.exif)
    assert image.size == (16, 40) and ORIENTATION not in parsed
    assert parsed.get_ifd(0x8769) == {0xA002: 16, 0xA003: 40}
    exif[ORIENTATION] = 3  # a half turn keeps them
    Image.fromarray(rgb(16, 40)).save(tmp_path / "upside.jpg", exif=exif.tobytes())
    parsed.load(read_image(tmp_path / "upside.jpg").exif)
    assert parsed.get_ifd(0x8769) == {0xA002: 40, 0xA003: 16}


@pytest.mark.parametrize("suffix,fmt", [(".png", "PNG"), ("", "PNG"), (".webp", "WEBP"),
                                        (".tiff", "TIFF"), (".bmp", "BMP"), (".jpg", "JPEG")])
def test_write_formats(tmp_path: Path, suffix: str, fmt: str) -> None:
    pixels = rgb()
    out = write_image(tmp_path / f"out{suffix}", LoadedImage(pixels=pixels, icc_profile=SRGB))
    assert out.suffix == (suffix or ".png")
    with Image.open(out) as written:
        assert written.format == fmt and written.mode == "RGB"
        if fmt != "JPEG":
            np.testing.assert_array_equal(np.asarray(written), pixels)
        if fmt not in ("BMP",):
            assert written.info.get("icc_profile") == SRGB
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left behind


def test_write_grey_and_alpha(tmp_path: Path) -> None:
    grey, alpha = rgb()[..., 0], rgb()[..., 1]
    out = write_image(tmp_path / "g.png", LoadedImage(pixels=grey, alpha=alpha))
    with Image.open(out) as written:
        assert written.mode == "LA"
        np.testing.assert_array_equal(np.asarray(written)[..., 1], alpha)
    for suffix in (".jpg", ".bmp"):  # Pillow writes BMP alpha that it reads back as RGB
        with pytest.raises(ImageError, match="alpha"):
            write_image(tmp_path / f"g{suffix}", LoadedImage(pixels=grey, alpha=alpha))
    with pytest.raises(ImageError, match="cannot write"):
        write_image(tmp_path / "g.xyz", LoadedImage(pixels=grey))


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb(64, 64)).save(buf, format="JPEG", quality=75)
    return buf.getvalue()


def _corrupt(data: bytes, marker: bytes, offset: int, junk: bytes) -> bytes:
    """Overwrite bytes of a JPEG segment (libjpeg shrugs off most damage to the scan data)."""
    at = data.index(marker) + offset
    return data[:at] + junk + data[at + len(junk):]


BAD_FILES = {
    "missing": (None, "no such file"),
    "empty": (b"", "empty file"),
    "text": (b"this is not an image at all", "not an image"),
    "truncated": (_jpeg_bytes()[:700], "truncated"),
    "corrupt huffman table": (_corrupt(_jpeg_bytes(), b"\xff\xc4", 5, b"\xff" * 16), "corrupt"),
    "corrupt scan header": (_corrupt(_jpeg_bytes(), b"\xff\xda", 5, b"\x99"), "corrupt"),
    "corrupt frame header": (_corrupt(_jpeg_bytes(), b"\xff\xc0", 5, b"\x00\x00"), "corrupt JPEG"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_raise_one_line_image_error(tmp_path: Path, kind: str) -> None:
    data, message = BAD_FILES[kind]
    path = tmp_path / f"{kind.replace(' ', '-')}.jpg"
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(ImageError, match=message) as info:
        read_image(path)
    text = str(info.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_decompression_bomb_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.fromarray(rgb(100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match="decompression bomb"):
        read_image(tmp_path / "big.png", limit=5000)
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "9999")
    with pytest.raises(ImageError, match="decompression bomb"):
        read_image(tmp_path / "big.png")
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "10000")
    assert read_image(tmp_path / "big.png").pixels.shape == (100, 100, 3)
    assert Image.MAX_IMAGE_PIXELS != 10000  # Pillow's global limit is restored


def _with_claimed_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0/SOF2) claiming another size."""
    at = max(jpeg.find(b"\xff\xc0"), jpeg.find(b"\xff\xc2"))
    return jpeg[:at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9:]


@pytest.mark.parametrize("options", [{}, {"progressive": True}])
def test_a_jpeg_whose_header_claims_more_pixels_than_the_file_can_hold_is_refused(
        tmp_path: Path, options: dict) -> None:
    data = io.BytesIO()
    Image.fromarray(rgb(64, 64)).save(data, "JPEG", quality=10, **options)
    forged = tmp_path / "forged.jpg"
    forged.write_bytes(_with_claimed_size(data.getvalue(), 4000, 3000))
    with pytest.raises(ImageError, match=rf"^{forged}: its header claims 4000x3000 pixels, which "
                                         rf"take 23,438 bytes at least, but the file has "
                                         rf"{forged.stat().st_size:,}: a damaged or forged header$"):
        read_image(forged)  # it decoded to grey filler, at 4000x3000's memory, without an error
    flat = tmp_path / "flat.jpg"  # the most compressible real image: two bits a block
    for settings in ({"optimize": True}, {"progressive": True, "optimize": True}):
        Image.new("L", (2048, 1024), 128).save(flat, quality=1, **settings)
        assert read_image(flat).pixels.shape == (1024, 2048)


def test_a_float_image_holding_nan_or_inf_is_refused(tmp_path: Path) -> None:
    for value in (np.nan, np.inf):
        values = np.full((16, 16), 0.5, np.float32)
        values[3, 4] = value
        path = tmp_path / "float.tif"
        Image.fromarray(values, mode="F").save(path)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's "invalid value encountered in cast" was it
            with pytest.raises(ImageError, match=rf"^{path}: a floating-point image holding NaN or "
                                                 "infinite values, which are no grey level$"):
                read_image(path)


def test_bomb_message_states_the_real_limit(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    png16(tmp_path / "huge.png", np.zeros((1, 1, 3), np.uint16), size=(30000, 30000))
    with pytest.raises(ImageError) as info:
        read_image(tmp_path / "huge.png")  # the header alone is read before refusing
    assert "900,000,000 pixels, above the limit of 200,000,000" in str(info.value)
    for bad in ("abc", "0", "-5"):
        monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", bad)
        with pytest.raises(ZooError, match="ZOO_MAX_IMAGE_PIXELS must be a positive"):
            read_image(tmp_path / "huge.png")


def test_decoder_warnings_name_the_file(tmp_path: Path) -> None:
    cut_short = exif_bytes(orientation=6)[:-12]  # the IFD ends inside its entries
    Image.fromarray(rgb()).save(tmp_path / "w.jpg", exif=cut_short)
    with pytest.warns(ImageWarning) as caught:
        image = read_image(tmp_path / "w.jpg")
    assert image.pixels.shape == (24, 40, 3)
    assert all(str(w.message).startswith(f"{tmp_path / 'w.jpg'}: ") for w in caught)
    assert all("\n" not in str(w.message) for w in caught)


def test_below_minimum_size_refused(tmp_path: Path) -> None:
    Image.fromarray(rgb(7, 40)).save(tmp_path / "thin.png")
    with pytest.raises(ImageError, match="smaller than the minimum"):
        read_image(tmp_path / "thin.png")
    Image.fromarray(rgb(8, 8)).save(tmp_path / "ok.png")
    assert read_image(tmp_path / "ok.png").pixels.shape == (8, 8, 3)


def test_truncated_images_stay_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.jpg").write_bytes(_jpeg_bytes()[:-300])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # set by some other code
    with pytest.raises(ImageError, match="truncated"):
        read_image(tmp_path / "t.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the global is left as it was


def test_a_decoder_failing_in_its_own_way_is_an_image_error(tmp_path: Path) -> None:
    """A TIFF whose strip offsets are typed as text makes Pillow raise a TypeError."""
    buf = io.BytesIO()
    Image.new("RGB", (40, 40)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    data[72] = 2  # StripOffsets' field type: ASCII
    path = tmp_path / "odd.tif"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"odd.tif: corrupt or unreadable image \(TypeError"):
        read_image(path)


def test_a_pipe_is_not_read(tmp_path: Path) -> None:
    """A FIFO has size 0 and would block a reader: refused as what it is, not as 'empty'."""
    import os

    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageError, match=r"pipe.png: not a regular file \(a device, pipe or socket\)$"):
        read_image(tmp_path / "pipe.png")


def test_an_animation_reads_its_first_frame_and_says_so(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((16, 16, 3), value, np.uint8)) for value in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.warns(ImageWarning, match=r"anim.gif: 2 frames \(animated or multi-page\); "
                                          r"only the first frame is read"):
        image = read_image(tmp_path / "anim.gif")
    assert int(image.pixels.mean()) == 10


def test_later_frames_that_cannot_be_counted_do_not_spoil_the_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)  # its own: the cut below is placed in these very bytes
    frames = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).convert("P")
              for _ in range(2)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    data = (tmp_path / "anim.gif").read_bytes()
    (tmp_path / "cut.gif").write_bytes(data[:len(data) - 1268])  # inside the second frame
    with pytest.raises(IndexError):  # what Pillow does when it counts them
        Image.open(tmp_path / "cut.gif").n_frames
    with pytest.warns(ImageWarning, match=r"cut.gif: more frames, which cannot be read"):
        image = read_image(tmp_path / "cut.gif")
    assert image.pixels.shape == (32, 32, 3)


def test_a_jpeg_with_an_mpo_preview_is_one_photograph(tmp_path: Path) -> None:
    Image.fromarray(rgb()).save(tmp_path / "phone.jpg", format="MPO", save_all=True,
                                append_images=[Image.new("RGB", (16, 16))])
    assert Image.open(tmp_path / "phone.jpg").n_frames == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "phone.jpg").pixels.shape == (24, 40, 3)


def test_what_a_format_cannot_hold_is_an_output_error(tmp_path: Path) -> None:
    from zoo.image_output import OutputError

    wide = LoadedImage(pixels=np.zeros((8, 16384, 3), np.uint8))
    with pytest.raises(OutputError, match=r"w\.webp: the image is 16384x8, and WEBP files are "
                                          "at most 16383 pixels a side"):
        write_image(tmp_path / "w.webp", wide)
    write_image(tmp_path / "w.png", wide)  # PNG has no such limit
    with pytest.raises(OutputError, match="cannot keep the alpha channel"):
        write_image(tmp_path / "a.bmp", LoadedImage(pixels=rgb(), alpha=rgb()[..., 0]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.png"]


def test_an_encoder_refusal_is_an_output_error_naming_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.image_output import OutputError

    def refuse(*args, **kwargs):
        raise ValueError("encoding error 5: a limit of the format")

    monkeypatch.setattr(Image.Image, "save", refuse)
    with pytest.raises(OutputError, match=r"x\.tif: the TIFF encoder refused it \(encoding "):
        write_image(tmp_path / "x.tif", LoadedImage(pixels=rgb()))
    assert list(tmp_path.iterdir()) == []


def test_exif_too_long_for_a_jpeg_is_left_out_with_a_warning(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 70_000
    image = LoadedImage(pixels=rgb(), exif=exif.tobytes())
    with pytest.warns(ImageWarning, match=r"j\.jpg: the EXIF block \(70,0\d\d bytes\) is longer"):
        write_image(tmp_path / "j.jpg", image)
    with Image.open(tmp_path / "j.jpg") as written:
        assert "exif" not in written.info
    write_image(tmp_path / "p.png", image)  # PNG holds it
    with Image.open(tmp_path / "p.png") as written:
        assert written.getexif()[0x010E] == "x" * 70_000


def icc_header(space: bytes) -> bytes:
    """The smallest ICC profile lcms opens: a header for ``space`` (b"GRAY"), no tags."""
    d50 = struct.pack(">3i", *(round(v * 65536) for v in (0.9642, 1.0, 0.8249)))
    return (struct.pack(">I4sI4s4s4s12s4s", 132, bytes(4), 0x02100000, b"mntr", space, b"XYZ ",
                        bytes(12), b"acsp") + bytes(28) + d50 + bytes(48) + bytes(4))


def test_a_profile_of_another_colour_space_is_dropped(tmp_path: Path) -> None:
    """A profile is carried only where it describes the written pixels: GRAY for grey, RGB for
    colour; a Lab TIFF's Lab profile is not put on its RGB restoration."""
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    Image.fromarray(rgb()).convert("LAB").save(tmp_path / "lab.tif", icc_profile=lab)
    Image.fromarray(rgb()).save(tmp_path / "rgb_lab.png", icc_profile=lab)
    Image.fromarray(rgb()[..., 0]).save(tmp_path / "grey_srgb.png", icc_profile=SRGB)
    Image.fromarray(rgb()[..., 0]).save(tmp_path / "grey.png", icc_profile=icc_header(b"GRAY"))
    Image.fromarray(rgb()).save(tmp_path / "rgb_grey.png", icc_profile=icc_header(b"GRAY"))
    Image.fromarray(rgb()).save(tmp_path / "rgb_junk.png", icc_profile=b"not a profile")
    for name in ("lab.tif", "rgb_lab.png", "grey_srgb.png", "rgb_grey.png", "rgb_junk.png"):
        assert read_image(tmp_path / name).icc_profile is None, name
    assert read_image(tmp_path / "grey.png").icc_profile == icc_header(b"GRAY")
    in_memory = Image.fromarray(rgb()).convert("LAB")  # model.restore(PIL image) reads it so
    assert in_memory.info.get("icc_profile") and from_pil(in_memory).icc_profile is None
    write_image(tmp_path / "out.png", read_image(tmp_path / "lab.tif"))
    with Image.open(tmp_path / "out.png") as written:
        assert written.mode == "RGB" and "icc_profile" not in written.info


def test_a_grey_profile_is_not_put_on_the_rgb_a_webp_stores(tmp_path: Path) -> None:
    """libwebp stores grey as RGB: the grey image's GRAY profile would describe other colours.
    PNG, which stores grey, keeps it."""
    Image.fromarray(rgb()[..., 0]).save(tmp_path / "grey.png", icc_profile=icc_header(b"GRAY"))
    image = read_image(tmp_path / "grey.png")
    with pytest.warns(ImageWarning, match=r"the input's ICC profile cannot go into a WEBP result"):
        write_image(tmp_path / "out.webp", image)
    with Image.open(tmp_path / "out.webp") as written:
        assert written.mode == "RGB" and "icc_profile" not in written.info
    write_image(tmp_path / "out.png", image)
    with Image.open(tmp_path / "out.png") as written:
        assert written.info["icc_profile"] == icc_header(b"GRAY")


def test_webp_keeps_the_colours_under_transparent_pixels(tmp_path: Path) -> None:
    """A lossless WebP is exact only with libwebp's ``exact``: without it the colours where
    alpha is 0 were changed (by up to 213 levels), which PNG and TIFF keep."""
    pixels = rgb()
    alpha = np.zeros(pixels.shape[:2], np.uint8)
    alpha[:, ::2] = 255
    write_image(tmp_path / "out.webp", LoadedImage(pixels=pixels, alpha=alpha))
    with Image.open(tmp_path / "out.webp") as written:
        back = np.asarray(written.convert("RGBA"))
    assert np.array_equal(back[..., :3], pixels) and np.array_equal(back[..., 3], alpha)


@pytest.mark.parametrize("umask", [0o077, 0o002, 0o022])
def test_a_new_result_file_follows_the_umask(tmp_path: Path, umask: int) -> None:
    """As ``open`` would make it: 0666 less the umask (it was 0644 whatever the umask, so a
    private umask 077 left results readable to all)."""
    import os

    before = os.umask(umask)
    try:
        written = write_image(tmp_path / "out.png", LoadedImage(pixels=rgb()))
    finally:
        os.umask(before)
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask


def test_printable_escapes_what_would_break_a_line_or_drive_a_terminal() -> None:
    from zoo.imaging import printable

    assert printable("a\nb\r\t\x1b[31m\x7f\x85\u2028\u202e\udcff ü😀 [x].jpg") == \
        "a\\nb\\r\\t\\x1b[31m\\x7f\\x85\\u2028\\u202e\\udcff ü😀 [x].jpg"


def test_warnings_show_a_name_with_a_newline_escaped(tmp_path: Path) -> None:
    path = tmp_path / "an\nim.gif"
    frames = [Image.fromarray(rgb()).convert("P"), Image.fromarray(rgb()).convert("P")]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.warns(ImageWarning) as caught:
        read_image(path)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and messages[0].startswith(f"{tmp_path}/an\\nim.gif: 2 frames")


@pytest.mark.parametrize("quality", [10.7, True, "10", 0, 101])
def test_a_jpeg_quality_is_a_whole_number_in_range(quality: object) -> None:
    """10.7 was encoded at 10, True at 1 and "10" at 10, without a word."""
    from zoo.degrade import jpeg_bytes

    with pytest.raises(ValueError, match=r"JPEG quality must be a whole number in 1\.\.100, got "):
        jpeg_bytes(np.zeros((8, 8), np.uint8), quality)  # type: ignore[arg-type]


def test_a_pngs_gamma_and_chromaticities_are_carried_to_a_png(tmp_path: Path) -> None:
    """gAMA, cHRM and sRGB were dropped: a viewer that honours a linear gAMA showed the result
    at another brightness than the input. Carried to PNG; other formats have no such chunks."""
    from PIL.PngImagePlugin import PngInfo

    chunks = PngInfo()
    chunks.add(b"gAMA", struct.pack(">I", 100000))
    chunks.add(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    chunks.add(b"sRGB", bytes([1]))
    Image.fromarray(rgb()).save(tmp_path / "in.png", pnginfo=chunks)
    write_image(tmp_path / "out.png", read_image(tmp_path / "in.png"))
    with Image.open(tmp_path / "in.png") as source, Image.open(tmp_path / "out.png") as written:
        for key in ("gamma", "chromaticity", "srgb"):
            assert written.info[key] == source.info[key], key
    write_image(tmp_path / "plain.png", LoadedImage(pixels=rgb()))
    with Image.open(tmp_path / "plain.png") as written:
        assert not {"gamma", "chromaticity", "srgb"} & set(written.info)


def test_jpeg_results_keep_the_full_chroma_resolution(tmp_path: Path) -> None:
    """docs/restore.md: ``.jpg`` at quality 95 4:4:4 (Pillow's default, 4:2:0, halves chroma)."""
    from PIL import JpegImagePlugin

    with Image.open(write_image(tmp_path / "out.jpg", LoadedImage(pixels=rgb()))) as written:
        assert JpegImagePlugin.get_sampling(written) == 0  # 4:4:4


def test_a_float_tiff_in_the_unit_range_is_scaled_to_255(tmp_path: Path) -> None:
    """Mode F values up to 1.0 (inclusive) are fractions of white: 0.5 * 255 = 127.5 rounds half
    to even, to 128."""
    values = np.tile(np.array([0.0, 0.5, 1.0], np.float32), (8, 3))
    Image.fromarray(values, "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif").pixels[0, :3], [0, 128, 255])


def test_webp_results_keep_the_exif(tmp_path: Path) -> None:
    write_image(tmp_path / "out.webp", LoadedImage(pixels=rgb(), exif=exif_bytes()))
    with Image.open(tmp_path / "out.webp") as written:
        assert written.getexif()[DESCRIPTION] == "zoo test"


def test_a_jpeg_side_above_65500_is_an_output_error(tmp_path: Path) -> None:
    """libjpeg's limit is 65500 pixels a side (JPEG_MAX_DIMENSION), below the format's 65535."""
    from zoo.image_output import OutputError

    with pytest.raises(OutputError, match=r"65501x8, and JPEG files are at most 65500 pixels a "):
        write_image(tmp_path / "wide.jpg", LoadedImage(pixels=np.zeros((8, 65501, 3), np.uint8)))


def test_the_longest_exif_a_jpeg_holds_is_kept_and_one_byte_more_is_not(tmp_path: Path) -> None:
    """An APP1 marker's length field (at most 65535) counts its own 2 bytes: 65533 bytes of
    EXIF, its ``Exif\\0\\0`` header included, fit; 65534 do not (valid blocks, zero-padded)."""
    padded = {size: exif_bytes() + bytes(size - len(exif_bytes())) for size in (65533, 65534)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_image(tmp_path / "fits.jpg", LoadedImage(pixels=rgb(), exif=padded[65533]))
    with pytest.warns(ImageWarning, match=r"the EXIF block \(65,534 bytes\) is longer than a JPEG "
                                          r"holds \(65,533\)"):
        write_image(tmp_path / "over.jpg", LoadedImage(pixels=rgb(), exif=padded[65534]))
    with Image.open(tmp_path / "fits.jpg") as fits, Image.open(tmp_path / "over.jpg") as over:
        assert fits.info["exif"] == padded[65533] and "exif" not in over.info


def cmyk_profile() -> bytes:
    """A CMYK profile lcms converts with: icc_header's plus an A2B0 lut8 (identity curves, a
    two-point grid sending every colour to one XYZ)."""
    ramp = bytes(range(256))
    identity = struct.pack(">9i", *(65536 * (i % 4 == 0) for i in range(9)))  # 3x3, s15.16
    lut = (b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + identity + ramp * 4
           + bytes([128, 128, 128]) * 16 + ramp * 3)
    header = struct.pack(">I", 144 + len(lut)) + icc_header(b"CMYK")[4:128]
    return header + struct.pack(">I4sII", 1, b"A2B0", 144, len(lut)) + lut


def test_a_cmyk_image_converted_through_its_profile_carries_srgb(tmp_path: Path) -> None:
    """The pixels are sRGB after the conversion, so sRGB's profile (the same bytes as SRGB's
    but for the creation time, bytes 24-35) goes with them, not the CMYK one."""
    Image.fromarray(np.zeros((16, 16, 4), np.uint8), "CMYK").save(tmp_path / "c.jpg",
                                                                    icc_profile=cmyk_profile())
    icc = read_image(tmp_path / "c.jpg").icc_profile
    assert icc is not None and (icc[:24], icc[36:]) == (SRGB[:24], SRGB[36:])
