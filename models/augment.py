"""Training-time augmentation of stored patches -> PATCH_SIZE model inputs (numpy, one batch at a time)."""
from __future__ import annotations

import numpy as np

from pipeline.preprocess import PATCH_SIZE

ROLL_P = 0.3  # Microsoft selfie paper's "rolling": circular shift so the net does not key on where skin sits
COLOUR_JITTER = 0.12


def random_crop(img: np.ndarray, rng: np.random.Generator, size: int = PATCH_SIZE) -> np.ndarray:
    s = img.shape[0]
    x, y = rng.integers(0, s - size + 1, 2)
    return img[y:y + size, x:x + size]


def roll(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    axis = int(rng.integers(0, 2))
    return np.roll(img, int(rng.integers(1, img.shape[axis])), axis=axis)


def geometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    img = np.rot90(img, int(rng.integers(0, 4)))
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return img


def colour(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast and per-channel gain jitter on N x S x S x 3 float in [0, 1]."""
    n = len(batch)
    j = COLOUR_JITTER
    bright = 1 + rng.uniform(-j, j, (n, 1, 1, 1))
    contrast = 1 + rng.uniform(-j, j, (n, 1, 1, 1))
    gain = 1 + rng.uniform(-j / 2, j / 2, (n, 1, 1, 3))
    mean = batch.mean(axis=(1, 2, 3), keepdims=True)
    out = ((batch - mean) * contrast + mean) * bright * gain
    return np.clip(out, 0.0, 1.0)


def augment_batch(images: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Stored uint8 patches (any size >= PATCH_SIZE) -> N x 3 x S x S float32 augmented model inputs."""
    out = []
    for img in images:
        p = geometric(random_crop(img, rng), rng)
        if rng.random() < ROLL_P:
            p = roll(p, rng)
        out.append(p)
    batch = colour(np.stack(out).astype(np.float32) / 255.0, rng)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
