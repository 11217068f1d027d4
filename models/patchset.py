"""Labelled training/validation patches cut exactly as the service cuts them (pipeline.patches), cached as .npz.

Face photos: canonical enhanced view (face height 640 px) -> a patch centred on every box, plus up to
NORMAL_PER_PHOTO skin tiles of the region masks that touch no box. Stored with CONTEXT px of margin so
training can shift the 64 px window (jitter); evaluation takes the centre.
Close-ups: resized so half the shorter side is one model input, enhanced, centre-cropped square.
"""
from __future__ import annotations

import hashlib
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from models.facecache import landmarks
from models.sources import CLASS_INDEX, cache_dir, closeups, face_photos, read_rgb
from pipeline.patches import crop_patch, face_view, tiles
from pipeline.preprocess import CLOSEUP_TYPE_SIDE, PATCH_SIZE, enhance, resize
from pipeline.types import REGIONS

CACHE_VERSION = 1
CONTEXT = 12  # extra px around a face patch for random shifts
STORED = PATCH_SIZE + CONTEXT
NORMAL_PER_PHOTO = 2
NO_FACE_CONTEXT = 3.0  # without a face, a patch spans this many times the box's larger side
REGION_CODES = {r: i for i, r in enumerate(REGIONS)}
NO_REGION = -1


@dataclass
class PatchSet:
    images: np.ndarray  # N x s x s x 3 uint8 (s = STORED for face patches, CLOSEUP_TYPE_SIDE for close-ups)
    labels: np.ndarray  # N int64, index into CLASSES
    regions: np.ndarray  # N int8, index into REGIONS or NO_REGION
    groups: np.ndarray  # N int64: source photo / near-duplicate group, for reporting

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> "PatchSet":
        return PatchSet(self.images[idx], self.labels[idx], self.regions[idx], self.groups[idx])


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


def _photo_patches(args) -> tuple[list, list, list]:
    photo, face = args
    rgb = read_rgb(photo.path)
    H, W = rgb.shape[:2]
    rng = np.random.default_rng(_seed(photo.path.name))
    out_img, out_lab, out_reg = [], [], []
    if face is None:
        for b in photo.boxes:
            side = NO_FACE_CONTEXT * max(b.w * W, b.h * H) * STORED / PATCH_SIZE
            cx, cy = b.cx * W, b.cy * H
            crop = crop_patch(rgb, cx, cy, int(round(side)))
            out_img.append(enhance(cv2.resize(crop, (STORED, STORED), interpolation=cv2.INTER_AREA)))
            out_lab.append(CLASS_INDEX[b.label])
            out_reg.append(NO_REGION)
        return out_img, out_lab, out_reg
    view = face_view(rgb, face)
    centres = []
    for b in photo.boxes:
        cx, cy = view.to_canonical(b.cx * W, b.cy * H)
        bw, bh = b.w * W * view.factor, b.h * H * view.factor
        centres.append((cx, cy, bw, bh))
        region = NO_REGION
        ix, iy = int(round(cx)), int(round(cy))
        for r in REGIONS:
            m = view.masks[r]
            if 0 <= iy < m.shape[0] and 0 <= ix < m.shape[1] and m[iy, ix]:
                region = REGION_CODES[r]
                break
        out_img.append(crop_patch(view.pixels, cx, cy, STORED))
        out_lab.append(CLASS_INDEX[b.label])
        out_reg.append(region)
    grid = tiles(view)
    free = []
    for i, (x, y, s, _) in enumerate(grid.boxes):
        # A tile is normal skin only if no box (with a small margin) reaches into it.
        if all(x + s + bw / 2 + 4 < cx or cx < x - bw / 2 - 4 or y + s + bh / 2 + 4 < cy or cy < y - bh / 2 - 4
               for cx, cy, bw, bh in centres):
            free.append(i)
    for i in rng.permutation(free)[:NORMAL_PER_PHOTO] if free else ():
        x, y, s, _ = grid.boxes[i]
        out_img.append(crop_patch(view.pixels, x + s / 2, y + s / 2, STORED))
        out_lab.append(CLASS_INDEX["normal"])
        out_reg.append(REGION_CODES[grid.regions[i]])
    return out_img, out_lab, out_reg


def _build_faces(root: Path, split: str, cache: Path, workers: int, limit: int | None) -> PatchSet:
    photos = face_photos(root, split)
    if limit:
        photos = photos[:limit]
    faces = landmarks(root, split, cache, [p.path for p in photos])
    jobs = [(p, faces[p.path.name]) for p in photos]
    images, labels, regions, groups = [], [], [], []
    with ProcessPoolExecutor(workers) as pool:
        results = pool.map(_photo_patches, jobs, chunksize=16)
        for gi, (img, lab, reg) in enumerate(tqdm(results, total=len(jobs), desc=f"patches {split}")):
            images += img
            labels += lab
            regions += reg
            groups += [gi] * len(lab)
    return PatchSet(np.stack(images).astype(np.uint8), np.array(labels, np.int64),
                    np.array(regions, np.int8), np.array(groups, np.int64))


def _closeup_image(path: Path) -> np.ndarray:
    rgb = read_rgb(path)
    h, w = rgb.shape[:2]
    canon = enhance(resize(rgb, CLOSEUP_TYPE_SIDE / min(h, w)))
    ch, cw = canon.shape[:2]
    y, x = (ch - CLOSEUP_TYPE_SIDE) // 2, (cw - CLOSEUP_TYPE_SIDE) // 2
    return canon[y:y + CLOSEUP_TYPE_SIDE, x:x + CLOSEUP_TYPE_SIDE]


def _build_closeups(root: Path, workers: int, limit: int | None) -> tuple[PatchSet, list[Path]]:
    items = closeups(root)
    if limit:
        rng = np.random.default_rng(0)
        items = [items[i] for i in sorted(rng.choice(len(items), min(limit, len(items)), replace=False))]
    paths = [p for p, _ in items]
    with ProcessPoolExecutor(workers) as pool:
        images = list(tqdm(pool.map(_closeup_image, paths, chunksize=32), total=len(paths), desc="close-ups"))
    labels = np.array([CLASS_INDEX[lab] for _, lab in items], np.int64)
    from models.dedup import near_duplicate_groups

    groups = near_duplicate_groups(np.stack(images))
    return PatchSet(np.stack(images), labels, np.full(len(labels), NO_REGION, np.int8), groups), paths


def _key(root: Path, what: str, limit: int | None) -> str:
    h = hashlib.sha1(f"{CACHE_VERSION}|{root.resolve()}|{what}|{limit}|{PATCH_SIZE}".encode()).hexdigest()[:10]
    return f"{what}_{h}.npz"


def _cached(file: Path, build) -> PatchSet:
    if file.exists():
        z = np.load(file)
        return PatchSet(z["images"], z["labels"], z["regions"], z["groups"])
    ps = build()
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, images=ps.images, labels=ps.labels, regions=ps.regions, groups=ps.groups)
    tmp.replace(file)
    return ps


def face_patches(root: Path, split: str, cache: Path | None = None, workers: int = 2,
                 limit: int | None = None) -> PatchSet:
    cache = cache or cache_dir()
    return _cached(cache / _key(root, f"faces_{split}", limit), lambda: _build_faces(root, split, cache, workers, limit))


def closeup_patches(root: Path, cache: Path | None = None, workers: int = 2, limit: int | None = None) -> PatchSet:
    cache = cache or cache_dir()
    return _cached(cache / _key(root, "closeups", limit), lambda: _build_closeups(root, workers, limit)[0])


VAL_GROUP_FRACTION = 0.15


def split_closeups(ps: PatchSet, seed: int = 0) -> tuple[PatchSet, PatchSet]:
    """Hold out ~15% of near-duplicate groups, per class, so no copy of a validation photo is trained on."""
    rng = np.random.default_rng(seed)
    val_groups: set[int] = set()
    for c in np.unique(ps.labels):
        groups = np.unique(ps.groups[ps.labels == c])
        rng.shuffle(groups)
        val_groups.update(groups[: max(1, int(round(VAL_GROUP_FRACTION * len(groups))))].tolist())
    is_val = np.isin(ps.groups, list(val_groups))
    return ps.subset(np.where(~is_val)[0]), ps.subset(np.where(is_val)[0])


TUNE_SEED = 1


def closeup_parts(ps: PatchSet, part: str) -> PatchSet:
    """One part of the close-ups by near-duplicate group: "held_out" (split_closeups' validation groups, never
    trained or tuned on), "train" (the rest), or "tune" / "train_less_tune" (the training groups split again the
    same way, for a model trained without the tune groups to choose settings on)."""
    train, held_out = split_closeups(ps)
    if part in ("held_out", "train"):
        return held_out if part == "held_out" else train
    rest, tune = split_closeups(train, TUNE_SEED)
    return {"tune": tune, "train_less_tune": rest}[part]


def centre(images: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    s = images.shape[1]
    o = (s - size) // 2
    return np.ascontiguousarray(images[:, o:o + size, o:o + size])
