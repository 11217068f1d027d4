"""Where the face is: MediaPipe FaceMesh's 468 landmarks (offline models in the wheel), or, for a face it cannot
fit, the face detector's box and six key points; and whether a face is upside down.

Sides are the patient's: in an unmirrored photo the patient's left cheek is on the image's right.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from pipeline.preprocess import shrink

# Landmark indices of the 468-point FaceMesh topology (pipeline.regions holds the features' index sets).
TOP, CHIN, NOSE_BRIDGE, NOSE_TIP = 10, 152, 168, 1

_DETECT_MAX_SIDE = 1280  # FaceMesh's accuracy does not improve past this; big photos are shrunk first
MAX_FACES = 5
# A second face counts only if it is at least this big relative to the largest (posters far behind do not).
_OTHER_FACE_MIN_RATIO = 0.35


@dataclass(frozen=True)
class FaceLandmarks:
    points: np.ndarray  # 468 x 2 float, pixel coordinates of the photo it was found in

    @property
    def height(self) -> float:
        """Hairline-to-chin length: unlike the width, it barely changes when the head turns."""
        return float(np.linalg.norm(self.points[TOP] - self.points[CHIN]))

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


def load() -> None:
    """Builds this thread's MediaPipe graphs now, as a worker starts, rather than at its first photo (FaceMesh's
    takes most of a second)."""
    _face_mesh()
    _face_detector()


def _for_detection(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo as MediaPipe's models get it (big photos shrunk to _DETECT_MAX_SIDE, contiguous), and the
    factor it was shrunk by."""
    h, w = rgb.shape[:2]
    factor = min(1.0, _DETECT_MAX_SIDE / max(h, w))
    small = rgb if factor == 1.0 else shrink(rgb, (round(w * factor), round(h * factor)))
    return np.ascontiguousarray(small), factor


def detect_faces(rgb: np.ndarray) -> list[FaceLandmarks]:
    """All faces big enough to matter, largest first, in the photo's pixel coordinates."""
    small, factor = _for_detection(rgb)
    result = _face_mesh().process(small)
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
    (bx, by), (tx, ty) = face.points[NOSE_BRIDGE], face.points[NOSE_TIP]
    # Cross product of (point - bridge) with the bridge->tip direction: its sign does not depend on how
    # the photo is turned, so this holds for tilted and upside-down faces too.
    return (x - bx) * (ty - by) - (y - by) * (tx - bx) > 0


@dataclass(frozen=True)
class SideFace:
    """A face FaceMesh could not fit (a profile or a strongly turned head), from MediaPipe's face detector:
    its box and six key points in photo pixels. Only the side turned to the camera is assessed."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    eyes: np.ndarray  # 2 x 2
    nose: np.ndarray  # 2
    mouth: np.ndarray  # 2

    @property
    def height(self) -> float:
        """Hairline-to-chin estimated from the eyes-to-mouth drop (a third of it) or the box, the larger."""
        drop = abs(float(self.mouth[1] - self.eyes[:, 1].mean()))
        return max(3.0 * drop, 1.1 * (self.box[3] - self.box[1]))

    @property
    def visible_cheek(self) -> str:
        """A nose left of the box's centre means the head is turned to the patient's right: the left cheek
        faces the camera (and the other way round)."""
        return "left_cheek" if self.nose[0] < (self.box[0] + self.box[2]) / 2 else "right_cheek"


# The face detector also "finds" a turned face on a close-up of skin, and a close-up sent as the whole face must be
# told there is none (and offered the by-area close-ups) instead of assessed through made-up regions. Chosen on the
# ACNE04 training and tune photos FaceMesh misses (profiles: 12 of 14 score 0.66-0.90; the two below 0.6 are an ear
# and a neck, key points on the ear) and 800 close-ups (106 "side faces", median 0.56, 90 % below 0.66).
_SIDE_MIN_CONFIDENCE = 0.65
_SIDE_MIN_PX = 16
_side_local = threading.local()


def _face_detector():
    detector = getattr(_side_local, "detector", None)
    if detector is None:
        from mediapipe.python.solutions.face_detection import FaceDetection

        detector = FaceDetection(model_selection=0, min_detection_confidence=_SIDE_MIN_CONFIDENCE)
        _side_local.detector = detector
    return detector


def _surest_face(rgb: np.ndarray) -> float:
    """The face detector's confidence in the face it is surest of; 0.0 for none (it reports none under 0.5)."""
    return max((d.score[0] for d in _face_detector().process(rgb).detections or () if d.score), default=0.0)


# FaceMesh fits an upright face onto an upside-down one, so its landmarks cannot tell; the face detector can. On 170
# upright ACNE04 training faces and selfies its confidence in the half-turned photo was lower every time: by 0.007 at
# the least, 0.04 at the 1st percentile, 0.25 at the median. Within this margin the photo is taken as it is.
_UPSIDE_DOWN_MARGIN = 0.03


def upside_down(rgb: np.ndarray) -> bool:
    """Whether the face in the photo is upside down (the face detector is surer of it turned half round)."""
    # Every n-th pixel, not _for_detection's shrink: the detector looks at 128 x 128 px, and a 12 MP photo's shrink
    # would cost as much as the detector twice.
    step = -(-max(rgb.shape[:2]) // _DETECT_MAX_SIDE)
    small = np.ascontiguousarray(rgb[::step, ::step])
    return _surest_face(np.ascontiguousarray(small[::-1, ::-1])) > _surest_face(small) + _UPSIDE_DOWN_MARGIN


def detect_side_face(rgb: np.ndarray) -> SideFace | None:
    """The largest face MediaPipe's short-range face detector finds, for when FaceMesh finds none."""
    h, w = rgb.shape[:2]
    found = _face_detector().process(_for_detection(rgb)[0]).detections or []
    # MediaPipe's own min_detection_confidence does not hold back detections above its model's 0.5.
    found = [d for d in found if d.score and d.score[0] >= _SIDE_MIN_CONFIDENCE]
    if not found:
        return None
    best = max(found, key=lambda d: d.location_data.relative_bounding_box.height)
    box = best.location_data.relative_bounding_box
    x0, y0 = max(0.0, box.xmin * w), max(0.0, box.ymin * h)
    x1, y1 = min(float(w), (box.xmin + box.width) * w), min(float(h), (box.ymin + box.height) * h)
    if x1 - x0 < _SIDE_MIN_PX or y1 - y0 < _SIDE_MIN_PX:
        return None  # a box (nearly) outside the photo: nothing to assess
    kp = np.array([(k.x * w, k.y * h) for k in best.location_data.relative_keypoints], np.float32)
    return SideFace((x0, y0, x1, y1), kp[:2], kp[2], kp[3])
