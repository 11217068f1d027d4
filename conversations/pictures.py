"""The side-by-side picture of two check-ins: each visit's first photo, annotated from its stored result."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.intake import load_photo
from pipeline.render import annotate
from pipeline.types import Lesion

PANEL_HEIGHT = 480
LABEL_HEIGHT = 36


@dataclass(frozen=True)
class VisitPhoto:
    data: bytes = field(repr=False)  # the photo as stored
    lesions: tuple[dict, ...]  # assessment_json "lesions" of this photo
    rotated: int  # degrees clockwise the pipeline turned it to find the face (lesion boxes are in that frame)
    label: str  # e.g. the visit's date


def _panel(visit: VisitPhoto) -> Image.Image:
    pixels = load_photo(visit.data).pixels
    if visit.rotated % 360:
        pixels = np.ascontiguousarray(np.rot90(pixels, k=-(visit.rotated // 90)))
    lesions = [Lesion(l["region"], l["type"], l["x"], l["y"], l["w"], l["h"], l.get("confidence", 1.0))
               for l in visit.lesions]
    image = Image.open(io.BytesIO(annotate(pixels, None, lesions)))
    width = max(1, round(image.width * PANEL_HEIGHT / image.height))
    image = image.resize((width, PANEL_HEIGHT))
    framed = Image.new("RGB", (width, PANEL_HEIGHT + LABEL_HEIGHT), (255, 255, 255))
    framed.paste(image, (0, LABEL_HEIGHT))
    ImageDraw.Draw(framed).text((8, 8), visit.label, fill=(0, 0, 0), font=ImageFont.load_default(size=20))
    return framed


def side_by_side(left: VisitPhoto, right: VisitPhoto) -> bytes:
    """JPEG: the earlier visit on the left, the later on the right, each labelled (labels are ASCII: dates)."""
    a, b = _panel(left), _panel(right)
    gap = 12
    canvas = Image.new("RGB", (a.width + gap + b.width, a.height), (255, 255, 255))
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width + gap, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()
