"""The image-level grade in onnxruntime: the whole face -> Hayashi level (CLINICAL.md, "The grade from the
whole image"). The network (models/grade/) sees the face's landmark box, squared with a small margin and
resized to its input size, plain RGB; it outputs three level logits and log(1 + lesion count).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.classifier import ModelError, open_session
from pipeline.types import IMAGE_LEVELS

DEFAULT_GRADER = Path(__file__).resolve().parents[1] / "models" / "weights" / "image_grade.onnx"
FACE_MARGIN = 0.08  # of the face box's longer side, on each side
SEVERE = IMAGE_LEVELS.index("severe")


@dataclass(frozen=True)
class ImageGrade:
    grade: str  # one of IMAGE_LEVELS
    probabilities: tuple[float, float, float]
    count: float  # the lesion count the network expects on the face


class GradeError(ModelError):
    """The image-level grade model cannot be used; the message says which file and why."""


def face_square(rgb: np.ndarray, box: tuple[float, float, float, float], size: int, *, zoom: float = 1.0,
                shift: tuple[float, float] = (0.0, 0.0), angle: float = 0.0, mirror: bool = False) -> np.ndarray:
    """The square around a face box (x0, y0, x1, y1) with FACE_MARGIN, resized to size x size. Training
    jitters zoom, shift (share of the side), angle (degrees) and mirror; the service uses the defaults."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * FACE_MARGIN) * zoom
    cx, cy = (x0 + x1) / 2 + shift[0] * side, (y0 + y1) / 2 + shift[1] * side
    scale = size / side
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, scale)
    m[:, 2] += (size / 2 - cx, size / 2 - cy)
    if mirror:
        m[0] = -m[0]
        m[0, 2] += size
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(np.ascontiguousarray(rgb), m, (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_REFLECT_101)


class ImageGrader:
    def __init__(self, path: Path | str, threads: int | None = None):
        path = Path(path)
        self._session, meta = open_session(path, "image grade model", "ACNEBOT_GRADER_PATH", threads, GradeError)
        if meta.get("levels") != ",".join(IMAGE_LEVELS) or not meta.get("input_size", "").isdigit():
            raise GradeError(f"image grade model at {path} does not grade {IMAGE_LEVELS} from a square face view")
        self.size = int(meta["input_size"])
        # Cross-validation's choice (models/grade/crossval.py): from this P(severe) on, the grade is severe even
        # where a milder level is likelier, because under-grading is the error that harms. Absent: the likeliest.
        self.severe_threshold = _probability(meta.get("severe_threshold"), path)
        self.name = meta.get("name", path.stem)
        self.version = meta.get("version", "unknown")
        self._input = self._session.get_inputs()[0].name

    def grade(self, rgb: np.ndarray, face_box: tuple[float, float, float, float]) -> ImageGrade:
        """The grade of the face in this plain RGB image (face_box in its pixels)."""
        square = face_square(rgb, face_box, self.size)
        x = np.ascontiguousarray(square.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = self._session.run(None, {self._input: x})[0][0].astype(np.float64)
        logits = out[: len(IMAGE_LEVELS)]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        count = max(0.0, float(np.expm1(out[-1])))
        level = int(p.argmax())
        if self.severe_threshold is not None and p[SEVERE] >= self.severe_threshold:
            level = SEVERE
        return ImageGrade(IMAGE_LEVELS[level], tuple(round(float(v), 4) for v in p), count)


def _probability(text: str | None, path: Path) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise GradeError(f"image grade model at {path} has severe_threshold {text!r}, not a probability")
    return value


@lru_cache(maxsize=4)
def load(path: str | None = None) -> ImageGrader:
    return ImageGrader(path or os.environ.get("ACNEBOT_GRADER_PATH") or DEFAULT_GRADER)
