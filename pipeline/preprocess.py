"""Scale normalisation and the median-filter + CLAHE enhancement, shared by the service and by training.

Every photo is resized so that the face is CANON_FACE_HEIGHT pixels tall (hairline to chin); a model input
tile is then PATCH_SIZE pixels, i.e. a fixed tenth of the face, so a 512 px portrait and a 12 MP phone photo
give the classifier comparable inputs. Training (models/) imports this module so the two can never drift.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

CANON_FACE_HEIGHT = 640
PATCH_SIZE = 64  # model input side, pixels at canonical scale
PATCH_FRACTION = PATCH_SIZE / CANON_FACE_HEIGHT
# A photo declared as one region (a close-up of the forehead, say) shows no whole face; we assume its
# shorter side spans about half a face height, which matches how people frame such close-ups.
CLOSEUP_FACE_HEIGHT_PER_SHORT_SIDE = 2.0
# The type classifier learnt whole close-ups with their shorter side shrunk to this and enhanced at that size.
CLOSEUP_TYPE_SIDE = 2 * PATCH_SIZE
CLAHE_TILE_PX = 80  # the paper's 80x80 lesion patches
CLAHE_CLIP = 2.0


def scale_for_face(face_height_px: float) -> float:
    """Resize factor that brings a face of this height to the canonical height."""
    return CANON_FACE_HEIGHT / max(face_height_px, 1.0)


def scale_for_closeup(width: int, height: int) -> float:
    return scale_for_face(CLOSEUP_FACE_HEIGHT_PER_SHORT_SIDE * min(width, height))


def resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    if abs(factor - 1.0) < 1e-3:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return shrink(rgb, size) if factor < 1 else cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


def shrink(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-averaged down to size (width, height), halving first while the picture is at least twice as big:
    OpenCV averages 2 x 2 blocks several times faster than it area-resizes by a fraction (a 12 MP photo to
    1280 px at one thread: 50 -> 23 ms). An odd last row or column is left out of a halving."""
    w, h = size
    while rgb.shape[1] >= 2 * w and rgb.shape[0] >= 2 * h and min(rgb.shape[:2]) >= 2:
        even = rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
        rgb = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return rgb if rgb.shape[1::-1] == size else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def enhance(rgb: np.ndarray) -> np.ndarray:
    """Median filter (sensor noise) then CLAHE on lightness (contrast and skin-tone differences)."""
    denoised = cv2.medianBlur(np.ascontiguousarray(rgb), 3)
    lab = cv2.cvtColor(denoised, cv2.COLOR_RGB2LAB)
    h, w = rgb.shape[:2]
    grid = (max(1, math.ceil(w / CLAHE_TILE_PX)), max(1, math.ceil(h / CLAHE_TILE_PX)))
    clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=grid)
    lab[..., 0] = clahe.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def to_model_input(patches: np.ndarray) -> np.ndarray:
    """N x S x S x 3 uint8 RGB -> N x 3 x S x S float32 in [0, 1] (the paper's normalisation)."""
    return np.ascontiguousarray(patches.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
