"""Detector peaks -> lesion instances by region and type, in photo pixels.

Where: the lesion detector's heatmap peaks over the canonical view (acne apart from spots, scars and moles).
What: a patch centred on each peak, which is what the classifiers were trained on (lesion-centred
patches): an acne peak gets its type from the acne-type classifier (comedone, papule, pustule, nodule), a
non-acne peak the most probable of spot, scar and mole from the 8-class Acne-RegNet classifier.
Peaks outside every assessed region's skin are dropped (hair, eyes, lips, background).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.detector import Detection
from pipeline.patches import CanonicalView, crop_patch
from pipeline.preprocess import CLOSEUP_TYPE_SIDE, PATCH_SIZE, enhance, resize
from pipeline.faces import on_patients_left
from pipeline.types import ACNE_TYPES, CLASSES, NON_ACNE_TYPES, Lesion

# A nodule sends the patient to a doctor, and the classifier learnt nodules from close-ups only: an acne
# peak is called a nodule only when the classifier gives it at least this share of its acne-type mass.
NODULE_MIN_SHARE = 0.5
# An acne lesion is called inflammatory (papule or pustule) only when the type classifier gives those two at
# least this share; otherwise it is the likelier of comedone and nodule. Hayashi counts only inflammatory
# lesions, so this share sets where the grade falls: chosen on the ACNE04 tune photos (never the held-out
# fifth) by models/calibrate_grading.py.
INFLAMMATORY_MIN_SHARE = 0.3
MIN_BOX = 6.0  # canonical px: the smallest box drawn around a lesion
MAX_BOX = 64.0


SKIN_BOX_MARGIN = 24  # canonical px of context kept around the regions' skin for the detector
# Chosen on the close-ups' training groups (dominant type 0.649 -> 0.713; a half gave 0.712) and on region photos
# cut from the tune faces, where of 75 with no acne found a third marks 3 (none a lesion), a half 11 (2 lesions).
CLOSER_LOOK = 1 / 3
# A declared close-up in which no acne passes even the closer look (mostly noses of blackheads, which the detector
# learnt to leave alone as pores on selfies) keeps its fainter acne peaks, at either size, down to this heat, where
# the 8-class classifier calls the peak's patch acne more likely than not. Chosen on the close-ups' tune groups
# (dominant type 0.703 -> 0.763) against region photos cut from ACNE04 training faces where the experts marked
# nothing (57 -> 67 of 103 with a mark; 0.09 gave 79, no classifier check 89): model card.
FAINT_ACNE_MIN = 0.12
FAINT_ACNE_CONFIRM = 0.5
_NO_MARKS = math.inf  # a threshold no non-acne peak passes


def detect_on_skin(detector, view: CanonicalView, thresholds: tuple[float, float] | None = None,
                   marks_model=None) -> list[Detection]:
    """The detector over the bounding box of the assessed regions' skin (not the margin around the face);
    `thresholds` overrides the detector's own (the evaluation looks below them). A declared close-up in whose
    skin no acne passes is looked at again CLOSER_LOOK times smaller, as if it spanned less of the face: a close-up
    of one lesion shows it far larger than the detector learnt lesions at. Where that finds none either and
    `marks_model` (the 8-class classifier) is given, the faint acne peaks it confirms are kept (FAINT_ACNE_MIN)."""
    seen = skin_box_pixels(view, detector.view)
    if seen is None:
        return []
    pixels, origin = seen
    faint_too = view.closeup and marks_model is not None
    passing, faint_full = _look(detector, pixels, thresholds, faint_too)
    found = _placed(passing, 1.0, origin)
    if not view.closeup or _acne_in_skin(view, found):
        return found
    small = cv2.resize(pixels, None, fx=CLOSER_LOOK, fy=CLOSER_LOOK, interpolation=cv2.INTER_AREA)
    closer, faint_small = _look(detector, small, thresholds, faint_too)
    found += _one_per_lesion([d for d in _placed(closer, CLOSER_LOOK, origin) if d.kind == 0])
    if not faint_too or _acne_in_skin(view, found):
        return found
    faint = [d for d in _placed(faint_full, 1.0, origin) + _placed(faint_small, CLOSER_LOOK, origin)
             if d.kind == 0 and region_of(view, d.x, d.y)]
    faint = _confirmed_acne(view, _one_per_lesion(faint), marks_model)
    return [d for d in found if d.kind != 0 and not any(_inside(d, k) for k in faint)] + faint


def _look(detector, image: np.ndarray, thresholds: tuple[float, float] | None,
          faint: bool) -> tuple[list[Detection], list[Detection]]:
    """One pass of the detector: what passes `thresholds` and, if `faint`, the acne peaks down to FAINT_ACNE_MIN."""
    if not faint:
        return detector.detect(image, thresholds), []
    passing, fainter = detector.detect_each(image, thresholds or detector.thresholds, (FAINT_ACNE_MIN, _NO_MARKS))
    return passing, fainter


def _placed(detections: list[Detection], scale: float, origin: tuple[int, int]) -> list[Detection]:
    """Detections on the skin box shrunk by `scale` -> the view's pixels."""
    x0, y0 = origin
    return [Detection(d.x / scale + x0, d.y / scale + y0, d.w / scale, d.h / scale, d.score, d.kind)
            for d in detections]


def _acne_in_skin(view: CanonicalView, detections: list[Detection]) -> bool:
    return any(d.kind == 0 and region_of(view, d.x, d.y) for d in detections)


def _confirmed_acne(view: CanonicalView, detections: list[Detection], marks_model) -> list[Detection]:
    if not detections:
        return []
    probs = marks_model.predict(lesion_patches(view, detections))
    acne = [CLASSES.index(t) for t in ACNE_TYPES]
    return [d for d, row in zip(detections, probs) if float(np.sum(row[acne])) >= FAINT_ACNE_CONFIRM]


def _inside(d: Detection, box: Detection) -> bool:
    return abs(d.x - box.x) <= box.w / 2 and abs(d.y - box.y) <= box.h / 2


def _one_per_lesion(detections: list[Detection]) -> list[Detection]:
    """Strongest first, without the weaker peaks whose centre lies in a kept one's box (a big lesion seen close
    up can raise two)."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(_inside(d, k) for k in kept):
            kept.append(d)
    return kept


def skin_box_pixels(view: CanonicalView, kind: str = "raw") -> tuple[np.ndarray, tuple[int, int]] | None:
    """What the detector sees: the view ("raw" or "enhanced") cut to the assessed regions' skin and a margin,
    and that box's top-left corner; None when no region is assessed."""
    masks = [m for r, m in view.masks.items() if view.assessed.get(r)]
    if not masks:
        return None
    ys, xs = np.nonzero(np.logical_or.reduce(masks))
    h, w = view.pixels.shape[:2]
    x0, y0 = max(0, int(xs.min()) - SKIN_BOX_MARGIN), max(0, int(ys.min()) - SKIN_BOX_MARGIN)
    x1, y1 = min(w, int(xs.max()) + SKIN_BOX_MARGIN + 1), min(h, int(ys.max()) + SKIN_BOX_MARGIN + 1)
    pixels = view.raw if kind == "raw" and view.raw is not None else view.pixels
    return np.ascontiguousarray(pixels[y0:y1, x0:x1]), (x0, y0)


def region_of(view: CanonicalView, x: float, y: float) -> str | None:
    """The assessed region whose skin mask holds this canonical point, if any."""
    ix, iy = int(x), int(y)
    for region, assessed in view.assessed.items():
        mask = view.masks.get(region)
        if assessed and mask is not None and 0 <= iy < mask.shape[0] and 0 <= ix < mask.shape[1] and mask[iy, ix]:
            return region
    return None


def lesion_patches(view: CanonicalView, detections: list[Detection], window: int = PATCH_SIZE) -> np.ndarray:
    """PATCH_SIZE patches centred on the detections, each cut as a `window` px square and resized."""
    if not detections:
        return np.zeros((0, PATCH_SIZE, PATCH_SIZE, 3), np.uint8)
    return np.stack([_window(view, d.x, d.y, window) for d in detections])


def whole_closeup(view: CanonicalView, size: int = PATCH_SIZE) -> np.ndarray:
    """A declared close-up as the type classifier learnt close-ups, a `size` px picture: the photo shrunk until its
    shorter side is CLOSEUP_TYPE_SIDE and enhanced at that size (not at the canonical view's, where the contrast
    tiles cover less of it), its centre square."""
    h, w = view.raw.shape[:2]
    shrunk = enhance(resize(view.raw, CLOSEUP_TYPE_SIDE / min(h, w)))
    square = crop_patch(shrunk, shrunk.shape[1] / 2, shrunk.shape[0] / 2, CLOSEUP_TYPE_SIDE)
    return _resized(square, size)


def _window(view: CanonicalView, x: float, y: float, side: int) -> np.ndarray:
    return _resized(crop_patch(view.pixels, x, y, side), PATCH_SIZE)


def _resized(square: np.ndarray, size: int) -> np.ndarray:
    return square if square.shape[0] == size else cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def acne_type(probs: np.ndarray, inflammatory_min_share: float | None = None) -> str:
    """The type of an acne lesion from the type classifier's probabilities (ACNE_TYPES order)."""
    share = INFLAMMATORY_MIN_SHARE if inflammatory_min_share is None else inflammatory_min_share
    p = np.asarray(probs, np.float64) / max(float(np.sum(probs)), 1e-9)
    comedone, papule, pustule, nodule = (p[ACNE_TYPES.index(t)] for t in ("comedone", "papule", "pustule", "nodule"))
    if papule + pustule >= share:
        return "papule" if papule >= pustule else "pustule"
    if nodule >= NODULE_MIN_SHARE:
        return "nodule"
    return "comedone"


def _likeliest(probs: np.ndarray) -> str:
    return ACNE_TYPES[int(np.argmax(probs))]


def mark_type(probs: np.ndarray) -> str:
    """The kind of a non-acne mark from the 8-class classifier's probabilities (CLASSES order)."""
    return max(NON_ACNE_TYPES, key=lambda name: probs[CLASSES.index(name)])


def classify(view: CanonicalView, detections: list[Detection], types_model, marks_model) -> list[str]:
    """A type name per detection, from patches centred on it. In a declared close-up an acne lesion's type is
    the likeliest in the mean of its own window's probabilities and the whole close-up's: one close-up mostly
    shows one kind of acne, and whole close-ups are what the classifier learnt them from."""
    acne = [i for i, d in enumerate(detections) if d.kind == 0]
    marks = [i for i, d in enumerate(detections) if d.kind != 0]
    names: list[str] = [""] * len(detections)
    acne_patches = lesion_patches(view, [detections[i] for i in acne], view.type_window)
    probs = types_model.predict(acne_patches)
    name_of = acne_type
    if acne and view.closeup:
        probs = (probs + types_model.predict(whole_closeup(view, types_model.whole_closeup_size)[None])) / 2
        # acne_type's shares were calibrated on faces' grades; in a close-up the likeliest type was right more
        # often (the close-ups' training groups: 0.82 against 0.71 of the photos where acne was found).
        name_of = _likeliest
    for i, row in zip(acne, probs):
        names[i] = name_of(row)
    for i, row in zip(marks, marks_model.predict(lesion_patches(view, [detections[i] for i in marks]))):
        names[i] = mark_type(row)
    return names


def to_lesions(view: CanonicalView, detections: list[Detection], types: list[str], photo: int = 0) -> list[Lesion]:
    """Detections on this view, with their type names -> lesions in the regions' skin."""
    out = []
    for d, name in zip(detections, types):
        region = region_of(view, d.x, d.y)
        if region is not None:
            out.append(_to_lesion(view, d, region, name, photo))
    return out


def _to_lesion(view: CanonicalView, d: Detection, region: str, name: str, photo: int) -> Lesion:
    half_w = float(np.clip(d.w, MIN_BOX, MAX_BOX)) / 2
    half_h = float(np.clip(d.h, MIN_BOX, MAX_BOX)) / 2
    x0, y0 = view.to_photo(d.x - half_w, d.y - half_h)
    x1, y1 = view.to_photo(d.x + half_w, d.y + half_h)
    return Lesion(region=region, type=name, x=int(round(x0)), y=int(round(y0)),
                  w=max(1, int(round(x1 - x0))), h=max(1, int(round(y1 - y0))),
                  confidence=round(d.score, 3), side=_side(view, region, d.x, d.y), photo=photo)


def _side(view: CanonicalView, region: str, x: float, y: float) -> str | None:
    if region in ("left_cheek", "right_cheek"):
        return region.split("_")[0]
    if view.landmarks is None:
        return None
    return "left" if on_patients_left(view.landmarks, x, y) else "right"
