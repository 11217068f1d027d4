"""Lesion detection accuracy of the whole pipeline on the face photos' held-out `valid` split.

A predicted lesion is correct when its centre lies inside a ground-truth box (the issue's criterion).
Ground truth is restricted to boxes whose centre falls inside a region the pipeline assessed: boxes on the
neck, ears or hair line are outside what the product grades. Prints a table; --json writes the figures.

    .venv/bin/python bench/detection_accuracy.py [--split valid] [--limit N] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.assess import assess, prepare
from pipeline.intake import IntakeError

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "acne-lesions"
# data.yaml: 0 acne, 1 mole1, 2 mole2, 3 pimple, 4 scar, 5 spot -> product classes (data README mapping)
LABEL_TO_CLASS = {0: "comedone", 1: "mole", 2: "mole", 3: "papule", 4: "scar", 5: "spot"}
ACNE = {"comedone", "papule", "pustule", "nodule"}


def ground_truth(label_file: Path, width: int, height: int) -> list[tuple[str, float, float, float, float]]:
    boxes = []
    for line in label_file.read_text().splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        c, cx, cy, w, h = int(parts[0]), *map(float, parts[1:])
        boxes.append((LABEL_TO_CLASS[c], (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height))
    return boxes


def _inside(x, y, box) -> bool:
    _, bx, by, bw, bh = box
    return bx <= x <= bx + bw and by <= y <= by + bh


def _in_assessed_region(view, box) -> bool:
    _, bx, by, bw, bh = box
    cx, cy = view.to_canonical(bx + bw / 2, by + bh / 2)
    ix, iy = int(cx), int(cy)
    h, w = view.pixels.shape[:2]
    if not (0 <= ix < w and 0 <= iy < h):
        return False
    return any(view.masks[r][iy, ix] and view.assessed.get(r) for r in view.masks)


def evaluate(split: str = "valid", limit: int | None = None, stride: int = 1) -> dict:
    folder = DATA / split
    images = sorted((folder / "images").glob("*.jpg"))[::stride][:limit]
    tally = Counter()
    per_class = {c: Counter() for c in sorted(set(LABEL_TO_CLASS.values()) | ACNE)}
    count_errors, unusable = [], Counter()
    for path in images:
        try:
            prepared = prepare(path.read_bytes())
        except IntakeError as exc:
            unusable[exc.code] += 1
            continue
        if not prepared.quality.ok or prepared.rotated:
            unusable[prepared.quality.reasons[0].code if prepared.quality.reasons else "rotated"] += 1
            continue
        result = assess([prepared])
        truth = [b for b in ground_truth(folder / "labels" / f"{path.stem}.txt", prepared.photo.width,
                                         prepared.photo.height) if _in_assessed_region(prepared.view, b)]
        preds = result.lesions
        tally["photos"] += 1
        # class-agnostic acne detection
        acne_truth = [b for b in truth if b[0] in ACNE]
        acne_preds = [l for l in preds if l.type in ACNE]
        tally["acne_pred"] += len(acne_preds)
        tally["acne_pred_hit"] += sum(any(_inside(*l.center, b) for b in acne_truth) for l in acne_preds)
        tally["acne_true"] += len(acne_truth)
        tally["acne_true_found"] += sum(any(_inside(*l.center, b) for l in acne_preds) for b in acne_truth)
        count_errors.append(len(acne_preds) - len(acne_truth))
        for cls, counter in per_class.items():
            t = [b for b in truth if b[0] == cls]
            p = [l for l in preds if l.type == cls]
            counter["pred"] += len(p)
            counter["pred_hit"] += sum(any(_inside(*l.center, b) for b in t) for l in p)
            counter["true"] += len(t)
            counter["true_found"] += sum(any(_inside(*l.center, b) for l in p) for b in t)
    errors = np.array(count_errors or [0])
    return {
        "photos_assessed": tally["photos"],
        "photos_refused": dict(unusable),
        "acne": _prf(tally["acne_pred_hit"], tally["acne_pred"], tally["acne_true_found"], tally["acne_true"]),
        "per_class": {c: _prf(v["pred_hit"], v["pred"], v["true_found"], v["true"]) for c, v in per_class.items()},
        "acne_count_error_per_photo": {"mean_absolute": float(np.abs(errors).mean()),
                                       "mean_signed": float(errors.mean()),
                                       "median_absolute": float(np.median(np.abs(errors)))},
    }


def _prf(hit: int, pred: int, found: int, true: int) -> dict:
    p = hit / pred if pred else 0.0
    r = found / true if true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "predicted": pred, "true": true}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="valid", choices=("train", "valid"),
                        help="valid reports held-out figures; train is for tuning thresholds")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--stride", type=int, default=1, help="every Nth photo (a spread-out subset)")
    parser.add_argument("--min-confidence", type=float, help="override every class's threshold (tuning)")
    parser.add_argument("--json")
    args = parser.parse_args()
    if not (DATA / args.split).is_dir():
        sys.exit(f"shared data not found at {DATA / args.split}")
    if args.min_confidence is not None:
        from pipeline import lesions

        lesions.MIN_CONFIDENCE.update({k: args.min_confidence for k in lesions.MIN_CONFIDENCE})
    figures = evaluate(args.split, args.limit, args.stride)
    print(f"photos assessed {figures['photos_assessed']}, refused {figures['photos_refused']}")
    print(f"{'class':10s} {'precision':>9s} {'recall':>7s} {'F1':>6s} {'pred':>6s} {'true':>6s}")
    for name, row in [("acne (any)", figures["acne"]), *figures["per_class"].items()]:
        print(f"{name:10s} {row['precision']:9.3f} {row['recall']:7.3f} {row['f1']:6.3f} "
              f"{row['predicted']:6d} {row['true']:6d}")
    print("acne count error per photo:", figures["acne_count_error_per_photo"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
