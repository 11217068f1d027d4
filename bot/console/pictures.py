"""Pictures for the console, made on request from the encrypted photo store (nothing rendered is kept):
re-encoded photos (no EXIF or GPS leaves the server) and the trend chart; annotated photos are work.pictures'."""
from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from PIL import Image

from pipeline.intake import load_photo

# These run in the pool's worker processes when the service passes them (bot/console/site.py PICTURES):
# the renderer (OpenCV, matplotlib) is imported where they run, not by the chat process.

THUMB_SIDE = 320
FULL_SIDE = 1280


def jpeg(data: bytes, max_side: int) -> bytes:
    """The stored photo upright (EXIF orientation applied by intake), at most `max_side`, without metadata."""
    image = Image.fromarray(load_photo(data).pixels)
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def trend(points: Sequence[tuple[datetime, float]]) -> bytes:
    from pipeline.render import trend_chart

    return trend_chart(points)
