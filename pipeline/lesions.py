"""Tile probabilities -> lesion instances, each counted once although tiles overlap.

The classifier says what a tile shows; where in the tile the lesion sits comes from a blob detector
(difference of Gaussians at lesion scale, on lightness and on redness), so boxes land on the lesion and
two lesions in neighbouring tiles stay two, while the up to four tiles that see one lesion agree on it.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.patches import CanonicalView, Tiles
from pipeline.preprocess import PATCH_SIZE
from pipeline.regions import on_patients_left
from pipeline.types import CLASSES, Lesion

# A tile is a finding when its best class is not "normal" and at least this probable. The focal-loss
# student spreads its probability mass, so these sit below 0.5. Tuned on 103 photos of the train split
# (bench/detection_accuracy.py --split train --stride 25), never on the held-out valid split: papules peak
# in F1 at 0.35; comedones at 0.4 bring the acne count error per photo to +0.5 on average; nodules and the
# non-acne marks stay stricter, because a nodule sends the patient to a doctor.
MIN_CONFIDENCE = {"comedone": 0.4, "papule": 0.35, "pustule": 0.35, "nodule": 0.45,
                  "spot": 0.45, "scar": 0.45, "mole": 0.45}
BLOB_SIGMA = 3.0  # canonical px: lesions are about 12-30 px across at the canonical face scale
SEARCH_INSET = PATCH_SIZE // 8  # where in a tile the lesion may sit: training patches were lesion-centred
LESION_BOX = 20  # canonical px side of a reported lesion box
MIN_BLOB_CONTRAST = 0.5  # grey levels: below this the tile shows no spot to home in on
SAME_LESION_DISTANCE = 10.0  # canonical px between two findings of one type that are the same lesion


def blob_response(pixels: np.ndarray) -> np.ndarray:
    """How much each pixel looks like the centre of a small spot darker, lighter or redder than its skin."""
    ycc = cv2.cvtColor(pixels, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    near, far = BLOB_SIGMA, 1.6 * BLOB_SIGMA
    dog = cv2.GaussianBlur(ycc, (0, 0), near) - cv2.GaussianBlur(ycc, (0, 0), far)
    return np.abs(dog[..., 0]) + 2.0 * np.maximum(dog[..., 1], 0)


def find_lesions(view: CanonicalView, tiles: Tiles, probs: np.ndarray, photo: int = 0) -> list[Lesion]:
    if len(tiles) == 0:
        return []
    best = probs.argmax(axis=1)
    conf = probs[np.arange(len(probs)), best]
    response = blob_response(view.pixels)
    lesions: list[Lesion] = []
    for cls_index, name in enumerate(CLASSES):
        if name == "normal":
            continue
        hits = np.flatnonzero((best == cls_index) & (conf >= MIN_CONFIDENCE[name]))
        centres = np.array([_locate(response, tiles.boxes[i]) for i in hits]).reshape(-1, 2)
        for k in _one_per_lesion(centres, conf[hits]):
            i = hits[k]
            lesions.append(_to_lesion(view, centres[k], tiles.regions[i], name, float(conf[i]), photo))
    return lesions


def _locate(response: np.ndarray, box) -> tuple[float, float]:
    x, y, w, h = (int(v) for v in box)
    x0, y0 = x + SEARCH_INSET, y + SEARCH_INSET
    window = response[y0: y + h - SEARCH_INSET, x0: x + w - SEARCH_INSET]
    if window.size == 0 or float(window.max()) < MIN_BLOB_CONTRAST:
        return x + w / 2, y + h / 2
    wy, wx = np.unravel_index(int(np.argmax(window)), window.shape)
    return float(x0 + wx), float(y0 + wy)


def _one_per_lesion(centres: np.ndarray, scores: np.ndarray) -> list[int]:
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(np.hypot(*(centres[i] - centres[k])) >= SAME_LESION_DISTANCE for k in kept):
            kept.append(int(i))
    return kept


def _to_lesion(view: CanonicalView, centre, region: str, name: str, confidence: float, photo: int) -> Lesion:
    cx, cy = float(centre[0]), float(centre[1])
    half = LESION_BOX / 2
    x0, y0 = view.to_photo(cx - half, cy - half)
    x1, y1 = view.to_photo(cx + half, cy + half)
    return Lesion(region=region, type=name, x=int(round(x0)), y=int(round(y0)),
                  w=max(1, int(round(x1 - x0))), h=max(1, int(round(y1 - y0))),
                  confidence=round(confidence, 3), side=_side(view, region, cx, cy), photo=photo)


def _side(view: CanonicalView, region: str, x: float, y: float) -> str | None:
    if region in ("left_cheek", "right_cheek"):
        return region.split("_")[0]
    if view.landmarks is None:
        return None
    return "left" if on_patients_left(view.landmarks, x, y) else "right"
