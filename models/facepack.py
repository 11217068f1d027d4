"""Face photos packed for training: each photo's face crop as a small WebP, its marks in crop pixels, and the
factor that brings it to the service's canonical scale (the face 640 px hairline-to-chin, as pipeline.patches).

Built here once (FaceMesh, as the service finds faces); read by the detector's and the grade's training with
numpy and OpenCV only, so a training machine needs neither MediaPipe nor the original photos. A crop is never
upscaled when packed (the sampler scales it to canonical size on the fly) and downscaled only to canonical, so
no lesion is stored below the scale the service looks at it.

    python -m models.facepack [--out var/pack] [--lesions-train N] [--quality 90] [--lesions-quality Q]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.detset import ACNE, KIND_OF_LABEL

FACE_MARGIN = 0.25  # of the face height kept around the landmarks' box
LESIONS_TUNE = 150  # acne-lesions train photos kept apart to choose thresholds on selfies
SEED = 2026


@dataclass
class PackedPhoto:
    name: str
    source: str  # "acne04" | "acne-lesions"
    split: str  # "train" | "tune"
    image: Path
    points: np.ndarray  # N x 2 lesion centres, crop px
    sizes: np.ndarray  # N x 2 (w, h), crop px
    kinds: np.ndarray  # N: ACNE | NON_ACNE
    to_canon: float  # canonical px per crop px
    level: int | None
    face_box: tuple[float, float, float, float] | None  # x0, y0, x1, y1 crop px (None: no face found)
    group: int | None = None  # ACNE04 near-duplicate group (models.acne04_split): cross-validation folds keep it whole

    @property
    def labels_non_acne(self) -> bool:
        return self.source == "acne-lesions"

    def pixels(self) -> np.ndarray:
        bgr = cv2.imread(str(self.image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot decode {self.image}")
        return np.ascontiguousarray(bgr[:, :, ::-1])


def _pack_one(job) -> dict:
    from pipeline.preprocess import scale_for_face
    from pipeline.faces import detect_faces
    from models.sources import read_rgb

    source, split, path, marks, normalised, level, group, out_dir, quality = job
    rgb = read_rgb(path)
    h, w = rgb.shape[:2]
    if normalised:  # YOLO boxes: fractions of the photo's width and height
        marks = [(x * w, y * h, bw * w, bh * h, kind) for x, y, bw, bh, kind in marks]
    faces = detect_faces(rgb)
    if faces:
        face = faces[0]
        factor = scale_for_face(face.height)
        fx0, fy0, fx1, fy1 = face.box()
        m = FACE_MARGIN * face.height
        x0, y0 = max(0, int(fx0 - m)), max(0, int(fy0 - m))
        x1, y1 = min(w, int(fx1 + m)), min(h, int(fy1 + m))
    else:
        factor = scale_for_face(0.8 * h)  # as models.detset: the face assumed to fill most of the height
        x0, y0, x1, y1 = 0, 0, w, h
    s = min(1.0, factor)
    crop = rgb[y0:y1, x0:x1]
    if s < 1.0:
        crop = cv2.resize(crop, (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s))),
                          interpolation=cv2.INTER_AREA)
    out = Path(out_dir) / source / f"{path.stem}.webp"
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.ascontiguousarray(crop[:, :, ::-1]), [cv2.IMWRITE_WEBP_QUALITY, quality])
    points, sizes, kinds = [], [], []
    for x, y, bw, bh, kind in marks:
        cx, cy = (x - x0) * s, (y - y0) * s
        if 0 <= cx < crop.shape[1] and 0 <= cy < crop.shape[0]:
            points.append((round(cx, 2), round(cy, 2)))
            sizes.append((round(bw * s, 2), round(bh * s, 2)))
            kinds.append(kind)
    box = None
    if faces:
        box = [round((fx0 - x0) * s, 1), round((fy0 - y0) * s, 1), round((fx1 - x0) * s, 1), round((fy1 - y0) * s, 1)]
    return {"name": path.name, "source": source, "split": split, "image": f"{source}/{out.name}",
            "points": points, "sizes": sizes, "kinds": kinds, "to_canon": round(factor / s, 5), "level": level,
            "face_box": box, "group": group}


def _jobs(root: Path, out_dir: Path, lesions_train: int, quality: int, lesions_quality: int,
          acne04_per_split: int | None = None) -> list[tuple]:
    from models import acne04_split
    from models.sources import face_photos

    jobs = []
    wanted = {f: name for name, files in acne04_split.split(root).items() if name != "held_out"
              for f in files[:acne04_per_split]}
    groups = acne04_split.groups(root)
    for item in acne04_split.items(root):
        if item["file"] in wanted:
            marks = [(l["x"], l["y"], 2 * l["r"], 2 * l["r"], ACNE) for l in item["lesions"]]
            jobs.append(("acne04", wanted[item["file"]], root / "acne04" / item["file"], marks, False, item["level"],
                         groups[item["file"]], out_dir, quality))
    photos = face_photos(root, "train")
    order = lesions_order(len(photos))
    n_tune = min(LESIONS_TUNE, lesions_train)
    tune = set(order[:n_tune].tolist())
    chosen = sorted(order[:n_tune + lesions_train].tolist())
    for i in chosen:
        photo = photos[i]
        marks = [(b.cx, b.cy, b.w, b.h, KIND_OF_LABEL[b.label]) for b in photo.boxes]
        jobs.append(("acne-lesions", "tune" if i in tune else "train", photo.path, marks, True, None, None, out_dir,
                     lesions_quality))
    return jobs


def lesions_order(count: int) -> np.ndarray:
    """The fixed order acne-lesions training photos are dealt in: the first LESIONS_TUNE are the selfie tune
    photos, the next ones train."""
    return np.random.default_rng(SEED).permutation(count)


def selfie_tune_photos(root: Path) -> list:
    """The acne-lesions training photos kept apart as selfie tune photos (sources.FacePhoto)."""
    from models.sources import face_photos

    photos = face_photos(root, "train")
    return [photos[i] for i in sorted(lesions_order(len(photos))[:LESIONS_TUNE].tolist())]


def build(root: Path, out_dir: Path, lesions_train: int = 10_000, quality: int = 90,
          lesions_quality: int | None = None, workers: int = 2, acne04_per_split: int | None = None) -> None:
    """Pack ACNE04's train and tune photos (never the held-out fifth) and acne-lesions train photos (a fixed
    LESIONS_TUNE of them as selfie tune photos); `acne04_per_split` caps ACNE04 for small packs (tests)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(root, out_dir, lesions_train, quality, lesions_quality or quality, acne04_per_split)
    if workers <= 1:
        rows = [_pack_one(job) for job in jobs]
    else:  # spawned, not forked: a parent that has run MediaPipe's graphs deadlocks its forked children
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows = list(pool.map(_pack_one, jobs, chunksize=8))
    (out_dir / "index.json").write_text(json.dumps(rows))
    size = sum(f.stat().st_size for f in out_dir.rglob("*.webp"))
    print(f"{len(rows)} photos, {sum(r['face_box'] is not None for r in rows)} with a face, "
          f"{sum(len(r['points']) for r in rows)} marks, {size / 2**20:.1f} MiB", flush=True)


def load(pack: Path, source: str | None = None, split: str | None = None) -> list[PackedPhoto]:
    rows = json.loads((pack / "index.json").read_text())
    out = []
    for r in rows:
        if (source and r["source"] != source) or (split and r["split"] != split):
            continue
        out.append(PackedPhoto(r["name"], r["source"], r["split"], pack / r["image"],
                               np.array(r["points"], np.float32).reshape(-1, 2),
                               np.array(r["sizes"], np.float32).reshape(-1, 2), np.array(r["kinds"], np.int64),
                               float(r["to_canon"]), r["level"], tuple(r["face_box"]) if r["face_box"] else None,
                               r.get("group")))
    return out


def main(argv: list[str] | None = None) -> None:
    from models.sources import REPO_ROOT, data_dir

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=str(REPO_ROOT / "var" / "pack"))
    ap.add_argument("--lesions-train", type=int, default=10_000, help="acne-lesions train photos to pack")
    ap.add_argument("--quality", type=int, default=90, help="WebP quality")
    ap.add_argument("--lesions-quality", type=int, default=None,
                    help="WebP quality of the selfies (default: --quality)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    build(data_dir(args.data), Path(args.out), args.lesions_train, args.quality, args.lesions_quality, args.workers)


if __name__ == "__main__":
    main()
