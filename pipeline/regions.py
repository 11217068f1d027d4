"""Face landmarks (MediaPipe FaceMesh, offline models in the wheel) -> skin masks per facial region.

Sides are the patient's: in an unmirrored photo the patient's left cheek is on the image's right.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.types import REGIONS

# Landmark index sets of the 468-point FaceMesh topology.
_RIGHT_EYE = (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246)
_LEFT_EYE = (249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466)
_RIGHT_BROW = (46, 52, 53, 55, 63, 65, 66, 70, 105, 107)
_LEFT_BROW = (276, 282, 283, 285, 293, 295, 296, 300, 334, 336)
_LIPS = (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
         267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415)
_NOSE = (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344, 440)
_NOSTRILS = (64, 98, 97, 2, 326, 327, 294, 240, 460)
_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
         148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
_TOP, _CHIN, _NOSE_BRIDGE, _NOSE_TIP = 10, 152, 168, 1
_MOUTH_RIGHT, _MOUTH_LEFT = 61, 291

_DETECT_MAX_SIDE = 1280  # FaceMesh's accuracy does not improve past this; big photos are shrunk first
MAX_FACES = 5
# A second face counts only if it is at least this big relative to the largest (posters far behind do not).
_OTHER_FACE_MIN_RATIO = 0.35
_MIN_REGION_PATCHES = 1.0  # a region smaller than one model tile is not assessable
_HIDDEN_CHEEK_RATIO = 0.3  # a cheek this much smaller than the other one is turned away


@dataclass(frozen=True)
class FaceLandmarks:
    points: np.ndarray  # 468 x 2 float, pixel coordinates of the photo it was found in

    @property
    def height(self) -> float:
        """Hairline-to-chin length: unlike the width, it barely changes when the head turns."""
        return float(np.linalg.norm(self.points[_TOP] - self.points[_CHIN]))

    def scaled(self, factor: float) -> "FaceLandmarks":
        return FaceLandmarks(self.points * factor)

    def box(self) -> tuple[int, int, int, int]:
        x0, y0 = self.points.min(axis=0)
        x1, y1 = self.points.max(axis=0)
        return int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))


_local = threading.local()


def _face_mesh():
    # MediaPipe graphs are not thread-safe; one per thread of the assessment executor.
    mesh = getattr(_local, "mesh", None)
    if mesh is None:
        from mediapipe.python.solutions.face_mesh import FaceMesh

        mesh = FaceMesh(static_image_mode=True, max_num_faces=MAX_FACES, refine_landmarks=False,
                        min_detection_confidence=0.5)
        _local.mesh = mesh
    return mesh


def detect_faces(rgb: np.ndarray) -> list[FaceLandmarks]:
    """All faces big enough to matter, largest first, in the photo's pixel coordinates."""
    h, w = rgb.shape[:2]
    factor = min(1.0, _DETECT_MAX_SIDE / max(h, w))
    small = rgb if factor == 1.0 else cv2.resize(rgb, (round(w * factor), round(h * factor)),
                                                 interpolation=cv2.INTER_AREA)
    result = _face_mesh().process(np.ascontiguousarray(small))
    faces = []
    for found in result.multi_face_landmarks or ():
        pts = np.array([(p.x * small.shape[1], p.y * small.shape[0]) for p in found.landmark[:468]],
                       dtype=np.float32)
        faces.append(FaceLandmarks(pts / factor))
    faces.sort(key=lambda f: f.height, reverse=True)
    if faces:
        faces = [f for f in faces if f.height >= _OTHER_FACE_MIN_RATIO * faces[0].height]
    return faces


def on_patients_left(face: FaceLandmarks, x, y):
    """True where (x, y) lies on the patient's left of the midline through the nose bridge and tip."""
    (bx, by), (tx, ty) = face.points[_NOSE_BRIDGE], face.points[_NOSE_TIP]
    # Cross product of (point - bridge) with the bridge->tip direction: its sign does not depend on how
    # the photo is turned, so this holds for tilted and upside-down faces too.
    return (x - bx) * (ty - by) - (y - by) * (tx - bx) > 0


def _poly(mask_shape, points: np.ndarray) -> np.ndarray:
    mask = np.zeros(mask_shape, np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


_DISK = np.stack([np.cos(np.linspace(0, 2 * np.pi, 24, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False))], axis=1)


def _hull(mask_shape, points: np.ndarray, grow_px: float = 0.0) -> np.ndarray:
    """Filled convex hull of the points, grown by grow_px: the hull of the points' Minkowski sum with a
    disk is the dilated hull, and far cheaper than a morphological dilation with a large kernel."""
    if grow_px >= 1:
        points = (points[:, None, :] + grow_px * _DISK[None, :, :]).reshape(-1, 2)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    mask = np.zeros(mask_shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def skin_like(rgb: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Pixels whose colour is close to the face's own skin: removes hair, glasses, shadows and background.

    Bounds are wide on purpose: red papules must stay inside the skin mask.
    """
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    sample = ycc[seed]
    if len(sample) < 50:
        return np.ones(rgb.shape[:2], bool)
    med = np.median(sample, axis=0)
    mad = np.median(np.abs(sample - med), axis=0) * 1.4826 + 1.0
    tol_cr = max(4 * mad[1], 22.0)
    tol_cb = max(4 * mad[2], 18.0)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    return (np.abs(cr - med[1]) <= tol_cr + 15 * (cr > med[1])) & (np.abs(cb - med[2]) <= tol_cb) & (y >= 0.4 * med[0])


def region_masks(rgb: np.ndarray, face: FaceLandmarks) -> dict[str, np.ndarray]:
    """Boolean skin masks for the five regions, in the coordinates of `rgb` (which `face` must match)."""
    shape = rgb.shape[:2]
    p = face.points
    unit = face.height
    oval = _poly(shape, p[list(_OVAL)])
    features = (_hull(shape, p[list(_RIGHT_EYE)], 0.04 * unit) | _hull(shape, p[list(_LEFT_EYE)], 0.04 * unit)
                | _hull(shape, p[list(_RIGHT_BROW)], 0.025 * unit) | _hull(shape, p[list(_LEFT_BROW)], 0.025 * unit)
                | _hull(shape, p[list(_LIPS)], 0.02 * unit) | _hull(shape, p[list(_NOSTRILS)], 0.01 * unit))
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    image_right = on_patients_left(face, xx, yy)

    brows = p[list(_RIGHT_BROW + _LEFT_BROW)]
    brow_top = float(brows[:, 1].min())
    eyes_bottom = float(np.concatenate([p[list(_RIGHT_EYE)], p[list(_LEFT_EYE)]])[:, 1].max())
    lips = p[list(_LIPS)]
    lips_bottom = float(lips[:, 1].max())
    nose = _hull(shape, p[list(_NOSE)])

    base = oval & ~features
    forehead = base & (yy < brow_top - 0.01 * unit)
    nose_region = nose & ~features
    chin = base & (yy > lips_bottom + 0.01 * unit) & (xx > p[_MOUTH_RIGHT][0] - 0.08 * unit) \
        & (xx < p[_MOUTH_LEFT][0] + 0.08 * unit)
    grown_nose = _hull(shape, p[list(_NOSE)], 0.02 * unit)
    cheeks = base & ~grown_nose & ~chin & (yy > eyes_bottom + 0.02 * unit) & (yy < lips_bottom)
    masks = {
        "forehead": forehead,
        "nose": nose_region,
        "left_cheek": cheeks & image_right,
        "right_cheek": cheeks & ~image_right,
        "chin": chin,
    }
    skin = skin_like(rgb, masks["left_cheek"] | masks["right_cheek"] | masks["forehead"])
    return {name: m & skin for name, m in masks.items()}


def assessable(masks: dict[str, np.ndarray], patch_px: int) -> dict[str, bool]:
    """Which regions show enough skin to be assessed (a turned-away cheek is not)."""
    area = {r: int(masks[r].sum()) for r in REGIONS}
    minimum = _MIN_REGION_PATCHES * patch_px * patch_px
    ok = {r: area[r] >= minimum for r in REGIONS}
    cheeks = ("left_cheek", "right_cheek")
    bigger = max(area[c] for c in cheeks)
    for c in cheeks:
        if area[c] < _HIDDEN_CHEEK_RATIO * bigger:
            ok[c] = False
    return ok
