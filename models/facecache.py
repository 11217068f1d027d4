"""Face landmarks for every acne-lesions photo, detected once and cached as .npz (detection is the slow part).

`python -m models.facecache [--data DIR]` fills the cache ahead of training.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.sources import cache_dir, data_dir, face_photos, read_rgb
from pipeline.faces import FaceLandmarks, detect_faces


def _cache_file(cache: Path, split: str) -> Path:
    return cache / f"faces_{split}.npz"


def landmarks(root: Path, split: str, cache: Path | None = None, paths: list[Path] | None = None,
              progress: bool = True) -> dict[str, FaceLandmarks | None]:
    """Largest face per photo name (None where no face was found), cached per split."""
    cache = cache or cache_dir()
    file = _cache_file(cache, split)
    known: dict[str, FaceLandmarks | None] = {}
    if file.exists():
        z = np.load(file, allow_pickle=False)
        for name, found, pts in zip(z["names"], z["found"], z["points"]):
            known[str(name)] = FaceLandmarks(pts.astype(np.float32)) if found else None
    wanted = paths if paths is not None else [p.path for p in face_photos(root, split)]
    missing = [p for p in wanted if p.name not in known]
    if missing:
        for i, p in enumerate(tqdm(missing, desc=f"faces {split}", disable=not progress)):
            faces = detect_faces(read_rgb(p))
            known[p.name] = faces[0] if faces else None
            if (i + 1) % 500 == 0 or i + 1 == len(missing):
                _save(file, known)
    return {p.name: known[p.name] for p in wanted}


def _save(file: Path, known: dict[str, FaceLandmarks | None]) -> None:
    names = sorted(known)
    found = np.array([known[n] is not None for n in names])
    pts = np.stack([known[n].points if known[n] is not None else np.zeros((468, 2), np.float32)
                    for n in names]).astype(np.float32)
    tmp = file.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, names=np.array(names), found=found, points=pts)
    tmp.replace(file)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--cache", default=None)
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    for split in ("valid", "train"):
        got = landmarks(root, split, cache_dir(args.cache))
        print(split, "faces found:", sum(v is not None for v in got.values()), "/", len(got))


if __name__ == "__main__":
    main()
