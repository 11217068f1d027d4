"""The pose and framing of a prepared photo, and what a patient should change to match an earlier one.

    pose_of(prepared)             -> Pose(yaw, pitch, face_size, brightness), None for a close-up
    differences(previous, current) -> ["turn_left", "closer", ...], [] when the two photos are comparable

Yaw and pitch come from the FaceMesh landmarks the prepared photo already holds: `cv2.solvePnP` fits a
generic 3D face (six points: nose tip, chin, outer eye corners, mouth corners) under a pinhole camera whose
focal length is the photo's longer side. The face size is its hairline-to-chin length over the photo's
shorter side; the brightness is the mean luma of the face's skin regions before enhancement.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from pipeline.types import REGIONS

if TYPE_CHECKING:
    from pipeline.assess import PreparedPhoto

# Beyond these two photos are not comparable. Measured with this module on ../shared/data: one photo
# re-encoded smaller moves the yaw by at most 2 degrees, mirrored by 3, set in a canvas twice its size by
# 3 (8 once, on a 54-degree view); one patient photographed twice in one pose, by 1. Symmetric frontal faces
# read within 4 (95%), ACNE04's three-quarter views from 30 up. Pitch is looser: one patient twice in one
# session differed by 15. Face size and skin brightness of one patient in one session differed by under 5%
# and 5 luma levels.
YAW_LIMIT = 12.0  # degrees
PITCH_LIMIT = 20.0  # degrees
SIZE_RATIO_LIMIT = 1.4  # the larger face size over the smaller
BRIGHTNESS_LIMIT = 30.0  # luma levels, 0..255

# FaceMesh indices and a generic face in millimetres, in the camera's axes for a frontal face (x to the
# photo's right, y down, z away from the camera): nose tip, chin, outer corner of the eye on the photo's
# left (the patient's right) and right, mouth corner on the photo's left and right.
_MODEL_POINTS = (1, 152, 33, 263, 61, 291)
_MODEL = np.array([(0.0, 0.0, 0.0), (0.0, 63.6, 12.5), (-43.3, -32.7, 26.0), (43.3, -32.7, 26.0),
                   (-28.9, 28.9, 24.1), (28.9, 28.9, 24.1)], np.float64)
_LUMA = np.array([0.299, 0.587, 0.114])
_DIGITS = {"yaw": 1, "pitch": 1, "face_size": 3, "brightness": 1}


@dataclass(frozen=True)
class Pose:
    """How a face sits in a photo.

    yaw: degrees, positive when the patient has turned their head to their own left (the nose points to
        the photo's right in an unmirrored photo), 0 frontal.
    pitch: degrees, positive chin up.
    face_size: the face's hairline-to-chin length over the photo's shorter side.
    brightness: mean luma (0..255) of the face's skin.
    """

    yaw: float
    pitch: float
    face_size: float
    brightness: float

    def __post_init__(self):
        # Held at the precision it is stored with (finer is noise), so a stored pose reads back equal.
        for name, digits in _DIGITS.items():
            object.__setattr__(self, name, round(float(getattr(self, name)), digits))

    def to_dict(self) -> dict:
        """JSON-safe plain floats, for storing with the assessment."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "Pose | None":
        """The pose stored by `to_dict`; None for records without one or with garbled values."""
        if not isinstance(d, dict):
            return None
        try:
            values = {f.name: float(d[f.name]) for f in fields(cls)}
        except (KeyError, TypeError, ValueError):
            return None
        if not all(math.isfinite(v) for v in values.values()):
            return None
        return cls(**values)


def pose_of(prepared: "PreparedPhoto") -> Pose | None:
    """The pose of a prepared full-face photo; None when it holds no face landmarks (a declared close-up,
    or a photo refused before its face was found) or the landmarks fit no head pose."""
    view = prepared.view
    if view is None or view.landmarks is None:
        return None
    points = view.landmarks.points / view.factor + np.array(view.offset, np.float32)  # photo pixels
    angles = _angles(points, prepared.photo.width, prepared.photo.height)
    if angles is None:
        return None
    yaw, pitch = angles
    face_size = view.landmarks.height / view.factor / min(prepared.photo.width, prepared.photo.height)
    skin = np.logical_or.reduce([view.masks[r] for r in REGIONS])
    pixels = view.raw[skin] if skin.any() else view.raw.reshape(-1, 3)
    brightness = float((pixels @ _LUMA).mean())
    return Pose(yaw, pitch, face_size, brightness)


def _angles(points: np.ndarray, width: int, height: int) -> tuple[float, float] | None:
    """(yaw, pitch) in degrees of the generic face fitted to the landmarks, None when no fit is found."""
    import cv2  # here: the chat process compares poses (Pose, differences) without loading OpenCV

    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    image = points[list(_MODEL_POINTS)].astype(np.float64)
    found, rvec, tvec = cv2.solvePnP(_MODEL, image, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not found:
        return None
    # EPnP's closed form is then refined by Levenberg-Marquardt on the reprojection error.
    _, rvec, tvec = cv2.solvePnP(_MODEL, image, camera, None, rvec, tvec, useExtrinsicGuess=True,
                                 flags=cv2.SOLVEPNP_ITERATIVE)
    if not (np.isfinite(rvec).all() and np.isfinite(tvec).all()):
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    nose = rotation @ np.array([0.0, 0.0, -1.0])  # where the nose points, in camera axes
    sight = tvec.ravel()  # from the camera to the nose tip
    # Against the line of sight, not the optical axis: a face that looks at the lens from the edge of the
    # photo shows both cheeks alike, so it must not read as turned when the patient only moved in the frame.
    yaw = math.atan2(nose[0], -nose[2]) + math.atan2(sight[0], sight[2])
    pitch = (math.atan2(-nose[1], math.hypot(nose[0], nose[2]))
             - math.atan2(sight[1], math.hypot(sight[0], sight[2])))
    return math.degrees(yaw), math.degrees(pitch)


def differences(previous: Pose, current: Pose) -> list[str]:
    """What the patient should do so that the current photo matches the previous one; [] when comparable.

    Keys: "turn_left" / "turn_right" (towards the patient's own left / right), "chin_up" / "chin_down",
    "closer" / "further" (the face should fill more / less of the photo), "brighter" / "darker" (light).
    """
    found = []
    turn = previous.yaw - current.yaw
    if abs(turn) > YAW_LIMIT:
        found.append("turn_left" if turn > 0 else "turn_right")
    tilt = previous.pitch - current.pitch
    if abs(tilt) > PITCH_LIMIT:
        found.append("chin_up" if tilt > 0 else "chin_down")
    if min(previous.face_size, current.face_size) > 0:
        ratio = current.face_size / previous.face_size
        if ratio < 1 / SIZE_RATIO_LIMIT:
            found.append("closer")
        elif ratio > SIZE_RATIO_LIMIT:
            found.append("further")
    light = previous.brightness - current.brightness
    if abs(light) > BRIGHTNESS_LIMIT:
        found.append("brighter" if light > 0 else "darker")
    return found
