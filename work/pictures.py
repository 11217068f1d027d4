"""Pictures of past check-ins: the side-by-side of two visits (each visit's first photo, annotated from its stored
result) and the first-vs-latest picture of one region."""
from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.intake import load_photo
from pipeline.result import AssessmentResult
from pipeline.types import Lesion

if TYPE_CHECKING:
    from pipeline.render import Box
# These functions run in the worker processes (work/pool.py); the chat process imports
# this module for their names and the dataclasses only, so the pipeline's heavy parts are imported where used.

PANEL_HEIGHT = 480
LABEL_HEIGHT = 36


@dataclass(frozen=True)
class VisitPhoto:
    data: bytes = field(repr=False)  # the photo as stored
    lesions: tuple[Lesion, ...]  # those found on this photo
    rotated: int  # degrees clockwise the pipeline turned it to find the face (lesion boxes are in that frame)
    label: str  # e.g. the visit's date


def stored_photo(data: bytes, result: AssessmentResult, index: int = 0, label: str = "") -> VisitPhoto:
    """Photo number `index` of a stored check-in with the lesions found on it and the turn the pipeline gave it:
    what `annotated` draws for the export, the console and the side-by-side. Lesions that name no photo (one
    photo, or results stored before lesions named theirs) read as the first photo's."""
    photos = result.visit.photos if result.visit else ()
    rotated = photos[index].rotated if index < len(photos) else 0
    return VisitPhoto(data, tuple(l for l in result.lesions if l.photo == index), rotated, label)


def upright_pixels(visit: VisitPhoto) -> np.ndarray:
    """The stored photo turned the way the pipeline saw it (its lesion boxes are in this frame)."""
    pixels = load_photo(visit.data).pixels
    if visit.rotated % 360:
        pixels = np.ascontiguousarray(np.rot90(pixels, k=-(visit.rotated // 90)))
    return pixels


def annotated(visit: VisitPhoto) -> bytes:
    """JPEG of the stored photo re-annotated from its stored result (the export's photos, the console, the
    side-by-side), without the region outlines, which would need the face landmarks again."""
    from pipeline.render import annotate

    return annotate(upright_pixels(visit), None, visit.lesions)


def _panel(visit: VisitPhoto) -> Image.Image:
    image = Image.open(io.BytesIO(annotated(visit)))
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


@dataclass(frozen=True)
class RegionPhoto:
    """One visit's photo for the first-vs-latest picture."""

    data: bytes = field(repr=False)
    declared: str | None  # the region the patient sent it as (a close-up), None for a full-face photo
    day: date


def region_box(data: bytes, declared: str | None, region: str) -> tuple[np.ndarray, Box | None]:
    """The photo turned upright as the pipeline saw it, and where `region` is in it (None: all of it, for a
    close-up of that region or when the face is not found again). A whole face sent as one region is cut to it."""
    from pipeline.assess import prepare

    prepared = prepare(data, declared)
    pixels = prepared.photo.pixels
    view = prepared.view
    if view is None or view.closeup or not view.masks[region].any():
        return pixels, None
    ys, xs = np.nonzero(view.masks[region])
    (ox, oy), f = view.offset, view.factor
    return pixels, (int(ox + xs.min() / f), int(oy + ys.min() / f), int(ox + (xs.max() + 1) / f),
                    int(oy + (ys.max() + 1) / f))


def first_vs_latest(first: RegionPhoto, latest: RegionPhoto, region: str,
                    labels: Mapping[str, str] | None = None) -> bytes:
    """JPEG: the same region cropped from the first and the latest check-in, side by side, dates and the region's
    name (`labels`, pipeline.render) on top."""
    from pipeline.render import before_after

    first_pixels, first_box = region_box(first.data, first.declared, region)
    latest_pixels, latest_box = region_box(latest.data, latest.declared, region)
    return before_after(first_pixels, latest_pixels, region, first.day, latest.day, first_box=first_box,
                        latest_box=latest_box, labels=labels)
