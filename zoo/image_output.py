"""Writing restored images: the format an output path names, what that format cannot hold
(refused as an :class:`OutputError` before any work), and the file itself, written atomically
with the input's ICC profile, EXIF block, resolution and PNG colour chunks where it can hold them.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from zoo.atomic import atomic_write
from zoo.errors import ImageError, first_line, printable
from zoo.imaging import ImageWarning, LoadedImage

__all__ = [
    "OutputError",
    "WRITE_FORMATS",
    "check_output",
    "is_zoo_result",
    "output_format",
    "output_path",
    "to_pil",
    "write_image",
]

WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                 ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}
_NO_ALPHA_FORMATS = ("JPEG", "BMP")
"""Formats whose files (as Pillow writes and reads them) lose the alpha channel."""
MAX_SIDES = {"JPEG": 65500, "WEBP": 16383}
"""The longest side each format's encoder (libjpeg, libwebp) can write, in pixels."""
PNG_COMPRESS_LEVEL = 3
"""zlib's level for PNG results, chosen with ``benchmarks/speed_write.py`` (docs/restore.md
quotes it): Pillow's default 6 took three times as long as 3 for 15 % fewer bytes, and on a
24-MP ``arnet-nogan`` result 6.4 s against 2.1 s (``--image``), of a restore of about 20 s."""
MAX_JPEG_EXIF = 65533
"""The most bytes of EXIF (``Exif\\0\\0`` header included) one JPEG APP1 marker holds."""
MAX_JPEG_XMP = 65504
"""The most bytes of XMP one JPEG APP1 marker holds (after its namespace header)."""
_TIFF_XMP = 700
"""The TIFF tag an XMP packet is stored under."""
_DPI_FORMATS = ("PNG", "JPEG", "TIFF", "BMP")
"""Formats whose files Pillow writes a resolution into."""
RESULT_SOFTWARE = "zoo"
"""The first word of a PNG result's ``Software`` text (``zoo 0.1.0 (arnet-nogan)``), by which a
folder walk knows an earlier result whatever its suffix."""


def to_pil(image: LoadedImage) -> Image.Image:
    """A PIL image of the pixels with the alpha re-attached (L, LA, RGB or RGBA)."""
    pil = Image.fromarray(image.pixels, "L" if image.is_grey else "RGB")
    if image.alpha is not None:
        pil.putalpha(Image.fromarray(image.alpha, "L"))
    return pil


def output_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`write_image` writes ``path``: PNG when it has no suffix."""
    path = Path(path)
    return path.with_suffix(".png") if path.suffix == "" else path


def output_format(path: str | os.PathLike[str]) -> str:
    """The Pillow format :func:`write_image` uses for ``path``; an unknown suffix is an
    :class:`ImageError` (checked before any work, by callers that know the path early)."""
    path = output_path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(WRITE_FORMATS))
        raise ImageError(f"{path}: cannot write {path.suffix!r} files; use one of {known}")
    return fmt


class OutputError(ImageError):
    """A result that its output file's format cannot hold; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def check_output(path: str | os.PathLike[str], image: LoadedImage) -> None:
    """Refuse, as an :class:`OutputError`, a result of ``image``'s size and planes that the
    format of ``path`` cannot hold: alpha in JPEG or BMP, a side above WebP's or JPEG's
    limit. The result has the input's size, so this runs before the model does."""
    path, fmt = output_path(path), output_format(path)
    if fmt in _NO_ALPHA_FORMATS and image.alpha is not None:
        raise OutputError(path, f"{fmt} files cannot keep the alpha channel; write PNG, WebP "
                                "or TIFF")
    limit = MAX_SIDES.get(fmt)
    if limit is not None and max(image.size) > limit:
        width, height = image.size
        raise OutputError(path, f"the image is {width}x{height}, and {fmt} files are at most "
                                f"{limit} pixels a side; write PNG or TIFF")


def save_options(path: Path, fmt: str, image: LoadedImage,
                 software: str | None = None) -> dict[str, object]:
    """Pillow's options for ``fmt``: the ICC profile and EXIF where it can hold them (an EXIF
    block too long for a JPEG marker is left out, with a warning), the resolution, ``software``
    as a PNG's ``Software`` text, and its compression."""
    options: dict[str, object] = {}
    if image.icc_profile and _holds_profile(fmt, image):
        options["icc_profile"] = image.icc_profile
    exif = image.exif if fmt in _EXIF_FORMATS else None
    if exif and fmt == "JPEG" and len(exif) > MAX_JPEG_EXIF:
        warnings.warn(printable(f"{path}: the EXIF block ({len(exif):,} bytes) is longer than "
                                f"a JPEG holds ({MAX_JPEG_EXIF:,}); written without it (PNG, "
                                "WebP keep it)"), ImageWarning, stacklevel=3)
        exif = None
    if exif:
        options["exif"] = exif
    xmp = image.xmp
    if xmp and fmt == "JPEG" and len(xmp) > MAX_JPEG_XMP:
        warnings.warn(printable(f"{path}: the XMP packet ({len(xmp):,} bytes) is longer than a "
                                f"JPEG holds ({MAX_JPEG_XMP:,}); written without it (PNG, WebP, "
                                "TIFF keep it)"), ImageWarning, stacklevel=3)
        xmp = None
    if xmp and fmt in ("JPEG", "WEBP"):  # PNG's goes into its text chunks, below
        options["xmp"] = xmp
    elif xmp and fmt == "TIFF":
        tiff = Image.Exif()
        tiff[_TIFF_XMP] = xmp
        options["exif"] = tiff
    _warn_dropped(path, fmt, image)
    if image.dpi and fmt in _DPI_FORMATS:
        options["dpi"] = image.dpi
    if fmt == "PNG" and (image.png_colour or software or xmp):
        chunks = PngInfo()
        for kind, data in image.png_colour:
            chunks.add(kind, data)
        if xmp:
            chunks.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"))
        if software:
            chunks.add_text("Software", software)
        options["pnginfo"] = chunks
    options.update({"PNG": {"compress_level": PNG_COMPRESS_LEVEL},
                    "JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"lossless": True, "exact": True},
                    "TIFF": {"compression": "tiff_lzw"}}.get(fmt, {}))
    return options


_EXIF_FORMATS = ("PNG", "JPEG", "WEBP")
_XMP_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")


def _holds_profile(fmt: str, image: LoadedImage) -> bool:
    """Whether a ``fmt`` result keeps ``image``'s ICC profile: not BMP, and not a grey image's
    in WebP (libwebp stores grey as RGB, which a grey profile does not describe)."""
    return fmt != "BMP" and not (fmt == "WEBP" and image.is_grey)


def _warn_dropped(path: Path, fmt: str, image: LoadedImage) -> None:
    """One warning naming what of the input's metadata the output's format cannot hold."""
    dropped = [name for name, held, kept in (
        ("ICC profile", image.icc_profile, _holds_profile(fmt, image)),
        ("EXIF", image.exif, fmt in _EXIF_FORMATS),
        ("XMP", image.xmp, fmt in _XMP_FORMATS)) if held and not kept]
    if dropped:
        warnings.warn(printable(f"{path}: the input's {' and '.join(dropped)} cannot go into "
                                f"a {fmt} result; written without (PNG keeps them)"),
                      ImageWarning, stacklevel=4)


def write_image(path: str | os.PathLike[str], image: LoadedImage, *,
                software: str | None = None) -> Path:
    """Write atomically; the format follows the suffix (lossless PNG when there is none).

    Alpha is re-attached, grey stays grey, and the ICC profile and EXIF block are carried where
    the format can hold them; a PNG says ``software`` made it. What the format cannot hold
    (:func:`check_output`), or what its encoder refuses, is an :class:`OutputError` naming
    ``path``.
    """
    path, fmt = output_path(path), output_format(path)
    check_output(path, image)
    pil, options = to_pil(image), save_options(path, fmt, image, software)

    def save(handle: io.BufferedWriter) -> None:
        try:
            pil.save(handle, format=fmt, **options)
        except ValueError as exc:  # an encoder's refusal (a limit of its format), not the disk
            raise OutputError(path, f"the {fmt} encoder refused it ({first_line(exc)})") from None

    return atomic_write(path, save, mode="wb")


def is_zoo_result(path: Path) -> bool:
    """Whether ``path`` is a PNG that ``zoo restore`` wrote (its ``Software`` text says so);
    False for anything else, a file that cannot be read included (reading it says why)."""
    try:
        with warnings.catch_warnings(), Image.open(path) as image:
            warnings.simplefilter("ignore")  # a bomb's warning: restoring it says so
            software = str(image.info.get("Software", "")) if image.format == "PNG" else ""
    except Exception:  # noqa: BLE001 - any file Pillow cannot open is simply not a result
        return False
    return software.split(" ", 1)[0] == RESULT_SOFTWARE
