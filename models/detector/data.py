"""Training crops for the lesion detector, sampled from the face pack (models.facepack) at canonical scale.

Each crop: a random photo (ACNE04 and the boxed selfies in a set share), centred near a lesion most of the
time, scaled to the service's canonical scale times a random zoom, turned a little, maybe mirrored, with
colour, blur and JPEG changes a phone adds. Targets at the network's stride: a Gaussian bump per lesion centre
(its width follows the lesion's size, so a big lesion gives one broad peak, not two), the log size there,
and which heatmaps are labelled (the non-acne one only on the boxed selfies).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from models.detector.network import HEATMAPS, STRIDE
from models.detset import ACNE, NON_ACNE
from models.facepack import PackedPhoto
from models.loop import SeededDraws

ZOOM = (0.8, 1.25)  # random scale around canonical
TURN_DEGREES = 10
NEAR_LESION_P = 0.75  # crops centred near a mark (else anywhere on the face)
SIGMA_PER_RADIUS = 1 / 2.5  # Gaussian sigma, in cells, per lesion radius in cells
MIN_SIGMA = 0.7


def decode_all(photos: list[PackedPhoto], enhance: bool = False) -> list[np.ndarray]:
    """Every pack photo's pixels, decoded once (forked loader workers share them)."""
    out = []
    for p in photos:
        rgb = p.pixels()
        if enhance:
            from pipeline.preprocess import enhance as clahe

            rgb = clahe(rgb)
        out.append(rgb)
    return out


class CropSampler(SeededDraws):
    """Index i -> one random crop; ACNE04 photos drawn `acne04_share` of the time, the selfies the rest."""

    def __init__(self, photos: list[PackedPhoto], pixels: list[np.ndarray], crop: int = 256,
                 acne04_share: float = 0.5, seed: int = 0, length: int = 10**9):
        super().__init__(seed, length)
        self.photos, self.pixels, self.crop = photos, pixels, crop
        is_clinical = np.array([p.source == "acne04" for p in photos])
        w = np.where(is_clinical, acne04_share / max(1, is_clinical.sum()),
                     (1 - acne04_share) / max(1, (~is_clinical).sum()))
        if not is_clinical.any() or is_clinical.all():
            w = np.ones(len(photos))
        self.weights = w / w.sum()

    def draw(self, k: int, rng: np.random.Generator):
        return sample_crop(self.photos[k], self.pixels[k], self.crop, rng)


def sample_crop(photo: PackedPhoto, rgb: np.ndarray, size: int, rng: np.random.Generator):
    h, w = rgb.shape[:2]
    scale = photo.to_canon * math.exp(rng.uniform(math.log(ZOOM[0]), math.log(ZOOM[1])))
    if len(photo.points) and rng.random() < NEAR_LESION_P:
        cx, cy = photo.points[rng.integers(len(photo.points))] + rng.uniform(-0.4, 0.4, 2) * size / scale
    elif photo.face_box is not None:
        x0, y0, x1, y1 = photo.face_box
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
    else:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    angle = rng.uniform(-TURN_DEGREES, TURN_DEGREES)
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, scale)
    m[:, 2] += (size / 2 - cx, size / 2 - cy)
    if rng.random() < 0.5:
        m[0] = -m[0]
        m[0, 2] += size
    out = cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(114, 114, 114))
    out = _photometric(out, rng)
    pts = photo.points @ m[:, :2].T + m[:, 2] if len(photo.points) else np.zeros((0, 2))
    sizes = photo.sizes * scale
    heat, size_map, size_at = render_targets(pts, sizes, photo.kinds, size, size)
    labelled = np.array([1.0, 1.0 if photo.labels_non_acne else 0.0], np.float32)
    return (torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1))), torch.from_numpy(heat),
            torch.from_numpy(size_map), torch.from_numpy(size_at), torch.from_numpy(labelled))


def _photometric(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = rgb.astype(np.float32)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.75, 1.25)  # saturation
    x = x * rng.uniform(0.94, 1.06, 3)  # white balance
    mean = x.mean()
    x = (x - mean) * rng.uniform(0.8, 1.2) + mean * rng.uniform(0.75, 1.25)  # contrast, brightness
    x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.8, 1.25)  # gamma
    out = np.clip(x, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.0))
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 91))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else out
    return out


def render_targets(points: np.ndarray, sizes: np.ndarray, kinds: np.ndarray, height: int, width: int):
    """Marks in input px -> (heat HEATMAPS x h x w, log size 2 x h x w, centre cells h x w) at STRIDE."""
    gh, gw = height // STRIDE, width // STRIDE
    heat = np.zeros((HEATMAPS, gh, gw), np.float32)
    size_map = np.zeros((2, gh, gw), np.float32)
    size_at = np.zeros((gh, gw), np.float32)
    for (x, y), (bw, bh), kind in zip(points, sizes, kinds):
        gx, gy = x / STRIDE, y / STRIDE
        ix, iy = int(gx), int(gy)
        if not (0 <= ix < gw and 0 <= iy < gh):
            continue
        radius = max(bw, bh) / 2 / STRIDE
        sigma = max(MIN_SIGMA, radius * SIGMA_PER_RADIUS)
        reach = int(math.ceil(3 * sigma))
        x0, x1, y0, y1 = max(0, ix - reach), min(gw, ix + reach + 1), max(0, iy - reach), min(gh, iy + reach + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        bump = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma * sigma))
        channel = 0 if kind == ACNE else 1
        np.maximum(heat[channel, y0:y1, x0:x1], bump, out=heat[channel, y0:y1, x0:x1])
        heat[channel, iy, ix] = 1.0
        size_map[:, iy, ix] = (math.log(max(bw, 2.0)), math.log(max(bh, 2.0)))
        size_at[iy, ix] = 1.0
    return heat, size_map, size_at


assert NON_ACNE == 1 and ACNE == 0  # heatmap channel = kind
