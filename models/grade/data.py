"""Whole-face crops of the ACNE04 pack photos, the Hayashi level and the experts' lesion count."""
from __future__ import annotations

import math

import numpy as np
import torch

from models.detector.data import _photometric
from models.facepack import PackedPhoto
from models.loop import SeededDraws
from models.grade.network import INPUT
from pipeline.grade import face_square



def face_crop(photo: PackedPhoto, rgb: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """The face box (the whole crop where no face was found) as the service squares it; jittered when rng is
    given (zoom, shift, turn, mirror, then the detector's photometric changes)."""
    h, w = rgb.shape[:2]
    box = photo.face_box or (0, 0, w, h)
    if rng is None:
        return face_square(rgb, box, INPUT)
    out = face_square(rgb, box, INPUT, zoom=math.exp(rng.uniform(-0.12, 0.12)),
                      shift=tuple(rng.uniform(-0.06, 0.06, 2)), angle=rng.uniform(-10, 10), mirror=rng.random() < 0.5)
    return _photometric(out, rng)


class FaceSampler(SeededDraws):
    """Index i -> a jittered face crop, its level and log(1 + count); levels drawn balanced."""

    def __init__(self, photos: list[PackedPhoto], pixels: list[np.ndarray], seed: int = 0, length: int = 10**9):
        super().__init__(seed, length)
        self.photos, self.pixels = photos, pixels
        levels = np.array([p.level for p in photos])
        counts = np.bincount(levels, minlength=3).astype(float)
        w = 1.0 / counts[levels]
        self.weights = w / w.sum()

    def draw(self, k: int, rng: np.random.Generator):
        p = self.photos[k]
        img = face_crop(p, self.pixels[k], rng)
        return (torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))), int(p.level),
                torch.tensor(math.log1p(int((p.kinds == 0).sum())), dtype=torch.float32))
