"""Choose how the assessment counts, on the ACNE04 tune photos only (never the held-out fifth).

    python -m models.calibrate_grading [--write]

CLINICAL.md fixes the scales and their bands (eq. 1, Hayashi, GAGS); what the pipeline may choose is how it
counts. Two choices, in order, both on the tune photos through the service's own path (detector over the
regions' skin, peaks outside the regions dropped, positions in photo pixels):

1. the acne heatmap threshold: the one with the best lesion F1 against the expert circles (+ 4 px). Training
   picks its checkpoint by F1 over the whole canonical view; the service only ever counts inside the regions,
   so the threshold is chosen where it is used. `--write` stores it in the shipped detector's metadata.
2. the share of papule + pustule probability at which a lesion counts as inflammatory
   (pipeline.lesions.INFLAMMATORY_MIN_SHARE), which is what Hayashi counts: the share with the best Hayashi
   level accuracy at that threshold. Printed with each share's confusion matrix; set in pipeline/lesions.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np

from models import acne04_split, detset
from models.detection_metrics import THRESHOLDS, at_threshold, match_circles
from models.evaluate_detector import LEVELS, acne_peaks_in_regions, confusion, level_accuracy
from models.sources import data_dir

SHARES = tuple(np.round(np.arange(0.3, 0.96, 0.05), 2))


@dataclasses.dataclass
class Findings:
    scores: np.ndarray  # per acne peak in the regions (down to a low threshold)
    centres: np.ndarray  # N x 2 photo px
    sides: list[str | None]
    probs: np.ndarray  # N x 4 acne-type probabilities
    seen: list[str]  # cheeks the photo shows


def photo_findings(path, detector, types_model) -> Findings | None:
    from pipeline.assess import prepare
    from pipeline.lesions import _side, lesion_patches

    p = prepare(path.read_bytes())
    if p.view is None:
        return None
    view = p.view
    found = acne_peaks_in_regions(view, detector, (0.05, 1.0))
    dets, regions = [d for d, _ in found], [r for _, r in found]
    return Findings(np.array([d.score for d in dets]),
                    np.array([view.to_photo(d.x, d.y) for d in dets]).reshape(-1, 2),
                    [_side(view, r, d.x, d.y) for d, r in zip(dets, regions)],
                    types_model.predict(lesion_patches(view, dets)),
                    [s for s in ("left", "right") if view.assessed.get(f"{s}_cheek")])


def hayashi_at(f: Findings | None, threshold: float, share: float) -> str | None:
    from pipeline.lesions import acne_type
    from pipeline.scoring import hayashi

    if f is None:
        return None
    inflamed = {s: 0 for s in f.seen}
    for score, side, row in zip(f.scores, f.sides, f.probs):
        if score >= threshold and side in inflamed and acne_type(row, share) in ("papule", "pustule"):
            inflamed[side] += 1
    result = hayashi(inflamed.get("left"), inflamed.get("right"))
    return result.grade if result else None


def choose_threshold(findings: list[Findings | None], marks: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    per_photo = [(f.centres if f else np.zeros((0, 2)), f.scores if f else np.zeros(0), c, r)
                 for f, (c, r) in zip(findings, marks)]
    rows = [{"threshold": float(t), **at_threshold(per_photo, match_circles, float(t))} for t in THRESHOLDS]
    for row in rows:
        print(f"threshold {row['threshold']:.3f}: precision {row['precision']:.3f} recall {row['recall']:.3f} "
              f"F1 {row['f1']:.3f}")
    return max(rows, key=lambda r: r["f1"])


def write_threshold(path, acne: float) -> None:
    """Replaces the acne threshold in the detector's ONNX metadata (the non-acne one stays)."""
    import onnx

    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == "thresholds":
            prop.value = json.dumps([round(acne, 3), json.loads(prop.value)[1]])
    onnx.save(proto, str(path))


def main(argv: list[str] | None = None) -> dict:
    from pipeline import classifier, detector as detector_module

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--write", action="store_true", help="store the chosen acne threshold in the shipped detector")
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    items = {i["file"]: i for i in acne04_split.items(root)}
    tune = detset.acne04_split(root)["tune"]
    det, types_model = detector_module.load(), classifier.load_types()
    findings = [photo_findings(root / "acne04" / f, det, types_model) for f in tune]
    marks = [(np.array([(l["x"], l["y"]) for l in items[f]["lesions"]]).reshape(-1, 2),
              np.array([l["r"] for l in items[f]["lesions"]])) for f in tune]
    best_t = choose_threshold(findings, marks)
    print("threshold", json.dumps(best_t))
    levels = [items[f]["level"] for f in tune]
    rows = []
    for share in SHARES:
        graded = [hayashi_at(f, best_t["threshold"], float(share)) for f in findings]
        rows.append({"share": float(share), "accuracy": level_accuracy(levels, graded),
                     "confusion": confusion(levels, graded)})
        print(f"share {share:.2f}: Hayashi level accuracy {rows[-1]['accuracy']:.3f}  "
              f"rows level 0-2, columns {'/'.join(LEVELS)}/none {rows[-1]['confusion']}")
    best = max(rows, key=lambda r: (r["accuracy"], -abs(r["share"] - 0.5)))
    print("share", json.dumps(best))
    if args.write:
        for shipped in (detector_module.DEFAULT_DETECTOR, detector_module.FLOAT_DETECTOR):  # int8 and its source
            write_threshold(shipped, best_t["threshold"])
            print(f"wrote acne threshold {best_t['threshold']} into {shipped}")
    return {"threshold": best_t, "share": best}


if __name__ == "__main__":
    main()
