"""Image bytes -> Photo: format check, limits, EXIF orientation; nothing but the pixels survives."""
from __future__ import annotations

import io
import warnings
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipeline.types import Photo

try:  # HEIC/HEIF from iPhones, when the maintained pillow-heif wheel is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - depends on the platform's wheels
    HEIF_SUPPORTED = False

MAX_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 12 MP phone photo passes with room; decompression bombs do not
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "HEIF", "MPO"}  # MPO: JPEG with a depth/preview frame


class IntakeError(Exception):
    """A photo we cannot use; `code` is stable for callers, `message` is safe to show a patient."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _refuse(code: str, message: str) -> IntakeError:
    return IntakeError(code, message)


def load_photo(data: bytes, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Photo:
    if not data:
        raise _refuse("empty", "The file is empty.")
    if len(data) > max_bytes:
        raise _refuse("too_large", f"The file is larger than {max_bytes // (1024 * 1024)} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt = image.format or ""
            if fmt not in ACCEPTED_FORMATS:
                raise _refuse("unsupported_format",
                              "Please send a JPEG, PNG, WebP or HEIC photo"
                              + (f" (this file is {fmt})." if fmt else "."))
            width, height = image.size
            if width * height > max_pixels:
                raise _refuse("too_many_pixels", "The photo has too many pixels; please send a normal phone photo.")
            if getattr(image, "n_frames", 1) > 1 and fmt != "MPO":
                raise _refuse("animated", "Animated images cannot be assessed; please send a still photo.")
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # no copy of a 12 MP photo when it is upright
            rgb = _to_rgb(image)
    except IntakeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse("too_many_pixels", "The photo has too many pixels; please send a normal phone photo.")
    except UnidentifiedImageError:
        raise _refuse("not_an_image", "This file is not a photo we can read.")
    except (OSError, ValueError, SyntaxError, EOFError):
        raise _refuse("corrupt", "The photo seems damaged or incomplete; please send it again.")
    return Photo(pixels=rgb, source_format="JPEG" if fmt == "MPO" else fmt)


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grey: scale to 8 bits by its own range instead of Pillow's clipping.
        arr = np.asarray(image, dtype=np.float64)
        top = arr.max() or 1.0
        grey = np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[-1])
        image = background
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
