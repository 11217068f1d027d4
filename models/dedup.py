"""Near-duplicate groups among close-ups: DCT perceptual hash compared over all 8 rotations/flips, union-find.

Some close-ups are rotated, flipped or cropped copies of one source photo; a validation split by file would
leak them into training.
"""
from __future__ import annotations

import cv2
import numpy as np

HAMMING_MAX = 6  # of 64 bits; 8+ starts chaining unrelated smooth close-ups into one huge group


def phash(gray: np.ndarray) -> np.ndarray:
    """64 bits (bool) from the 8x8 lowest DCT frequencies of a 32x32 thumbnail."""
    small = cv2.resize(gray.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].flatten()
    return low > np.median(low[1:])


def _dihedral(img: np.ndarray) -> list[np.ndarray]:
    out = []
    for k in range(4):
        r = np.rot90(img, k)
        out += [r, r[:, ::-1]]
    return out


def near_duplicate_groups(images: np.ndarray, hamming_max: int = HAMMING_MAX) -> np.ndarray:
    """Group id per image (N x H x W x 3 uint8); images within hamming_max bits under some symmetry share one."""
    n = len(images)
    grays = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in images]
    base = np.stack([phash(g) for g in grays]).astype(np.float32)  # N x 64
    variants = np.stack([np.stack([phash(v) for v in _dihedral(g)]) for g in grays]).astype(np.float32)  # N x 8 x 64
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    flat = variants.reshape(n * 8, 64)
    for start in range(0, n, 256):
        a = base[start:start + 256]
        # Hamming distance = bits that differ, from two matrix products over 0/1 vectors.
        same = a @ flat.T + (1 - a) @ (1 - flat).T
        dist = (64 - same).reshape(len(a), n, 8).min(axis=2)
        ii, jj = np.nonzero(dist <= hamming_max)
        for i, j in zip(ii + start, jj):
            if i != j:
                ri, rj = find(int(i)), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)], np.int64)
