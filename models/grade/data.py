"""Whole-face views of the ACNE04 pack photos, the Hayashi level and the experts' lesion count.

Training jitters the view on the training device itself (`FaceBank`): each photo's face is kept once as a wider
square, and a batch is cut from those with one affine resampling plus colour changes in torch. Drawn on CPU
loader processes, a 384 px view took 14 ms, so the grade's training was bound by the CPUs, not the network.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from models.facepack import PackedPhoto
from models.grade.network import INPUT
from pipeline.grade import face_square

BANK_SIDE = 512  # pixels of each kept square
BANK_ZOOM = 1.3  # the kept square is this much wider than the service's view (room to shift, turn and zoom)


def face_crop(photo: PackedPhoto, rgb: np.ndarray, size: int = INPUT, zoom: float = 1.0) -> np.ndarray:
    """The face box (the whole crop where no face was found) squared as the service squares it."""
    h, w = rgb.shape[:2]
    return face_square(rgb, photo.face_box or (0, 0, w, h), size, zoom=zoom)


def log_count(photo: PackedPhoto) -> float:
    return math.log1p(int((photo.kinds == 0).sum()))


class FaceBank:
    """The photos' wide face squares on `device` (uint8) and their targets; `batch` cuts jittered views."""

    def __init__(self, photos: list[PackedPhoto], pixels: list[np.ndarray], device: torch.device):
        squares = np.stack([face_crop(p, px, BANK_SIDE, BANK_ZOOM) for p, px in zip(photos, pixels)])
        self.images = torch.from_numpy(squares.transpose(0, 3, 1, 2).copy()).to(device)
        self.levels = torch.tensor([p.level for p in photos], device=device)
        self.counts = torch.tensor([log_count(p) for p in photos], dtype=torch.float32, device=device)
        per_level = torch.bincount(self.levels, minlength=3).float()
        self.weights = 1.0 / per_level[self.levels]  # levels drawn balanced
        self.device = device

    def __len__(self) -> int:
        return len(self.levels)

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """n views drawn balanced by level, jittered: zoom, shift, turn, mirror, colour, blur."""
        idx = torch.multinomial(self.weights, n, replacement=True, generator=gen)

        def u(lo, hi, *shape):
            return lo + (hi - lo) * torch.rand(n, *shape, generator=gen, device=self.device)

        zoom = torch.exp(u(-0.12, 0.12))
        angle = torch.deg2rad(u(-10.0, 10.0))
        mirror = torch.where(u(0.0, 1.0) < 0.5, -1.0, 1.0)
        shift = u(-0.06, 0.06, 2) * 2 * zoom[:, None] / BANK_ZOOM
        x = self._resample(self.images[idx], zoom, angle, mirror, shift)
        return photometric(x, gen), self.levels[idx], self.counts[idx]

    @staticmethod
    def _resample(images: torch.Tensor, zoom, angle, mirror, shift) -> torch.Tensor:
        scale = zoom / BANK_ZOOM
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], 1),
                             torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1)
        grid = F.affine_grid(theta, [len(images), 3, INPUT, INPUT], align_corners=False)
        return F.grid_sample(images.float().div_(255), grid, mode="bilinear", padding_mode="reflection",
                             align_corners=False)


def photometric(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """The detector's colour changes (models.detector.data) on a batch in [0, 1], per image."""
    n, dev = len(x), x.device

    def u(lo, hi, channels=1):
        return lo + (hi - lo) * torch.rand(n, channels, 1, 1, generator=gen, device=dev)

    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * u(0.75, 1.25)  # saturation
    x = x * u(0.94, 1.06, 3)  # white balance
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * u(0.8, 1.2) + mean * u(0.75, 1.25)  # contrast, brightness
    x = x.clamp(0, 1) ** u(0.8, 1.25)  # gamma
    blurred = torch.rand(n, generator=gen, device=dev) < 0.2
    if blurred.any():
        x[blurred] = gaussian_blur(x[blurred], float(0.4 + 0.6 * torch.rand(1, generator=gen, device=dev)))
    return x


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).repeat(3, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(3, 1, 1, -1), groups=3)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(3, 1, -1, 1), groups=3)
