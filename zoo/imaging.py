"""Reading input images robustly.

``read_image`` turns any supported file (JPEG, PNG, BMP, TIFF, WebP, and whatever else Pillow
decodes) into a :class:`LoadedImage`: uint8 RGB or grey pixels with the alpha channel kept
aside, EXIF orientation applied, and the ICC profile and EXIF block kept for the output.
Every problem with a file becomes an :class:`~zoo.errors.ImageError` naming it.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from zoo.errors import ImageError, ZooError, first_line, printable
from zoo.jpeg_header import too_short_for
from zoo.orientation import ORIENTATIONS

__all__ = [
    "LoadedImage",
    "MIN_SIDE",
    "READ_SUFFIXES",
    "check_size",
    "from_pil",
    "max_pixels",
    "printable",
    "read_image",
]

MIN_SIDE = 8
"""Smallest accepted side: one 8x8 JPEG block."""
DEFAULT_MAX_PIXELS = 200_000_000
"""Larger images are refused as possible decompression bombs (``$ZOO_MAX_IMAGE_PIXELS``)."""
READ_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".tif", ".tiff",
                           ".webp", ".ppm", ".pgm"})
"""Suffixes picked up when a folder is given as input (to restore, benchmark or train on)."""

_EXIF_ORIENTATION = 0x0112
_EXIF_X_RESOLUTION = 0x011A
_EXIF_IFD = 0x8769
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003
"""The Exif sub-IFD's PixelXDimension and PixelYDimension: the image's width and height."""
_QUARTER_TURNS = (5, 6, 7, 8)
"""EXIF orientations that turn the image by 90 degrees (width and height swap)."""
_pillow_globals_lock = threading.Lock()


@dataclass(frozen=True)
class LoadedImage:
    """An image ready for a model, with what is needed to write the result faithfully."""

    pixels: np.ndarray
    """uint8, HxWx3 RGB or HxW grey."""
    alpha: np.ndarray | None = None
    """uint8 HxW alpha channel, or None."""
    icc_profile: bytes | None = None
    exif: bytes | None = None
    """The EXIF block, orientation tag removed once the orientation has been applied."""
    mode: str = "RGB"
    """The file's original Pillow mode (``"CMYK"``, ``"I;16"``, ``"P"`` ...)."""
    bit_depth: int = 8
    """Bits per sample in the file (16 for 16-bit PNG/TIFF); pixels are always 8 bit."""
    source: Path | None = None
    dpi: tuple[float, float] | None = None
    """The resolution the file states (x, y), for printing; None when it states none."""
    orientation: int = 1
    """The EXIF orientation applied to ``pixels`` (1: none; :mod:`zoo.orientation`)."""
    xmp: bytes | None = None
    """The XMP packet (Lightroom's edits, keywords, creator and rights), its orientation removed
    once the orientation has been applied."""
    png_colour: tuple[tuple[bytes, bytes], ...] = ()
    """A PNG's gAMA, cHRM and sRGB chunks (type, data), carried to a PNG result: a viewer that
    honours them shows the result as it showed the input."""

    @property
    def is_grey(self) -> bool:
        """Whether the pixels are one channel (HxW)."""
        return self.pixels.ndim == 2

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow reports it."""
        return self.pixels.shape[1], self.pixels.shape[0]


def max_pixels() -> int:
    """The decompression-bomb limit in pixels: ``$ZOO_MAX_IMAGE_PIXELS`` or 200 MP."""
    value = os.environ.get("ZOO_MAX_IMAGE_PIXELS", "").strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ZooError(f"ZOO_MAX_IMAGE_PIXELS must be a positive whole number of pixels, "
                       f"got {value!r}")
    return limit


def read_image(path: str | os.PathLike[str], *, limit: int | None = None) -> LoadedImage:
    """Read an image file fully; raise :class:`ImageError` naming the file on any problem.

    ``limit`` is the largest accepted pixel count (default :func:`max_pixels`).
    """
    path = Path(path)
    limit = max_pixels() if limit is None else int(limit)
    try:
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image file")
    except PermissionError:  # a folder on the way cannot be searched
        raise ImageError(f"{path}: permission denied") from None
    try:
        if not path.is_file():  # a pipe or device: its size says nothing, reading may block
            raise ImageError(f"{path}: not a regular file (a device, pipe or socket)")
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
        with _strict_pillow(limit) as pillow, Image.open(path) as img:
            if img.width * img.height > limit:
                raise ImageError(f"{path}: {img.width}x{img.height} = {img.width * img.height:,} "
                                 f"pixels, above the limit of {limit:,} (a possible decompression "
                                 "bomb); raise ZOO_MAX_IMAGE_PIXELS to allow it")
            if isinstance(img, JpegImageFile) and (short := too_short_for(path, img.width, img.height)):
                raise ImageError(f"{path}: {short}")
            raw_mode = _raw_mode(img)  # before load(): the decoder's raw mode is gone after
            img.load()  # decode everything now, so that truncated data fails here
            loaded = from_pil(img, source=path, apply_orientation=True, raw_mode=raw_mode)
            frames = _later_frames(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # a format plugin's own check
        raise ImageError(f"{path}: too many pixels, a possible decompression bomb ({exc}); "
                         "raise ZOO_MAX_IMAGE_PIXELS to allow it") from None
    except UnidentifiedImageError:
        kind = _signature(path)
        if kind:
            raise ImageError(f"{path}: corrupt {kind} (its header cannot be read)") from None
        raise ImageError(f"{path}: not an image, or a format that cannot be read") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except OSError as exc:
        detail = first_line(exc)
        if "truncated" in detail.lower():
            raise ImageError(f"{path}: truncated image data ({detail})") from None
        raise ImageError(f"{path}: corrupt or unreadable image ({detail})") from None
    except (ValueError, SyntaxError, EOFError) as exc:  # raised by some Pillow decoders
        raise ImageError(f"{path}: corrupt image ({exc})") from None
    except Exception as exc:  # noqa: BLE001  (a Pillow plugin failing on damaged data in its own way)
        raise ImageError(f"{path}: corrupt or unreadable image ({type(exc).__name__}: "
                         f"{first_line(exc)})") from None
    for caught in pillow.caught:  # Pillow's own warnings (corrupt EXIF ...), naming the file
        warnings.warn(printable(f"{path}: {first_line(caught.message)}"), ImageWarning,
                      stacklevel=2)
    if frames:
        warnings.warn(printable(f"{path}: {frames} (animated or multi-page); only the first "
                                "frame is read"), ImageWarning, stacklevel=2)
    return loaded


class ImageWarning(UserWarning):
    """A usable image with a defect the decoder noticed; the message names the file."""


_SIGNATURES = {b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"BM": "BMP",
               b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"RIFF": "WebP"}


def _later_frames(img: Image.Image) -> str:
    """What follows the first frame ("2 frames", ...), or "" for a single image. A JPEG with an
    MPO preview is one photograph; damaged later frames do not spoil the first."""
    if img.format == "MPO":
        return ""
    try:
        count = getattr(img, "n_frames", 1)
    except Exception:  # noqa: BLE001  (Pillow seeks through every frame to count them)
        return "more frames, which cannot be read"
    return f"{count} frames" if count > 1 else ""


def _signature(path: Path) -> str | None:
    """The format a file claims by its first bytes, to tell corrupt images from other files."""
    with path.open("rb") as handle:
        head = handle.read(16)
    return next((kind for magic, kind in _SIGNATURES.items() if head.startswith(magic)), None)


class _strict_pillow:
    """Pillow's globals for one read: truncation refused, warnings recorded in ``caught``.

    Other code may have set ``ImageFile.LOAD_TRUNCATED_IMAGES``; truncated inputs must still
    fail here rather than come back with grey bands. Pillow's own bomb check is off: it only
    fires at twice its limit and reports that doubled number, so ``read_image`` checks the size
    itself. Both globals are restored afterwards.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.caught: list[warnings.WarningMessage] = []

    def __enter__(self) -> _strict_pillow:
        _pillow_globals_lock.acquire()
        self._saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        self._warnings = warnings.catch_warnings(record=True)
        self.caught = self._warnings.__enter__()
        warnings.simplefilter("always")
        Image.MAX_IMAGE_PIXELS = None
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        return self

    def __exit__(self, *exc_info: object) -> None:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = self._saved
        self._warnings.__exit__(*exc_info)
        _pillow_globals_lock.release()


_KEYED_TRANSPARENCY = {"1": "LA", "L": "LA", "RGB": "RGBA"}
"""Modes whose ``transparency`` info (one colour made transparent) becomes an alpha plane."""
_WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
"""Grey modes with more than 8 bits per sample (scaled to uint8 on reading)."""
_WIDE_COLOUR = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}
"""16-bit PNG raw modes Pillow decodes at 8 bits (each sample's high byte), and the raw mode
that decodes the same data's low bytes instead (Pillow has none for 16-bit grey + alpha,
``LA;16B``, which keeps its high bytes)."""


def from_pil(img: Image.Image, *, source: Path | None = None, apply_orientation: bool = False,
             raw_mode: str | None = None) -> LoadedImage:
    """Convert a decoded PIL image of any mode into a :class:`LoadedImage`.

    ``apply_orientation`` rotates by the EXIF orientation tag (as files are read);
    ``raw_mode`` is the decoder's raw mode (``LA;16B``, ``RGB;16B`` ...), which ``load()``
    forgets: read it before, when known. ``source`` must be the file ``img`` was decoded from
    as it is: a 16-bit RGB image with a colour key is decoded from it a second time.
    """
    mode = img.mode
    raw_mode = _raw_mode(img) if raw_mode is None else raw_mode
    bit_depth = _bit_depth(img, raw_mode)
    icc = img.info.get("icc_profile") or None
    exif = img.info.get("exif") or None
    dpi = _stated_dpi(img.info.get("dpi")) if _states_dpi(img) else None
    png_colour = _png_colour_chunks(img.info) if img.format == "PNG" else ()
    xmp = img.info.get("xmp") or None
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    alpha: np.ndarray | None = None
    keyed = mode in ("P", *_KEYED_TRANSPARENCY) and "transparency" in img.info
    if raw_mode in _WIDE_COLOUR and source is not None:
        img = _wide_colour(img, source, raw_mode)  # before any rotation: it decodes the file again
    applied = 1
    if apply_orientation:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation not in (None, 1):
            img = ImageOps.exif_transpose(img)
            applied = orientation if orientation in ORIENTATIONS else 1
            exif = _without_orientation(exif, swap_sides=orientation in _QUARTER_TURNS)
            xmp = _xmp_without_orientation(xmp)
            if dpi is not None and orientation in _QUARTER_TURNS:
                dpi = (dpi[1], dpi[0])  # width and height swapped

    if mode == "P" or mode == "PA":
        img = img.convert("RGBA" if mode == "PA" or keyed else "RGB")
    elif mode == "La":  # premultiplied alpha: unpremultiplied by the conversion
        img = img.convert("LA")
    elif keyed:
        img = img.convert(_KEYED_TRANSPARENCY[mode])  # the keyed colour becomes alpha 0
    if mode == "CMYK":
        img, icc = _cmyk_to_rgb(img, icc)
    if img.mode in _WIDE_GREY:
        pixels = _wide_grey_to_uint8(img, bit_depth, source)
        key = img.info.get("transparency")
        if isinstance(key, int) and img.mode != "F":  # a 16-bit grey PNG's tRNS: compared unscaled
            keyed, alpha = True, np.where(np.asarray(img) == key, 0, 255).astype(np.uint8)
    elif img.mode in ("1", "L"):
        pixels = np.asarray(img.convert("L"))
    elif img.mode == "LA":
        pixels = np.asarray(img.getchannel("L"))
        alpha = np.asarray(img.getchannel("A"))
    elif img.mode in ("RGBA", "RGBa"):
        rgba = np.asarray(img.convert("RGBA"))
        # Pillow decodes 16-bit grey + alpha PNGs as RGBA with three equal channels.
        pixels = rgba[..., 0] if raw_mode.startswith("LA") else rgba[..., :3]
        alpha = rgba[..., 3]
    else:  # RGB, and every other colour mode (YCbCr, LAB, HSV, RGBX ...)
        pixels = np.asarray(img.convert("RGB") if img.mode != "RGB" else img)

    if keyed and alpha is not None and alpha.min() == 255:
        alpha = None  # a key no pixel has: nothing is transparent, so no alpha to carry (or refuse)
    check_size(*pixels.shape[:2], source=source)
    return LoadedImage(
        pixels=np.ascontiguousarray(pixels, dtype=np.uint8),
        alpha=None if alpha is None else np.ascontiguousarray(alpha, dtype=np.uint8),
        icc_profile=_fitting_profile(icc, grey=pixels.ndim == 2), exif=exif, mode=mode,
        bit_depth=bit_depth, source=source, dpi=dpi, orientation=applied, png_colour=png_colour,
        xmp=xmp if isinstance(xmp, bytes) else None)


def _png_colour_chunks(info: dict) -> tuple[tuple[bytes, bytes], ...]:
    """The gAMA, cHRM and sRGB chunks Pillow decoded into ``info``, as chunks again."""
    chunks = []
    try:
        if "gamma" in info:
            chunks.append((b"gAMA", struct.pack(">I", round(float(info["gamma"]) * 100000))))
        if "chromaticity" in info and len(info["chromaticity"]) == 8:
            chunks.append((b"cHRM", struct.pack(">8I", *(round(float(v) * 100000)
                                                         for v in info["chromaticity"]))))
        if "srgb" in info:
            chunks.append((b"sRGB", bytes([int(info["srgb"])])))
    except (TypeError, ValueError, struct.error, OverflowError):  # values no PNG could hold
        return ()
    return tuple(chunks)


def _stated_dpi(value: object) -> tuple[float, float] | None:
    """A file's ``dpi`` as two positive numbers, or None (absent, or nonsense such as 0 or 1)."""
    if not isinstance(value, tuple) or len(value) != 2:
        return None
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if (x, y) == (1, 1):  # what Pillow writes into a TIFF given none: not a stated resolution
        return None
    return (x, y) if x > 0 and y > 0 and x < 1e6 and y < 1e6 else None


def _naming(source: Path | None) -> str:
    """``"FILE: "`` to start a message about the image read from ``source``; "" for pixels
    without a file."""
    return f"{source}: " if source is not None else ""


def check_size(height: int, width: int, source: Path | None = None) -> None:
    """Refuse an image below the 8x8 of one JPEG block, naming the file when there is one."""
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"{_naming(source)}image is {width}x{height}, smaller than the minimum of "
                         f"{MIN_SIDE}x{MIN_SIDE} pixels")


def _bit_depth(img: Image.Image, raw_mode: str) -> int:
    """Bits per sample, from the mode or (for 16-bit RGB read as 8-bit RGB) the raw mode."""
    if img.mode.startswith("I;16") or "16" in raw_mode:
        return 16
    if img.mode in ("I", "F"):
        return 32
    return 1 if img.mode == "1" else 8


def _raw_mode(img: Image.Image) -> str:
    """The decoder's raw mode (e.g. ``RGB;16B`` for a 16-bit RGB PNG), when still known."""
    tile = getattr(img, "tile", None) or []
    args = tile[0].args if tile else None
    if isinstance(args, tuple) and args:
        args = args[0]
    return args if isinstance(args, str) else ""


def _wide_colour(img: Image.Image, source: Path, raw_mode: str) -> Image.Image:
    """8-bit RGB(A) of a 16-bit colour PNG, each sample scaled with rounding
    (65535 -> 255) as 16-bit grey is, with a tRNS colour key (16-bit values) as alpha.

    Pillow keeps each sample's high byte, up to a level below the rounded value; the low bytes
    come from a second decode of the same data that reads each sample's two bytes the other way
    round (``RGB;16L``), so the values and the key are used at 16 bits.
    """
    with Image.open(source) as again:
        again.tile = [tile._replace(args=_WIDE_COLOUR[raw_mode]) for tile in again.tile]
        again.load()
        low = np.asarray(again, dtype=np.uint16)
    high = np.asarray(img, dtype=np.uint16)
    values = high << 8 | low
    # round(v * 255 / 65535) in integers (no value falls on a half): a float64 copy of a large
    # image took seconds and several times its memory
    pixels = ((values.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    key = img.info.get("transparency") if img.mode == "RGB" else None
    if key is not None:
        transparent = (values == np.asarray(key, dtype=np.uint16)).all(axis=2)
        pixels = np.dstack([pixels, np.where(transparent, 0, 255).astype(np.uint8)])
    wide = Image.fromarray(pixels, "RGBA" if pixels.shape[2] == 4 else "RGB")
    wide.info = {k: v for k, v in img.info.items() if k != "transparency"}
    return wide


def _wide_grey_to_uint8(img: Image.Image, bit_depth: int, source: Path | None) -> np.ndarray:
    """16/32-bit integer or float grey to uint8, scaling the full range (65535 -> 255)."""
    if img.mode == "F":
        values = np.asarray(img).astype(np.float64)
        if not np.isfinite(values).all():  # numpy's cast would warn and make up a grey level
            raise ImageError(f"{_naming(source)}a floating-point image holding NaN or infinite values, which "
                             "are no grey level")
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
        return np.clip(np.round(values * scale), 0, 255).astype(np.uint8)
    values = np.asarray(img)
    if bit_depth == 16 or values.max(initial=0) > 255:
        # round(v * 255 / 65535) in integers, as for 16-bit colour (a float64 copy of a 40-MP
        # image took 5 s and 1 GB)
        wide = np.clip(values, 0, 65535).astype(np.uint32)
        return ((wide * 255 + 32767) // 65535).astype(np.uint8)
    return np.clip(values, 0, 255).astype(np.uint8)


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """CMYK to RGB through the embedded profile into sRGB when there is one (then carry sRGB)."""
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            rgb = ImageCms.profileToProfile(img, src, srgb, outputMode="RGB")
            return rgb, ImageCms.ImageCmsProfile(srgb).tobytes()
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: fall back to the plain conversion below
    return img.convert("RGB"), None


def _fitting_profile(icc: bytes | None, *, grey: bool) -> bytes | None:
    """``icc`` when it describes the pixels as they are written (a GRAY profile for grey, an RGB
    one for colour); None for another colour space (a Lab TIFF's profile on its RGB
    conversion) or a profile that cannot be read."""
    if not icc:
        return None
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return icc if space.strip() == ("GRAY" if grey else "RGB") else None


def _without_orientation(exif: bytes | None, swap_sides: bool = False) -> bytes | None:
    """The EXIF block with its orientation tag removed (the pixels are already upright), and
    with ``swap_sides`` (a quarter turn) its pixel width and height swapped to the result's."""
    if not exif:
        return exif
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        parsed.pop(_EXIF_ORIENTATION, None)
        if not len(parsed):
            return None  # the orientation was all it said
        sides = parsed.get_ifd(_EXIF_IFD) if _EXIF_IFD in parsed else {}
        if swap_sides and _PIXEL_X in sides and _PIXEL_Y in sides:
            sides[_PIXEL_X], sides[_PIXEL_Y] = sides[_PIXEL_Y], sides[_PIXEL_X]
        return parsed.tobytes()
    except Exception:  # noqa: BLE001  (malformed EXIF: drop it rather than carry a wrong tag)
        return None


_XMP_ORIENTATION = re.compile(rb'\s*tiff:Orientation="[0-9]"'
                              rb"|<tiff:Orientation>[0-9]</tiff:Orientation>")


def _xmp_without_orientation(xmp: object) -> bytes | None:
    """The XMP packet without its ``tiff:Orientation`` (the pixels are upright now; a viewer
    that reads it would turn them again)."""
    return _XMP_ORIENTATION.sub(b"", xmp) if isinstance(xmp, bytes) else None


def _states_dpi(img: Image.Image) -> bool:
    """Whether the file states its resolution: a JPEG's ``dpi`` is Pillow's 72 when its EXIF has
    no resolution tags and its JFIF header gives no unit, which no camera or editor stated."""
    if img.format != "JPEG" or img.info.get("jfif_unit") in (1, 2):
        return True
    try:
        return _EXIF_X_RESOLUTION in img.getexif()
    except Exception:  # noqa: BLE001  (malformed EXIF: no resolution stated)
        return False
