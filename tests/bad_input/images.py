"""Hostile and odd photos, generated at test time from the fixture face (no binaries in the repository).

Each function takes the fixture face photo's JPEG bytes and returns the bytes a patient might send."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def _rgb(face: bytes) -> Image.Image:
    return Image.open(io.BytesIO(face)).convert("RGB")


def _save(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def truncated_jpeg(face: bytes) -> bytes:
    return face[: len(face) // 3]


def corrupt_jpeg(face: bytes) -> bytes:
    """The header intact, the entropy-coded data overwritten with noise."""
    noise = np.random.default_rng(1).integers(0, 256, len(face) - 600, dtype=np.uint8).tobytes()
    return face[:600] + noise


def header_only_jpeg(face: bytes) -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


def png_bomb(face: bytes) -> bytes:
    """A 30000 x 30000 PNG in a few hundred bytes: 900 megapixels once decompressed."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    side = 30_000
    rows = zlib.compress(b"\x00" * (side // 8 + 1) * 64, 9)  # the first rows; the rest never gets read
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def fifty_megabytes(face: bytes) -> bytes:
    """A real JPEG padded to 50 MB (trailing bytes after the end marker, as some cameras write)."""
    return face + bytes(50 * 1024 * 1024 - len(face))


def one_pixel(face: bytes) -> bytes:
    return _save(Image.new("RGB", (1, 1), (200, 160, 140)), "PNG")


def cmyk_jpeg(face: bytes) -> bytes:
    return _save(_rgb(face).convert("CMYK"), "JPEG", quality=92)


def sixteen_bit_png(face: bytes) -> bytes:
    grey = np.asarray(_rgb(face).convert("L"), dtype=np.uint16) * 257
    return _save(Image.fromarray(grey.astype(np.uint16)), "PNG")


def animated_gif(face: bytes) -> bytes:
    base = _rgb(face).resize((160, 200))
    frames = [base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_webp(face: bytes) -> bytes:
    base = _rgb(face)
    frames = [base, base.filter(ImageFilter.GaussianBlur(2))]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)


def heic(face: bytes) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return _save(_rgb(face), "HEIF", quality=90)


def pdf_renamed(face: bytes) -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")


def svg_renamed(face: bytes) -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><circle r="99"/></svg>'


def bmp(face: bytes) -> bytes:
    return _save(_rgb(face), "BMP")


def tiff(face: bytes) -> bytes:
    return _save(_rgb(face), "TIFF")


def noise(face: bytes) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (720, 960, 3), dtype=np.uint8)
    return _save(Image.fromarray(pixels))


def drawn_shape(face: bytes) -> bytes:
    """A cat-free stand-in for 'a photo of something else': an orange disc with ears on a blue wall."""
    image = Image.new("RGB", (960, 720), (70, 110, 170))
    draw = ImageDraw.Draw(image)
    draw.ellipse((280, 160, 680, 560), fill=(230, 140, 50))
    draw.polygon([(300, 250), (340, 90), (420, 190)], fill=(230, 140, 50))
    draw.polygon([(660, 250), (620, 90), (540, 190)], fill=(230, 140, 50))
    return _save(image)


def text_screenshot(face: bytes) -> bytes:
    image = Image.new("RGB", (1080, 1920), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=42)
    for row in range(30):
        draw.text((40, 40 + row * 60), f"12:0{row % 10}  Message {row}: see you at the pharmacy", fill=(20, 20, 20),
                  font=font)
    return _save(image, "PNG")


def upside_down(face: bytes) -> bytes:
    return _save(_rgb(face).rotate(180))


def several_faces(face: bytes) -> bytes:
    """Five copies of the face, three above two (a group photo)."""
    one = _rgb(face)
    one = one.resize((one.width // 2, one.height // 2))
    group = Image.new("RGB", (one.width * 3, one.height * 2), (128, 128, 128))
    for i in range(5):
        group.paste(one, ((i % 3) * one.width, (i // 3) * one.height))
    return _save(group)


def black_frame(face: bytes) -> bytes:
    return _save(Image.new("RGB", (1280, 960), (0, 0, 0)))


def beauty_filter(face: bytes) -> bytes:
    """Skin smoothed away: a strong blur over the whole selfie, as heavy beauty filters do."""
    return _save(_rgb(face).filter(ImageFilter.GaussianBlur(12)))


def bad_exif_orientation(face: bytes) -> bytes:
    image = _rgb(face)
    exif = Image.Exif()
    exif[0x0112] = 9  # orientation values run 1-8
    return _save(image, "JPEG", exif=exif.tobytes())


def transparent_png(face: bytes) -> bytes:
    return _save(Image.new("RGBA", (800, 600), (0, 0, 0, 0)), "PNG")


def thin_strip(face: bytes) -> bytes:
    return _save(_rgb(face).resize((6000, 8)))


def zip_as_image(face: bytes) -> bytes:
    return b"PK\x03\x04" + bytes(200)


def empty(face: bytes) -> bytes:
    return b""
