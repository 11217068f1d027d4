"""Canonical, enhanced views of a photo and the model-input tiles cut from each region's skin."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.faces import FaceLandmarks, SideFace
from pipeline.preprocess import PATCH_SIZE, enhance, resize, scale_for_closeup, scale_for_face
from pipeline.regions import region_masks, side_masks, skin_like, why_not_assessed
from pipeline.types import REGIONS

FACE_MARGIN = 0.25  # of the face height, kept around the landmarks so border tiles have context
TILE_STRIDE = PATCH_SIZE // 2
MIN_TILE_COVERAGE = 0.5  # a tile must be at least half skin of its region
COLOURLESS_SPREAD = 2.0  # mean distance of a pixel's channels from their mean, 0-255
BLACK_BORDER, BURNT_OUT = 16, 250  # grey levels that are not skin in a black-and-white close-up


@dataclass
class CanonicalView:
    """A crop of the photo resized to the canonical face scale, median-filtered and CLAHE-enhanced."""

    pixels: np.ndarray  # uint8 RGB at canonical scale
    factor: float  # canonical pixels per photo pixel
    offset: tuple[int, int]  # the crop's top-left corner in photo pixels
    masks: dict[str, np.ndarray]  # region -> bool mask, canonical coordinates
    why_not: dict[str, str] = field(default_factory=dict)  # region not assessed -> why (types.NOT_ASSESSED_WHY)
    landmarks: FaceLandmarks | None = None  # canonical coordinates, None for a declared close-up
    raw: np.ndarray | None = None  # the same crop before enhancement, for the quality checks
    # Side of the window cut around an acne lesion to name its type (canonical px, then resized to PATCH_SIZE).
    type_window: int = PATCH_SIZE
    closeup: bool = False  # a photo the patient declared as one region

    @property
    def assessed(self) -> dict[str, bool]:
        return {r: r not in self.why_not for r in REGIONS}

    def to_photo(self, x: float, y: float) -> tuple[float, float]:
        return x / self.factor + self.offset[0], y / self.factor + self.offset[1]

    def to_canonical(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.offset[0]) * self.factor, (y - self.offset[1]) * self.factor


@dataclass
class Tiles:
    patches: np.ndarray  # N x S x S x 3 uint8
    boxes: np.ndarray  # N x 4 int (x, y, w, h), canonical coordinates
    regions: list[str]

    def __len__(self) -> int:
        return len(self.regions)


def face_view(rgb: np.ndarray, face: FaceLandmarks) -> CanonicalView:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = face.box()
    m = FACE_MARGIN * face.height
    x0, y0 = max(0, int(x0 - m)), max(0, int(y0 - m))
    x1, y1 = min(w, int(x1 + m)), min(h, int(y1 + m))
    factor = scale_for_face(face.height)
    crop = resize(rgb[y0:y1, x0:x1], factor)
    landmarks = FaceLandmarks((face.points - np.array([x0, y0], np.float32)) * factor)
    masks = region_masks(crop, landmarks)
    return CanonicalView(enhance(crop), factor, (x0, y0), masks, why_not_assessed(masks, PATCH_SIZE), landmarks, crop)


def one_region_of(view: CanonicalView, region: str) -> CanonicalView:
    """A face's view in which only `region` is assessed: a photo the patient declared as that region but that shows
    the whole face (the other regions are another photo's, or skipped)."""
    masks = {r: (m if r == region else np.zeros_like(m)) for r, m in view.masks.items()}
    why = {**{r: w for r, w in view.why_not.items() if r == region}, **{r: "no_photo" for r in REGIONS if r != region}}
    return CanonicalView(view.pixels, view.factor, view.offset, masks, why, view.landmarks, view.raw)


def side_view(rgb: np.ndarray, face: SideFace) -> CanonicalView:
    """A turned face FaceMesh could not fit: the detector's box with a margin, at canonical scale, with the
    regions that side of the face shows (no landmarks, like a close-up)."""
    h, w = rgb.shape[:2]
    m = FACE_MARGIN * face.height
    x0, y0 = max(0, int(face.box[0] - m)), max(0, int(face.box[1] - m))
    x1, y1 = min(w, int(face.box[2] + m)), min(h, int(face.box[3] + m))
    factor = scale_for_face(face.height)
    crop = resize(rgb[y0:y1, x0:x1], factor)
    moved = SideFace(((face.box[0] - x0) * factor, (face.box[1] - y0) * factor, (face.box[2] - x0) * factor,
                      (face.box[3] - y0) * factor), (face.eyes - (x0, y0)) * factor, (face.nose - (x0, y0)) * factor,
                     (face.mouth - (x0, y0)) * factor)
    masks = side_masks(crop, moved)
    shown = ("forehead", moved.visible_cheek)  # the rest of the face is turned away from the camera
    why = {**why_not_assessed(masks, PATCH_SIZE), **{r: "turned_away" for r in REGIONS if r not in shown}}
    return CanonicalView(enhance(crop), factor, (x0, y0), masks, why, None, crop)


def closeup_view(rgb: np.ndarray, region: str) -> CanonicalView:
    """A photo the patient declared as one region: skin anywhere in it belongs to that region."""
    h, w = rgb.shape[:2]
    factor = scale_for_closeup(w, h)
    canon = resize(rgb, factor)
    ch, cw = canon.shape[:2]
    skin = _closeup_skin(canon)
    masks = {r: (skin if r == region else np.zeros_like(skin)) for r in REGIONS}
    why = {**why_not_assessed(masks, PATCH_SIZE), **{r: "no_photo" for r in REGIONS if r != region}}
    # The type classifier learnt close-ups from windows of half to all of one, resized to a patch; at the
    # canonical scale a close-up's lesion fills a patch many times over, and its type was mostly wrong.
    return CanonicalView(enhance(canon), factor, (0, 0), masks, why, raw=canon,
                         type_window=max(PATCH_SIZE, min(ch, cw) // 2), closeup=True)


def _closeup_skin(canon: np.ndarray) -> np.ndarray:
    """The skin of a close-up: skin-coloured pixels grown from its centre; in a black-and-white photo, which
    has no colour to tell skin by, every pixel that is neither black (a border) nor burnt out."""
    ch, cw = canon.shape[:2]
    if _colourless(canon):
        grey = cv2.cvtColor(canon, cv2.COLOR_RGB2GRAY)
        return (grey > BLACK_BORDER) & (grey < BURNT_OUT)
    centre = np.zeros((ch, cw), bool)
    centre[ch // 4: 3 * ch // 4, cw // 4: 3 * cw // 4] = True
    return skin_like(canon, centre) if _looks_like_skin(canon[centre]) else np.zeros((ch, cw), bool)


def _colourless(rgb: np.ndarray) -> bool:
    """A black-and-white photo (a filter, a scan): its channels differ by less than JPEG noise."""
    channels = rgb.astype(np.int16)
    return float(np.abs(channels - channels.mean(axis=2, keepdims=True)).mean()) < COLOURLESS_SPREAD


# The classic YCrCb skin gamut is Cr 133-180; close-ups reach past it both ways: washed-out photos (Cr 127-132)
# and inflamed skin filling the frame (up to 199). Those were 56 of the 2,494 colour close-ups in the training groups.
CLOSEUP_SKIN_CR = (127, 200)
CLOSEUP_SKIN_CB = (77, 135)


# A photo sent as the whole face, in which no face was found, is offered as a close-up only when its centre is
# skin in the classic gamut: the close-up gamut's washed-out end is neutral grey, as a wall, a page or noise is.
PLAIN_SKIN_CR = (133, CLOSEUP_SKIN_CR[1])


def _looks_like_skin(pixels: np.ndarray, cr_range: tuple[int, int] = CLOSEUP_SKIN_CR) -> bool:
    """Is the typical colour of these pixels a human skin tone (any complexion, washed out or inflamed)?"""
    _, cr, cb = np.median(cv2.cvtColor(pixels.reshape(-1, 1, 3), cv2.COLOR_RGB2YCrCb).reshape(-1, 3), axis=0)
    return cr_range[0] <= cr <= cr_range[1] and CLOSEUP_SKIN_CB[0] <= cb <= CLOSEUP_SKIN_CB[1]


def shows_skin_plainly(rgb: np.ndarray) -> bool:
    """Whether the middle of this photo is plainly skin (not grey, paper or noise): a photo with no face in it
    may then be a close-up."""
    h, w = rgb.shape[:2]
    return _looks_like_skin(rgb[h // 4: 3 * h // 4, w // 4: 3 * w // 4], PLAIN_SKIN_CR)


def crop_patch(pixels: np.ndarray, cx: float, cy: float, size: int = PATCH_SIZE) -> np.ndarray:
    """A size x size patch centred on (cx, cy), reflected at the borders."""
    half = size // 2
    x, y = int(round(cx)) - half, int(round(cy)) - half
    h, w = pixels.shape[:2]
    pad = max(0, -x, -y, x + size - w, y + size - h)
    if pad:
        pixels = cv2.copyMakeBorder(pixels, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        x, y = x + pad, y + pad
    return pixels[y:y + size, x:x + size]


def tiles(view: CanonicalView, stride: int = TILE_STRIDE) -> Tiles:
    """Overlapping tiles over the skin of every assessed region; each tile belongs to one region."""
    S = PATCH_SIZE
    names = [r for r in REGIONS if view.assessed.get(r)]
    if not names:
        return Tiles(np.zeros((0, S, S, 3), np.uint8), np.zeros((0, 4), int), [])
    # Integral images make the coverage of every candidate tile an O(1) lookup.
    integrals = {r: cv2.integral(view.masks[r].astype(np.uint8)) for r in names}
    h, w = view.pixels.shape[:2]
    patches, boxes, regions = [], [], []
    for y in range(0, max(1, h - S + 1), stride):
        for x in range(0, max(1, w - S + 1), stride):
            cover = {r: _box_sum(integrals[r], x, y, S) / (S * S) for r in names}
            best = max(cover, key=cover.get)
            if cover[best] >= MIN_TILE_COVERAGE:
                patches.append(crop_patch(view.pixels, x + S / 2, y + S / 2))
                boxes.append((x, y, S, S))
                regions.append(best)
    if not patches:
        return Tiles(np.zeros((0, S, S, 3), np.uint8), np.zeros((0, 4), int), [])
    return Tiles(np.stack(patches), np.array(boxes, int), regions)


def _box_sum(integral: np.ndarray, x: int, y: int, size: int) -> float:
    h, w = integral.shape[0] - 1, integral.shape[1] - 1
    x1, y1 = min(w, x + size), min(h, y + size)
    return float(integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x])
