"""ACNE04's held-out fifth, tune photos and training photos, split by near-duplicate groups, not by file.

ACNE04 holds several photos of one patient (the same face from a little further, or at another visit); a split
by file lets the detector and the grade see the held-out patient in training. Groups come from the DCT
perceptual hash of each whole photo (models.dedup, 64 bits, within HAMMING_MAX); whole groups are dealt to the
held-out fifth in a fixed seeded order. Cached in the models cache (it takes a few seconds to hash 565 photos).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

SEED = 2026
HELD_OUT_FRACTION = 0.2  # never trained on, never tuned on
TUNE_PHOTOS = 40  # thresholds and grading are chosen here, not trained on
THUMB = 128


def items(root: Path) -> list[dict]:
    return json.loads((root / "acne04" / "train.json").read_text())


def groups(root: Path) -> dict[str, int]:
    """File -> near-duplicate group id."""
    from models.dedup import near_duplicate_groups

    files = sorted(item["file"] for item in items(root))
    thumbs = []
    for f in files:
        bgr = cv2.imread(str(root / "acne04" / f), cv2.IMREAD_COLOR)
        thumbs.append(cv2.resize(bgr[:, :, ::-1], (THUMB, THUMB), interpolation=cv2.INTER_AREA))
    return dict(zip(files, near_duplicate_groups(np.stack(thumbs)).tolist()))


def split(root: Path, cache: Path | None = None) -> dict[str, list[str]]:
    """File names per split: held_out, tune, train (whole near-duplicate groups in each)."""
    if cache is not None and (cache / "acne04_split.json").exists():
        return json.loads((cache / "acne04_split.json").read_text())
    by_file = groups(root)
    ids = sorted(set(by_file.values()))
    order = np.random.default_rng(SEED).permutation(len(ids))
    members: dict[int, list[str]] = {}
    for f, g in sorted(by_file.items()):
        members.setdefault(g, []).append(f)
    n_held = int(round(HELD_OUT_FRACTION * len(by_file)))
    out: dict[str, list[str]] = {"held_out": [], "tune": [], "train": []}
    for i in order:
        group = members[ids[i]]
        if len(out["held_out"]) < n_held:
            out["held_out"] += group
        elif len(out["tune"]) < TUNE_PHOTOS:
            out["tune"] += group
        else:
            out["train"] += group
    out = {k: sorted(v) for k, v in out.items()}
    if cache is not None:
        (cache / "acne04_split.json").write_text(json.dumps(out, indent=0))
    return out
