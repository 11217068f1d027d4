"""Training pool and held-out sets: face photos' train/valid splits, close-ups split by near-duplicate group."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.patchset import PatchSet, centre, closeup_patches, face_patches, split_closeups
from pipeline.types import CLASSES, REGIONS


@dataclass
class Limits:
    """Caps for quick runs and tests; None = everything."""

    photos: int | None = None
    closeups: int | None = None


@dataclass
class TrainPool:
    faces: PatchSet
    closeups: PatchSet

    def __post_init__(self):
        self.labels = np.concatenate([self.faces.labels, self.closeups.labels])
        self.regions = np.concatenate([self.faces.regions, self.closeups.regions])

    def __len__(self) -> int:
        return len(self.labels)

    def images(self, idx: np.ndarray) -> list[np.ndarray]:
        nf = len(self.faces)
        return [self.faces.images[i] if i < nf else self.closeups.images[i - nf] for i in idx]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(CLASSES))


def load(root: Path, limits: Limits = Limits(), seed: int = 0) -> tuple[TrainPool, dict[str, PatchSet]]:
    faces_train = face_patches(root, "train", limit=limits.photos)
    faces_valid = face_patches(root, "valid", limit=limits.photos)
    close_train, close_val = split_closeups(closeup_patches(root, limit=limits.closeups), seed)
    held = {"face_valid": faces_valid, "closeup_val": close_val}
    return TrainPool(faces_train, close_train), held


def held_out_inputs(ps: PatchSet) -> np.ndarray:
    """The deterministic evaluation view of stored patches: the centred model-input window."""
    return centre(ps.images)


def region_weights(pool: TrainPool) -> dict[str, float]:
    """Eq. 4's a_i: regions with fewer training patches weigh more (sqrt inverse frequency, mean 1).

    Close-ups and boxes outside every region mask carry weight 1.
    """
    counts = np.bincount(pool.faces.regions[pool.faces.regions >= 0], minlength=len(REGIONS)).astype(float)
    inv = np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0)
    inv = inv / inv[counts > 0].mean() if (counts > 0).any() else inv + 1
    return {r: float(inv[i]) if counts[i] else 1.0 for i, r in enumerate(REGIONS)}


def sample_weights(pool: TrainPool, power: float = 0.5) -> np.ndarray:
    """Per-patch sampling probability so that each class is drawn in proportion to count**power."""
    counts = pool.class_counts().astype(float)
    per_class = np.where(counts > 0, counts ** power / np.maximum(counts, 1), 0)
    w = per_class[pool.labels]
    return w / w.sum()
