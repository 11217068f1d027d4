"""Intake: every accepted format decodes upright and metadata-free; every bad file gets a typed reason."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from pipeline.intake import HEIF_SUPPORTED, IntakeError, load_photo
from tests.conftest import encode


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb() -> bytes:
    """A valid PNG header announcing 100,000 x 100,000 pixels with a few bytes of data behind it."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def _face_jpeg(portrait) -> bytes:
    return encode(portrait)


BAD_FILES = [
    ("empty", lambda p: b"", "empty"),
    ("text", lambda p: b"hello, this is not a photo", "not_an_image"),
    ("pdf renamed .jpg", lambda p: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "not_an_image"),
    ("truncated jpeg", lambda p: _face_jpeg(p)[:3000], "corrupt"),
    ("jpeg with garbage body", lambda p: _face_jpeg(p)[:600] + bytes(range(256)) * 40, "corrupt"),
    ("png decompression bomb", lambda p: _png_bomb(), "too_many_pixels"),
    ("50 MB file", lambda p: b"\xff\xd8\xff\xe0" + b"\0" * (50 * 1024 * 1024), "too_large"),
    ("gif", lambda p: encode(np.zeros((64, 64, 3), np.uint8), "GIF"), "unsupported_format"),
    ("animated gif", lambda p: _animated("GIF"), "unsupported_format"),
    ("animated webp", lambda p: _animated("WEBP"), "animated"),
    ("bmp", lambda p: encode(np.zeros((64, 64, 3), np.uint8), "BMP"), "unsupported_format"),
]


@pytest.mark.parametrize("name,make,code", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused_with_a_typed_reason(name, make, code, portrait_rgb):
    with pytest.raises(IntakeError) as err:
        load_photo(make(portrait_rgb))
    assert err.value.code == code
    assert err.value.message and "Traceback" not in err.value.message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_decode_to_rgb(fmt, portrait_rgb):
    photo = load_photo(encode(portrait_rgb, fmt))
    assert photo.pixels.shape == portrait_rgb.shape and photo.pixels.dtype == np.uint8
    assert photo.source_format == fmt


@pytest.mark.skipif(not HEIF_SUPPORTED, reason="pillow-heif not installed")
def test_heic_decodes(portrait_rgb):
    try:
        data = encode(portrait_rgb, "HEIF", quality=90)
    except (KeyError, OSError, ValueError) as exc:  # wheels without an encoder can still decode
        pytest.skip(f"this pillow-heif cannot encode HEIF: {exc}")
    photo = load_photo(data)
    assert photo.pixels.shape == portrait_rgb.shape and photo.source_format == "HEIF"


def test_exif_orientation_is_applied_and_metadata_dropped(portrait_rgb):
    wide = portrait_rgb[:, : portrait_rgb.shape[1] // 2]  # taller than wide
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: the viewer must turn it clockwise
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    exif[0x010F] = "PhoneMaker"
    photo = load_photo(encode(wide, exif=exif.tobytes()))
    assert photo.pixels.shape[:2] == (wide.shape[1], wide.shape[0])
    assert np.abs(photo.pixels.astype(int) - np.rot90(wide, k=-1).astype(int)).mean() < 6
    assert not hasattr(photo, "exif") and set(vars(photo)) == {"pixels", "source_format"}


def test_cmyk_jpeg_becomes_rgb(portrait_rgb):
    out = io.BytesIO()
    Image.fromarray(portrait_rgb).convert("CMYK").save(out, "JPEG")
    photo = load_photo(out.getvalue())
    assert photo.pixels.shape == portrait_rgb.shape
    assert np.abs(photo.pixels.astype(int) - portrait_rgb.astype(int)).mean() < 25


def test_16_bit_png_keeps_its_contrast():
    ramp = (np.linspace(0, 4095, 256 * 256).reshape(256, 256)).astype(np.uint16)  # 12-bit data in 16 bits
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, "PNG")
    photo = load_photo(out.getvalue())
    assert photo.pixels.shape == (256, 256, 3)
    assert photo.pixels.min() == 0 and photo.pixels.max() == 255


def test_transparent_png_is_flattened_on_white():
    rgba = np.zeros((80, 80, 4), np.uint8)
    photo = load_photo(encode(rgba, "PNG"))
    assert (photo.pixels == 255).all()


def test_pixel_limit_is_configurable(portrait_rgb):
    with pytest.raises(IntakeError) as err:
        load_photo(encode(portrait_rgb), max_pixels=1000)
    assert err.value.code == "too_many_pixels"
