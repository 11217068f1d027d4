"""Canonical face views with lesion centres: what the lesion detector trains and is evaluated on.

Each photo goes through the service's own path (FaceMesh landmarks -> `pipeline.patches.face_view`: the face
at 640 px hairline-to-chin, median filter + CLAHE), and its marks are moved into those canonical pixels.

acne04: expert circles (ACNE04-v2), acne only: the non-acne channel is unlabelled there.
acne-lesions: boxes; acne + pimple -> acne channel, spot/scar/mole -> non-acne channel.

`python -m models.detset` fills the cache (`var/cache/models/det/`) ahead of training; one .npy per photo so
training memory-maps the pixels instead of holding every face in memory.
"""
from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import acne04_split as split_module
from models.sources import cache_dir, data_dir, face_photos, read_rgb

ACNE, NON_ACNE = 0, 1
KIND_OF_LABEL = {"comedone": ACNE, "papule": ACNE, "spot": NON_ACNE, "scar": NON_ACNE, "mole": NON_ACNE}


@dataclass
class DetPhoto:
    name: str
    source: str  # "acne04" or "acne-lesions"
    image: Path  # .npy of the canonical enhanced pixels (uint8 RGB)
    points: np.ndarray  # N x 2 lesion centres, canonical px
    sizes: np.ndarray  # N x 2 (w, h) canonical px
    kinds: np.ndarray  # N: ACNE or NON_ACNE
    factor: float  # canonical px per photo px
    offset: tuple[int, int]  # crop's top-left in photo px
    shape: tuple[int, int]  # canonical H, W
    level: int | None = None  # ACNE04 Hayashi level
    face: bool = True  # FaceMesh found the face (else the whole photo at an assumed face size)

    @property
    def labels_non_acne(self) -> bool:
        return self.source == "acne-lesions"

    def pixels(self) -> np.ndarray:
        return np.load(self.image, mmap_mode="r")


def acne04_split(root: Path) -> dict[str, list[str]]:
    """File names of ACNE04 per split: held_out, tune, train, by near-duplicate groups (models.acne04_split)."""
    return split_module.split(root, cache_dir())


def _canonical(path: Path):
    """(view, found_face) for one photo, as the service computes it."""
    from pipeline.patches import face_view
    from pipeline.preprocess import enhance, resize, scale_for_face
    from pipeline.faces import detect_faces

    rgb = read_rgb(path)
    faces = detect_faces(rgb)
    if faces:
        return face_view(rgb, faces[0]), rgb.shape, True
    factor = scale_for_face(0.8 * rgb.shape[0])  # no face found: assume the face fills most of the height
    return _Plain(enhance(resize(rgb, factor)), factor), rgb.shape, False


@dataclass
class _Plain:
    pixels: np.ndarray
    factor: float
    offset: tuple[int, int] = (0, 0)


def _prepare_one(job) -> dict | None:
    source, path, marks, level, out_dir = job
    view, shape, found = _canonical(path)
    out = Path(out_dir) / f"{source}__{path.stem}.npy"
    np.save(out, np.ascontiguousarray(view.pixels))
    f, (ox, oy) = view.factor, view.offset
    h, w = view.pixels.shape[:2]
    points, sizes, kinds = [], [], []
    for x, y, bw, bh, kind in marks:
        cx, cy = (x - ox) * f, (y - oy) * f
        if 0 <= cx < w and 0 <= cy < h:
            points.append((cx, cy))
            sizes.append((bw * f, bh * f))
            kinds.append(kind)
    return {"name": path.name, "source": source, "image": str(out), "points": points, "sizes": sizes,
            "kinds": kinds, "factor": f, "offset": [int(ox), int(oy)], "shape": [h, w], "level": level,
            "face": found, "photo_shape": list(shape[:2])}


def _jobs(root: Path, out_dir: Path) -> dict[str, list]:
    jobs: dict[str, list] = {}
    for split, names in acne04_split(root).items():
        wanted = set(names)
        jobs[f"acne04_{split}"] = [
            ("acne04", root / "acne04" / item["file"],
             [(l["x"], l["y"], 2 * l["r"], 2 * l["r"], ACNE) for l in item["lesions"]], item["level"], out_dir)
            for item in split_module.items(root) if item["file"] in wanted]
    for split in ("train", "valid"):
        split_jobs = []
        for photo in face_photos(root, split):
            h, w = _image_size(photo.path)
            marks = [(b.cx * w, b.cy * h, b.w * w, b.h * h, KIND_OF_LABEL[b.label]) for b in photo.boxes]
            split_jobs.append(("acne-lesions", photo.path, marks, None, out_dir))
        jobs[f"lesions_{split}"] = split_jobs
    return jobs


def _image_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def index_file(cache: Path, split: str) -> Path:
    return cache / "det" / f"{split}.json"


def build(root: Path, cache: Path, workers: int = 2, splits: list[str] | None = None) -> None:
    out_dir = cache / "det"
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, jobs in _jobs(root, out_dir).items():
        if splits and split not in splits:
            continue
        target = index_file(cache, split)
        if target.exists():
            continue
        with ProcessPoolExecutor(workers) as pool:
            rows = list(pool.map(_prepare_one, jobs, chunksize=8))
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows))
        tmp.replace(target)
        print(split, len(rows), "photos,", sum(r["face"] for r in rows), "with a face,",
              sum(len(r["points"]) for r in rows), "marks", flush=True)


def load(split: str, cache: Path | None = None, root: Path | None = None) -> list[DetPhoto]:
    """One prepared split: acne04_train / acne04_tune / acne04_held_out / lesions_train / lesions_valid."""
    cache = cache or cache_dir()
    file = index_file(cache, split)
    if not file.exists():
        build(root or data_dir(), cache, splits=[split])
    out = []
    for r in json.loads(file.read_text()):
        out.append(DetPhoto(r["name"], r["source"], Path(r["image"]),
                            np.array(r["points"], np.float32).reshape(-1, 2),
                            np.array(r["sizes"], np.float32).reshape(-1, 2),
                            np.array(r["kinds"], np.int64), r["factor"], tuple(r["offset"]), tuple(r["shape"]),
                            r["level"], r["face"]))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=None)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    build(data_dir(args.data), cache_dir(args.cache), args.workers)


if __name__ == "__main__":
    main()
