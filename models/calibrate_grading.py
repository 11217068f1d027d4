"""Choose where the grade falls, on the ACNE04 tune photos only (never the held-out fifth).

    python -m models.calibrate_grading

CLINICAL.md fixes the scales and their bands (eq. 1, Hayashi, GAGS); what the pipeline may choose is how it
counts: the acne heatmap threshold (chosen for lesion F1 during training, stored in the detector's metadata)
and the share of papule + pustule probability at which a lesion counts as inflammatory
(pipeline.lesions.INFLAMMATORY_MIN_SHARE), which is what Hayashi counts. This prints, for each share, the
Hayashi level accuracy and confusion matrix on the tune photos, and the share that does best.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from models import detset
from models.evaluate_detector import LEVELS, confusion, level_accuracy
from models.sources import data_dir

SHARES = tuple(np.round(np.arange(0.3, 0.96, 0.05), 2))


def photo_findings(path, detector, types_model):
    """Per acne lesion in the regions at the shipped threshold: (side, type probabilities); and seen sides."""
    from pipeline.assess import prepare
    from pipeline.lesions import _side, detect_on_skin, lesion_patches, region_of
    from pipeline.quality import QualityReport

    p = prepare(path.read_bytes())
    if p.view is None:
        return None
    p = dataclasses.replace(p, quality=QualityReport(True))
    view = p.view
    dets = [d for d in detect_on_skin(detector, view) if d.kind == 0]
    regions = [region_of(view, d.x, d.y) for d in dets]
    dets, regions = [d for d, r in zip(dets, regions) if r], [r for r in regions if r]
    probs = types_model.predict(lesion_patches(view, dets))
    sides = [_side(view, r, d.x, d.y) for d, r in zip(dets, regions)]
    seen = [s for s in ("left", "right") if view.assessed.get(f"{s}_cheek")]
    return sides, probs, seen


def hayashi_at(findings, share: float) -> str | None:
    from pipeline.lesions import acne_type
    from pipeline.scoring import hayashi

    if findings is None:
        return None
    sides, probs, seen = findings
    inflamed = {s: 0 for s in seen}
    for side, row in zip(sides, probs):
        if side in inflamed and acne_type(row, share) in ("papule", "pustule"):
            inflamed[side] += 1
    result = hayashi(inflamed.get("left"), inflamed.get("right"))
    return result.grade if result else None


def main(argv: list[str] | None = None) -> dict:
    from pipeline import classifier, detector as detector_module

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    items = {i["file"]: i for i in detset._acne04_items(root)}
    tune = detset.acne04_split(root)["tune"]
    det, types_model = detector_module.load(), classifier.load_types()
    findings = [photo_findings(root / "acne04" / f, det, types_model) for f in tune]
    levels = [items[f]["level"] for f in tune]
    rows = []
    for share in SHARES:
        graded = [hayashi_at(f, float(share)) for f in findings]
        rows.append({"share": float(share), "accuracy": level_accuracy(levels, graded),
                     "confusion": confusion(levels, graded)})
        print(f"share {share:.2f}: Hayashi level accuracy {rows[-1]['accuracy']:.3f}  "
              f"rows level 0-2, columns {'/'.join(LEVELS)}/none {rows[-1]['confusion']}")
    best = max(rows, key=lambda r: (r["accuracy"], -abs(r["share"] - 0.5)))
    print("best", json.dumps(best))
    return best


if __name__ == "__main__":
    main()
