"""Where the shared training data lives and how its labels map onto the product's classes.

acne-lesions: face photos with YOLO boxes (Roboflow "acne-new" v36, CC BY 4.0).
lesion-types: 224 px close-ups, one folder per lesion type (no stated licence; research use).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.types import CLASSES

REPO_ROOT = Path(__file__).resolve().parents[1]
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}

# acne-lesions data.yaml order: 0 acne, 1 mole1, 2 mole2, 3 pimple, 4 scar, 5 spot.
# Pimples with a visible head would be pustules, but the labels do not say which, so all go to papule.
FACE_LABELS = {0: "comedone", 1: "mole", 2: "mole", 3: "papule", 4: "scar", 5: "spot"}
CLOSEUP_LABELS = {"blackhead": "comedone", "whitehead": "comedone", "papule": "papule",
                  "pustule": "pustule", "nodule": "nodule", "cyst": "nodule"}


def data_dir(override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override)
    env = os.environ.get("ACNEBOT_DATA_DIR_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    path = Path(override or os.environ.get("ACNEBOT_CACHE_DIR") or REPO_ROOT / "var" / "cache" / "models")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Box:
    label: str  # one of CLASSES
    cx: float  # normalised 0..1, as in the YOLO files
    cy: float
    w: float
    h: float


@dataclass(frozen=True)
class FacePhoto:
    path: Path
    boxes: tuple[Box, ...]


def face_photos(root: Path, split: str) -> list[FacePhoto]:
    """One acne-lesions split ("train" or "valid"), sorted by file name for determinism."""
    images = root / "acne-lesions" / split / "images"
    labels = root / "acne-lesions" / split / "labels"
    out = []
    for img in sorted(images.glob("*.jpg")):
        txt = labels / (img.stem + ".txt")
        boxes = []
        if txt.exists():
            for line in txt.read_text().splitlines():
                parts = line.split()
                if len(parts) != 5:
                    continue
                cls = int(parts[0])
                cx, cy, w, h = map(float, parts[1:])
                boxes.append(Box(FACE_LABELS[cls], cx, cy, w, h))
        out.append(FacePhoto(img, tuple(boxes)))
    return out


def closeups(root: Path) -> list[tuple[Path, str]]:
    """(path, product class) for every lesion-types image, sorted."""
    out = []
    base = root / "lesion-types" / "train"
    for folder, label in sorted(CLOSEUP_LABELS.items()):
        for p in sorted((base / folder).glob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"):
                out.append((p, label))
    return out


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot decode {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
