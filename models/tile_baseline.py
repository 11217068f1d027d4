"""The pipeline's lesion step before the detector, kept as the baseline the evaluation and bench compare with:
classify 64 px grid tiles (stride 32) with the Acne-RegNet student, then look for one spot per finding tile
(difference of Gaussians on lightness and redness)."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.patches import CanonicalView, tiles
from pipeline.preprocess import PATCH_SIZE
from pipeline.faces import on_patients_left
from pipeline.types import CLASSES, Lesion

MIN_CONFIDENCE = {"comedone": 0.4, "papule": 0.35, "pustule": 0.35, "nodule": 0.45,
                  "spot": 0.45, "scar": 0.45, "mole": 0.45}
BLOB_SIGMA = 3.0
SEARCH_INSET = PATCH_SIZE // 8
LESION_BOX = 20
MIN_BLOB_CONTRAST = 0.5
SAME_LESION_DISTANCE = 10.0


def baseline_lesions(view: CanonicalView, classifier, photo: int = 0) -> list[Lesion]:
    t = tiles(view)
    if len(t) == 0:
        return []
    probs = classifier.predict(t.patches)
    best = probs.argmax(axis=1)
    conf = probs[np.arange(len(probs)), best]
    response = _blob_response(view.pixels)
    out: list[Lesion] = []
    for cls_index, name in enumerate(CLASSES):
        if name == "normal":
            continue
        hits = np.flatnonzero((best == cls_index) & (conf >= MIN_CONFIDENCE[name]))
        centres = np.array([_locate(response, t.boxes[i]) for i in hits]).reshape(-1, 2)
        for k in _one_per_lesion(centres, conf[hits]):
            i = hits[k]
            out.append(_lesion(view, centres[k], t.regions[i], name, float(conf[i]), photo))
    return out


def _blob_response(pixels: np.ndarray) -> np.ndarray:
    ycc = cv2.cvtColor(pixels, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    dog = cv2.GaussianBlur(ycc, (0, 0), BLOB_SIGMA) - cv2.GaussianBlur(ycc, (0, 0), 1.6 * BLOB_SIGMA)
    return np.abs(dog[..., 0]) + 2.0 * np.maximum(dog[..., 1], 0)


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


def _lesion(view: CanonicalView, centre, region: str, name: str, confidence: float, photo: int) -> Lesion:
    cx, cy = float(centre[0]), float(centre[1])
    half = LESION_BOX / 2
    x0, y0 = view.to_photo(cx - half, cy - half)
    x1, y1 = view.to_photo(cx + half, cy + half)
    side = region.split("_")[0] if region.endswith("cheek") else (
        None if view.landmarks is None else ("left" if on_patients_left(view.landmarks, cx, cy) else "right"))
    return Lesion(region=region, type=name, x=int(round(x0)), y=int(round(y0)), w=max(1, int(round(x1 - x0))),
                  h=max(1, int(round(y1 - y0))), confidence=round(confidence, 3), side=side, photo=photo)
