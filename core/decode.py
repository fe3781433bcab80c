"""Turning untrusted image bytes into an upright RGB picture, or a clear reason why not.

Used by the import (thumbnails, metadata) and by the embedders (model input), so
that every part of planche agrees on what an image looks like: EXIF orientation
applied, first frame of animations, alpha flattened onto white, 16-bit and
floating-point greys scaled rather than clipped.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF (phone photos) through the pillow-heif plugin.
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass

# 178 megapixels, Pillow's own hard limit: a 13k x 13k panorama passes, a file
# that declares 60000 x 60000 pixels in a few bytes does not.
DEFAULT_MAX_PIXELS = 2 * 89_478_485

# Every image planche opens goes through `decode`, which checks the declared
# size against its own limit before any pixel is decoded and names the size in
# its message. Pillow's global check would refuse first, with a vaguer message
# and a limit the user cannot set; its warning would only be noise.
Image.MAX_IMAGE_PIXELS = None
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# Longest side of the stored thumbnails: the grid's half-cell images and the
# pixels embedder are made from them.
THUMBNAIL_SIZE = 128

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib",
        ".tif", ".tiff", ".heic", ".heif", ".avif",
    }
)  # fmt: skip

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME = 306
_ORIENTATION = 274
_TURNED = frozenset(range(2, 9))  # EXIF orientations other than upright


class BadImage(Exception):
    """The bytes are not an image planche can use; the message says why."""


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image  # RGB, upright
    width: int  # full size as displayed (after EXIF orientation)
    height: int
    format: str
    mode: str  # the mode stored in the file, before conversion to RGB
    exif_date: datetime | None


def decode(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    target_size: int | None = None,
) -> DecodedImage:
    """Decode image bytes.

    `target_size` lets JPEG decoding skip detail that a picture of at most that
    many pixels per side would not show (Pillow's `draft`), which is several
    times faster for thumbnails and model input. Raises `BadImage`.
    """
    if not data:
        raise BadImage("empty file (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise BadImage(f"refused as a possible decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise BadImage(f"not an image: unknown format (file starts with {data[:8]!r})") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"unreadable image header: {exc}") from None

    width, height = img.size
    if width <= 0 or height <= 0:
        raise BadImage(f"declares an empty size {width}x{height}")
    if width * height > max_pixels:
        raise BadImage(
            f"declares {width}x{height} pixels ({width * height / 1e6:.0f} MP), over the "
            f"limit of {max_pixels / 1e6:.0f} MP: refused as a possible decompression bomb"
        )
    file_format = img.format or "unknown"
    file_mode = img.mode
    try:
        exif = img.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF must not cost the picture
        exif = Image.Exif()
    orientation = exif.get(_ORIENTATION, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width

    if target_size and file_format == "JPEG":
        # Decode at a power-of-two reduction that still covers the target.
        img.draft("RGB", (target_size, target_size))
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise BadImage(f"refused as a possible decompression bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise BadImage(f"truncated or corrupt image data: {exc}") from None
    except MemoryError:
        raise BadImage("not enough memory to decode it") from None

    try:
        # Pillow's exif_transpose copies the picture when there is nothing to turn.
        upright = (ImageOps.exif_transpose(img) or img) if orientation in _TURNED else img
        rgb = to_rgb(upright)
    except (OSError, ValueError) as exc:
        raise BadImage(f"cannot convert its pixels ({file_mode}) to RGB: {exc}") from None
    return DecodedImage(rgb, width, height, file_format, file_mode, _exif_date(exif))


def to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB copy: alpha flattened on white, high bit depths rescaled."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # Pillow's convert clips these to 0..255, which turns most 16-bit
        # scans white; stretch the actual range instead.
        values = np.asarray(img, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = ((values - low) * scale).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _exif_date(exif: Image.Exif) -> datetime | None:
    try:
        raw = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    except Exception:  # noqa: BLE001 - malformed EXIF blocks are common
        return None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def thumbnail_bytes(img: Image.Image, size: int) -> bytes:
    """A JPEG of at most `size` pixels per side: the pixels of Pillow's
    `thumbnail` (bicubic, reducing gap 2), without its copy of the picture."""
    fitted = thumbnail_size(img.width, img.height, size)
    thumb = img if fitted == img.size else img.resize(fitted, Image.Resampling.BICUBIC,
                                                      reducing_gap=2.0)  # fmt: skip
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=82)
    return out.getvalue()


def thumbnail_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The size Pillow's `thumbnail((size, size))` gives a picture: the aspect
    kept, each side rounded to whichever of floor and ceil keeps it closer."""
    if size >= width and size >= height:
        return width, height
    aspect = width / height
    if aspect <= 1.0:  # at least as tall as wide: the height is `size`
        ideal = size * aspect
        best = min(math.floor(ideal), math.ceil(ideal), key=lambda n: abs(aspect - n / size))
        return max(best, 1), size
    ideal = size / aspect
    best = min(
        math.floor(ideal), math.ceil(ideal), key=lambda n: 0 if n == 0 else abs(aspect - size / n)
    )
    return size, max(best, 1)
