"""Sharpness of real face photos, sharp and Gaussian-blurred, to place quality.MIN_SHARPNESS.

Run: .venv/bin/python bench/calibrate_blur.py [N]   (reads ../shared/data/acne-lesions/valid)
"""
import sys
from pathlib import Path

import cv2
import numpy as np

from pipeline.patches import face_view
from pipeline.quality import MIN_SHARPNESS, check_skin
from pipeline.faces import detect_faces

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/acne-lesions/valid/images"


def sharpness(rgb):
    faces = detect_faces(rgb)
    if not faces:
        return None
    view = face_view(rgb, faces[0])
    skin = np.logical_or.reduce([m for m in view.masks.values()])
    return check_skin(view.raw, skin, view.factor).sharpness


def main(n: int) -> None:
    rows = {"sharp": [], "blur sigma 1.5": [], "blur sigma 3": []}
    for path in sorted(DATA.glob("*.jpg"))[:n]:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for name, sigma in (("sharp", 0), ("blur sigma 1.5", 1.5), ("blur sigma 3", 3)):
            img = rgb if sigma == 0 else cv2.GaussianBlur(rgb, (0, 0), sigma * max(rgb.shape[:2]) / 512)
            s = sharpness(img)
            if s is not None:
                rows[name].append(s)
    for name, values in rows.items():
        v = np.array(values)
        print(f"{name:16s} n={len(v):3d} p10={np.percentile(v, 10):8.1f} median={np.median(v):8.1f} "
              f"below threshold {MIN_SHARPNESS}: {(v < MIN_SHARPNESS).mean():.0%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
