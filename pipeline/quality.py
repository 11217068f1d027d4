"""Is this photo usable? Each failed check gives a reason the bot can show with a retake request."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.types import Reason

MIN_SIDE_PX = 200  # below this nothing on the skin is visible, even in a close-up
MIN_FACE_HEIGHT_PX = 96  # hairline-to-chin; a face smaller than this in the frame is too far away
MIN_SKIN_FRACTION = 0.2  # of a declared close-up
DARK_MEAN, BRIGHT_MEAN = 55, 225  # mean skin lightness (0-255)
CLIPPED_FRACTION = 0.35  # share of skin pixels burnt out to white
# Variance of the Laplacian of skin at the photo's own resolution (lesion-free skin is smooth, so values are
# low). bench/calibrate_blur.py on 120 valid-split portraits: sharp p10 12.1, median 30.8; blurred by
# sigma 1.5 px per 512 px median 3.6 (88% caught); sigma 3 median 2.1 (100% caught); no sharp one refused.
MIN_SHARPNESS = 6.0

MESSAGES = {
    "no_face": "No face found. Please send a well-lit photo of your whole face, looking at the camera, "
               "or choose photo-by-region to send close-ups.",
    "no_skin": "Too little skin is visible in this close-up. Please fill the frame with the area you want checked.",
    "several_faces": "More than one face is in the photo. Please send a photo of your face alone.",
    "region_not_shown": "Your face is in this photo, but not this area of it (turned away or covered). Please send "
                        "a photo of the area itself.",
    "too_small": "The photo is too small to see skin details. Please send a larger photo, taken closer.",
    "too_dark": "The photo is too dark. Please take it facing a window or a lamp.",
    "overexposed": "The photo is too bright (washed out). Please avoid direct flash or strong sunlight.",
    "too_blurry": "The photo is blurry. Please hold the phone steady and tap to focus on your face.",
}


@dataclass
class QualityReport:
    ok: bool
    reasons: list[Reason] = field(default_factory=list)
    sharpness: float | None = None
    brightness: float | None = None

    @classmethod
    def failed(cls, *codes: str) -> "QualityReport":
        return cls(False, [Reason(c, MESSAGES[c]) for c in codes])


def check_size(width: int, height: int, face_height: float | None = None) -> list[str]:
    if min(width, height) < MIN_SIDE_PX or (face_height is not None and face_height < MIN_FACE_HEIGHT_PX):
        return ["too_small"]
    return []


def check_skin(raw_canonical: np.ndarray, skin: np.ndarray, factor: float = 1.0) -> QualityReport:
    """Exposure and focus, measured on the skin only (a white wall behind the face must not matter).

    `factor` is how much the canonical view enlarged the photo: focus is judged at the photo's own
    resolution, since enlarging a small sharp photo must not make it "blurry" (too_small covers size).
    """
    if skin.sum() < 100:
        return QualityReport.failed("no_skin")
    if factor > 1.0:
        h, w = skin.shape
        size = (max(1, round(w / factor)), max(1, round(h / factor)))
        raw_canonical = cv2.resize(raw_canonical, size, interpolation=cv2.INTER_AREA)
        skin = cv2.resize(skin.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    grey = cv2.cvtColor(raw_canonical, cv2.COLOR_RGB2GRAY)
    values = grey[skin]
    brightness = float(values.mean())
    codes = []
    if brightness < DARK_MEAN:
        codes.append("too_dark")
    elif brightness > BRIGHT_MEAN or float((values >= 250).mean()) > CLIPPED_FRACTION:
        codes.append("overexposed")
    # Erode so the mask's own edge (skin against hair or lips) does not count as detail.
    inner = cv2.erode(skin.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    lap = cv2.Laplacian(grey, cv2.CV_64F)
    sharpness = float(lap[inner].var()) if inner.sum() > 100 else float(lap[skin].var())
    if not codes and sharpness < MIN_SHARPNESS:
        codes.append("too_blurry")
    report = QualityReport.failed(*codes) if codes else QualityReport(True)
    report.sharpness, report.brightness = sharpness, brightness
    return report
