"""The lesion detector in onnxruntime: a canonical face view in, lesion centres (acne apart from spots, scars
and moles) out. The network (models/detector/) outputs, at its stride (2 for the shipped model, from the
file's metadata), a heatmap per kind and the lesion's log width and height; a lesion is a local maximum of a
heatmap above the kind's threshold. The metadata also says which view the network was trained on: the plain
canonical crop ("raw") or the median-filtered, CLAHE-enhanced one ("enhanced"), and whether its thresholds were
chosen with the view also seen mirrored (`test_time_flip=1`: the two outputs are averaged, for twice the time).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from pipeline.classifier import ModelError, open_session

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights"
# The service runs the int8 file: half the float one's time at the same held-out accuracy (model card). The float
# file is what it was quantized from (models/detector/quantize.py); ACNEBOT_DETECTOR_PATH may name it.
DEFAULT_DETECTOR = WEIGHTS / "lesion_detector.int8.onnx"
FLOAT_DETECTOR = WEIGHTS / "lesion_detector.onnx"
MULTIPLE = 32  # the backbone halves the input five times
KINDS = ("acne", "non_acne")
SAME_SPOT_PX = 8  # an acne and a non-acne peak this close (input px) are one mark: the stronger kind wins
VIEWS = ("raw", "enhanced")


@dataclass(frozen=True)
class Detection:
    x: float  # centre, pixels of the image the detector saw
    y: float
    w: float
    h: float
    score: float
    kind: int  # index into KINDS


class DetectorError(ModelError):
    """The detector model cannot be used; the message says which file and why."""


def pad_to_stride(pixels: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """H x W x 3 uint8 -> 1 x 3 x H' x W' float32 in [0, 1], reflected up to multiples of 32."""
    h, w = pixels.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    if ph or pw:
        pixels = cv2.copyMakeBorder(np.ascontiguousarray(pixels), 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
    x = np.ascontiguousarray(pixels.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
    return x, (h, w)


def decode(out: np.ndarray, min_score: float | tuple[float, float] = 0.3,
           valid: tuple[int, int] | None = None, stride: int = 2) -> list[Detection]:
    """4 x H x W network output -> detections: peaks of each sigmoid heatmap over a 3 x 3 neighbourhood."""
    thresholds = (min_score, min_score) if np.isscalar(min_score) else min_score
    heat = 1.0 / (1.0 + np.exp(-out[: len(KINDS)].astype(np.float32)))
    if valid is not None:
        heat[:, (valid[0] + stride - 1) // stride:, :] = 0
        heat[:, :, (valid[1] + stride - 1) // stride:] = 0
    same_spot = max(1, round(SAME_SPOT_PX / stride))
    found: list[tuple[float, int, int, int]] = []
    for kind in range(len(KINDS)):
        peaks = (heat[kind] == cv2.dilate(heat[kind], np.ones((3, 3), np.uint8))) & (heat[kind] >= thresholds[kind])
        for iy, ix in zip(*np.nonzero(peaks)):
            found.append((float(heat[kind, iy, ix]), kind, int(iy), int(ix)))
    found.sort(reverse=True)
    kept: list[Detection] = []
    cells: list[tuple[int, int, int]] = []
    for score, kind, iy, ix in found:
        if any(k != kind and abs(iy - y) <= same_spot and abs(ix - x) <= same_spot for k, y, x in cells):
            continue  # one mark seen by both heatmaps: the stronger kind was kept
        dx, dy = _refine(heat[kind], iy, ix)
        cells.append((kind, iy, ix))
        kept.append(Detection((ix + 0.5 + dx) * stride, (iy + 0.5 + dy) * stride,
                              float(np.exp(out[len(KINDS), iy, ix])), float(np.exp(out[len(KINDS) + 1, iy, ix])),
                              score, kind))
    return kept


def _refine(heat: np.ndarray, iy: int, ix: int) -> tuple[float, float]:
    """Sub-cell offset of a peak: the heat-weighted centroid of its 3 x 3 neighbourhood."""
    y0, y1, x0, x1 = max(0, iy - 1), min(heat.shape[0], iy + 2), max(0, ix - 1), min(heat.shape[1], ix + 2)
    patch = heat[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1]
    total = float(patch.sum()) or 1.0
    return float((patch * xx).sum() / total - ix), float((patch * yy).sum() / total - iy)


class LesionDetector:
    def __init__(self, path: Path | str, threads: int | None = None):
        path = Path(path)
        self._session, meta = open_session(path, "lesion detector", "ACNEBOT_DETECTOR_PATH", threads, DetectorError)
        self.stride = int(meta.get("stride", "0"))
        self.view = meta.get("view", "enhanced")
        if meta.get("kinds") != ",".join(KINDS) or self.stride not in (2, 4) or self.view not in VIEWS:
            raise DetectorError(f"lesion detector at {path} is not a {KINDS} heatmap model at stride 2 or 4 "
                                f"on a {' or '.join(VIEWS)} view")
        self.name = meta.get("name", path.stem)
        self.version = meta.get("version", "unknown")
        self.thresholds = tuple(json.loads(meta.get("thresholds", "[0.3, 0.4]")))
        self.flip = meta.get("test_time_flip") == "1"
        self._input = self._session.get_inputs()[0].name

    def raw(self, pixels: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        if not self.flip:
            x, valid = pad_to_stride(pixels)
            return self._session.run(None, {self._input: x})[0][0], valid
        valid = pixels.shape[:2]
        if valid[1] % self.stride:  # a whole number of cells wide, so the mirror's cells fall on the view's
            pixels = cv2.copyMakeBorder(np.ascontiguousarray(pixels), 0, 0, 0, self.stride - valid[1] % self.stride,
                                        cv2.BORDER_REFLECT_101)
        x, _ = pad_to_stride(pixels)
        x_mirror, _ = pad_to_stride(np.ascontiguousarray(pixels[:, ::-1]))  # padded on its own right, as a photo
        out = self._session.run(None, {self._input: np.concatenate([x, x_mirror])})[0]
        cells = pixels.shape[1] // self.stride
        mirrored = out[0].copy()
        mirrored[:, :, :cells] = out[1][:, :, cells - 1::-1]
        return (out[0] + mirrored) / 2, valid

    def detect(self, pixels: np.ndarray, thresholds: tuple[float, float] | None = None) -> list[Detection]:
        """Lesions in an H x W x 3 uint8 canonical view, coordinates in its pixels."""
        return self.detect_each(pixels, thresholds or self.thresholds)[0]

    def detect_each(self, pixels: np.ndarray, *thresholds: tuple[float, float]) -> list[list[Detection]]:
        """The detections at each of several threshold pairs, from one pass of the network."""
        out, valid = self.raw(pixels)
        return [decode(out, t, valid, self.stride) for t in thresholds]


@lru_cache(maxsize=4)
def load(path: str | None = None) -> LesionDetector:
    """The process-wide detector (onnxruntime sessions are thread-safe for run())."""
    return LesionDetector(path or os.environ.get("ACNEBOT_DETECTOR_PATH") or DEFAULT_DETECTOR)
