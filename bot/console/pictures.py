"""Pictures for the console, made on request from the encrypted photo store (nothing rendered is kept):
re-encoded photos (no EXIF or GPS leaves the server), annotated photos and the trend chart."""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from PIL import Image

from pipeline.intake import load_photo
from pipeline.types import Lesion

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


def annotated(data: bytes, result: Mapping[str, Any], index: int) -> bytes:
    """The check-in's photo number `index` with its lesions ringed, as the patient saw it (without the region
    outlines, which need the face landmarks again)."""
    pixels = load_photo(data).pixels
    turns = int((result.get("photos") or [{}] * (index + 1))[index].get("rotated", 0)) // 90
    if turns:  # the assessment turned a sideways photo upright; lesion boxes are in the turned pixels
        pixels = np.ascontiguousarray(np.rot90(pixels, k=-turns))
    lesions = [Lesion(region=item["region"], type=item["type"], x=item["x"], y=item["y"], w=item["w"],
                      h=item["h"], confidence=item["confidence"])
               for item in result.get("lesions", []) if item.get("photo", 0) == index]
    from pipeline.render import annotate

    return annotate(pixels, None, lesions)


def trend(points: Sequence[tuple[datetime, float]]) -> bytes:
    from pipeline.render import trend_chart

    return trend_chart(points)
