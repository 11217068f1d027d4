"""Tile probabilities -> lesion instances, each counted once although tiles overlap."""
from __future__ import annotations

import numpy as np

from pipeline.patches import CanonicalView, Tiles
from pipeline.preprocess import PATCH_SIZE
from pipeline.regions import on_patients_left
from pipeline.types import CLASSES, Lesion

# A tile is a finding when its best class is not "normal" and at least this probable. Acne classes are
# tuned a little lower than the non-acne marks: missing a lesion costs the patient more than a false mark.
MIN_CONFIDENCE = {"comedone": 0.5, "papule": 0.5, "pustule": 0.5, "nodule": 0.55,
                  "spot": 0.6, "scar": 0.6, "mole": 0.6}
# Two findings of one type closer than this (canonical px, centre to centre) are the same lesion: the
# tiles overlap by half, so a lesion shows in up to four neighbouring tiles.
SAME_LESION_DISTANCE = 0.75 * PATCH_SIZE


def find_lesions(view: CanonicalView, tiles: Tiles, probs: np.ndarray, photo: int = 0) -> list[Lesion]:
    if len(tiles) == 0:
        return []
    best = probs.argmax(axis=1)
    conf = probs[np.arange(len(probs)), best]
    lesions: list[Lesion] = []
    for cls_index, name in enumerate(CLASSES):
        if name == "normal":
            continue
        hits = np.flatnonzero((best == cls_index) & (conf >= MIN_CONFIDENCE[name]))
        for i in _suppress_neighbours(tiles.boxes[hits], conf[hits]):
            lesions.append(_to_lesion(view, tiles.boxes[hits[i]], tiles.regions[hits[i]], name,
                                      float(conf[hits[i]]), photo))
    return lesions


def _suppress_neighbours(boxes: np.ndarray, scores: np.ndarray) -> list[int]:
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    kept: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(np.hypot(*(centres[i] - centres[k])) >= SAME_LESION_DISTANCE for k in kept):
            kept.append(int(i))
    return kept


def _to_lesion(view: CanonicalView, box, region: str, name: str, confidence: float, photo: int) -> Lesion:
    x, y, w, h = (float(v) for v in box)
    # Training patches are centred on their lesion, so the lesion sits in the tile's central half.
    cx0, cy0 = view.to_photo(x + w / 4, y + h / 4)
    cx1, cy1 = view.to_photo(x + 3 * w / 4, y + 3 * h / 4)
    return Lesion(region=region, type=name, x=int(round(cx0)), y=int(round(cy0)),
                  w=max(1, int(round(cx1 - cx0))), h=max(1, int(round(cy1 - cy0))),
                  confidence=round(confidence, 3), side=_side(view, region, x + w / 2, y + h / 2), photo=photo)


def _side(view: CanonicalView, region: str, x: float, y: float) -> str | None:
    if region in ("left_cheek", "right_cheek"):
        return region.split("_")[0]
    if view.landmarks is None:
        return None
    return "left" if on_patients_left(view.landmarks, x, y) else "right"
