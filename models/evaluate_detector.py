"""Held-out accuracy of the whole assessment, the field's way: lesions found vs lesions an expert marked.

    python -m models.evaluate_detector [--json models/weights/lesion_detector.eval.json] [--baseline]

Sets (never trained on, never tuned on): the held-out fifth of ACNE04 (by near-duplicate
groups: models.acne04_split) and the acne-lesions `valid` split. Every photo goes through the service's own
path (prepare -> detector -> lesion-centred types -> regions -> scores), so what is measured is what a
patient is told. Printed: precision, recall and F1 of acne lesion centres (inside an expert circle + 4 px, or
inside a box), AP of centres, AP50 (box IoU >= 0.5) where boxes exist, count MAE and Spearman, and on
ACNE04 the Hayashi level accuracy with its confusion matrix. `--baseline` adds the tile classifier the
detector replaced, side by side. `--photos tune` measures the ACNE04 tune photos and the selfie tune photos
(models.facepack.selfie_tune_photos) instead: settings are chosen there, never on the held-out sets.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from models import acne04_split, detset, facepack
from models.detection_metrics import (THRESHOLDS, at_threshold, average_precision, match_boxes, match_circles,
                                      prf)
from models.sources import data_dir, face_photos
from pipeline.types import ACNE_TYPES, NON_ACNE_TYPES

LEVELS = ("mild", "moderate", "severe", "very severe")
ANCHORS = {
    "YOLOv8n on acne-lesions valid (COCO-pretrained, 500 GPU epochs)": "mAP50 0.304, precision 0.36, recall 0.36",
    "LDL (Wu et al., ICCV 2019) on ACNE04": "grading accuracy 84.1 %",
    "published acne detector on ACNE04": "mAP 0.536",
}


@dataclasses.dataclass
class PhotoResult:
    name: str
    acne: np.ndarray  # product's acne lesions: N x 2 centres, photo px
    acne_scores: np.ndarray
    acne_boxes: np.ndarray  # N x 4 x0 y0 x1 y1
    non_acne: np.ndarray
    candidates: np.ndarray  # every acne peak in the regions down to a low threshold (for AP), N x 2
    candidate_scores: np.ndarray
    candidate_boxes: np.ndarray
    hayashi: str | None
    grade: str | None
    gags: str | None
    quality_ok: bool
    view: object | None = None  # the canonical view (None: the photo was refused, no face or several)
    closeup_offered: bool = False  # refused for no face, but the patient is asked which region it shows


def acne_peaks_in_regions(view, detector, thresholds: tuple[float, float]) -> list[tuple[object, str]]:
    """(detection, region) for every acne peak over the regions' skin at these (acne, non-acne) thresholds,
    below the shipped ones: what the service could count, for AP and for choosing its threshold."""
    from pipeline.lesions import detect_on_skin, region_of

    found = [(d, region_of(view, d.x, d.y)) for d in detect_on_skin(detector, view, thresholds) if d.kind == 0]
    return [(d, region) for d, region in found if region]


def run_photo(path: Path, detector, classifier, baseline: bool = False) -> PhotoResult:
    from pipeline.assess import assess, passes_as_closeup, prepare
    from pipeline.quality import QualityReport

    p = prepare(path.read_bytes())
    empty = np.zeros((0, 2))
    if p.view is None:
        return PhotoResult(path.name, empty, np.zeros(0), np.zeros((0, 4)), empty, empty, np.zeros(0),
                           np.zeros((0, 4)), None, None, None, False, closeup_offered=passes_as_closeup(p))
    quality_ok = p.quality.ok
    p = dataclasses.replace(p, quality=QualityReport(True))  # measure the lesions even where a retake is asked
    if baseline:
        from models.tile_baseline import baseline_lesions

        lesions = baseline_lesions(p.view, classifier)
        result = _assess_with_lesions(p, lesions, classifier, detector)
        cands, cand_scores, cand_boxes = empty, np.zeros(0), np.zeros((0, 4))
    else:
        acne_low = [d for d, _ in acne_peaks_in_regions(p.view, detector, (0.05, 0.05))]
        result = assess([p], model=classifier, detector=detector)
        lesions = result.lesions
        cands = np.array([p.view.to_photo(d.x, d.y) for d in acne_low]).reshape(-1, 2)
        cand_scores = np.array([d.score for d in acne_low])
        cand_boxes = np.array([(*p.view.to_photo(d.x - d.w / 2, d.y - d.h / 2), *p.view.to_photo(d.x + d.w / 2, d.y + d.h / 2))
                               for d in acne_low]).reshape(-1, 4)
    acne = [l for l in lesions if l.type in ACNE_TYPES]
    non_acne = [l for l in lesions if l.type in NON_ACNE_TYPES]
    scores = result.scores
    return PhotoResult(path.name, np.array([l.center for l in acne]).reshape(-1, 2),
                       np.array([l.confidence for l in acne]),
                       np.array([(l.x, l.y, l.x + l.w, l.y + l.h) for l in acne]).reshape(-1, 4),
                       np.array([l.center for l in non_acne]).reshape(-1, 2), cands, cand_scores, cand_boxes,
                       scores.hayashi.grade if scores and scores.hayashi else None,
                       scores.grade if scores else None, scores.gags.grade if scores else None, quality_ok,
                       p.view)


def _assess_with_lesions(p, lesions, classifier, detector):
    """The assessment's scoring on lesions found by the baseline tile classifier."""
    from pipeline.assess import Assessment, _choose_source_per_region, _inflammatory_on, _side_seen, region_results
    from pipeline.quality import QualityReport
    from pipeline.scoring import score_all

    regions = region_results([p], _choose_source_per_region([p]), lesions)
    left = _inflammatory_on(lesions, "left") if _side_seen(regions, "left") else None
    right = _inflammatory_on(lesions, "right") if _side_seen(regions, "right") else None
    return Assessment(QualityReport(True), [p], regions, lesions, score_all(list(regions.values()), left, right),
                      None, {})


def spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return 0.0
    ra, rb = _ranks(a), _ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for v in np.unique(x):  # ties share their mean rank
        ranks[x == v] = ranks[x == v].mean()
    return ranks


def match_iou50(pred_boxes, scores, gt, _unused=None) -> np.ndarray:
    """Bool per predicted box: box IoU >= 0.5 with a not-yet-matched true box (for AP50)."""
    hit = np.zeros(len(pred_boxes), bool)
    taken = np.zeros(len(gt), bool)
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        iou = _iou(pred_boxes[i], gt)
        iou[taken] = 0
        if len(iou) and iou.max() >= 0.5:
            taken[int(iou.argmax())] = True
            hit[i] = True
    return hit


def _iou(box, boxes) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def confusion(true_levels, predicted: list[str | None]) -> list[list[int]]:
    m = np.zeros((3, len(LEVELS) + 1), int)  # rows ACNE04 level 0-2; columns mild..very severe, none
    for t, p in zip(true_levels, predicted):
        m[t, LEVELS.index(p) if p in LEVELS else len(LEVELS)] += 1
    return m.tolist()


def level_accuracy(true_levels, predicted) -> float:
    return float(np.mean([p in LEVELS and LEVELS.index(p) == t for t, p in zip(true_levels, predicted)]))


def hayashi_band(count: int) -> str:
    from pipeline.scoring import HAYASHI_BANDS, _band

    return _band(count, HAYASHI_BANDS)


def evaluate_acne04(results: list[PhotoResult], items: dict[str, dict], with_ap: bool) -> dict:
    per_photo, cand, counts_true, counts_pred, levels = [], [], [], [], []
    for r in results:
        item = items[r.name]
        centres = np.array([(l["x"], l["y"]) for l in item["lesions"]]).reshape(-1, 2)
        radii = np.array([l["r"] for l in item["lesions"]])
        per_photo.append((r.acne, r.acne_scores, centres, radii))
        cand.append((r.candidates, r.candidate_scores, centres, radii))
        counts_true.append(len(centres))
        counts_pred.append(len(r.acne))
        levels.append(item["level"])
    tp = sum(int(match_circles(p, s, c, rad).sum()) for p, s, c, rad in per_photo if len(p) and len(c))
    where = coverage_misses(results, items)
    out = {"photos": len(results), "quality_retake": sum(not r.quality_ok for r in results),
           "no_face": sum(r.hayashi is None and r.grade is None for r in results),
           "refused": sum(r.view is None for r in results),
           "refused_offered_as_closeups": sum(r.closeup_offered for r in results),
           "region_coverage": where.pop("covered"), "region_coverage_misses": where,
           "non_acne_mislabels": non_acne_mislabels(results, items),
           **prf(tp, sum(counts_pred), sum(counts_true)),
           "count_mae": float(np.mean(np.abs(np.array(counts_pred) - np.array(counts_true)))),
           "count_spearman": spearman(counts_pred, counts_true),
           "mean_count_true": float(np.mean(counts_true)), "mean_count_pred": float(np.mean(counts_pred))}
    if with_ap:
        out["ap_centre"] = average_precision(cand, match_circles)
    hayashi = [r.hayashi for r in results]
    out["hayashi_level_accuracy"] = level_accuracy(levels, hayashi)
    out["hayashi_confusion"] = confusion(levels, hayashi)
    out["grade_eq1_confusion"] = _grade_confusion(levels, [r.grade for r in results])
    out["gags_confusion"] = _grade_confusion(levels, [r.gags for r in results])
    oracle = [hayashi_band(n) for n in counts_true]
    out["expert_count_hayashi_band_accuracy"] = level_accuracy(levels, oracle)
    out["expert_count_hayashi_band_confusion"] = confusion(levels, oracle)
    return out


def _circles(item: dict) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([(l["x"], l["y"]) for l in item["lesions"]], float).reshape(-1, 2),
            np.array([l["r"] for l in item["lesions"]], float))


def acne_threshold_curve(a04: list[PhotoResult], selfies: list[PhotoResult], items: dict[str, dict],
                         truth: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Acne lesion F1 at each threshold on the service's path (the acne peaks in the assessed regions), on the
    ACNE04 and the selfie photos, and the threshold with the best mean of the two: one threshold must serve both,
    since the service cannot tell a clinical photo from a selfie."""
    a_pp = [(r.candidates, r.candidate_scores, *_circles(items[r.name])) for r in a04]
    s_pp = [(r.candidates, r.candidate_scores, truth[r.name][0], None) for r in selfies]
    rows = []
    for t in THRESHOLDS:
        a, s = at_threshold(a_pp, match_circles, t)["f1"], at_threshold(s_pp, match_boxes, t)["f1"]
        rows.append({"threshold": float(t), "acne04_f1": a, "selfies_f1": s, "mean_f1": round((a + s) / 2, 4)})
    return {"best": max(rows, key=lambda row: row["mean_f1"]), "curve": rows}


def coverage_misses(results: list[PhotoResult], items: dict[str, dict]) -> dict[str, float]:
    """Shares of all expert circles: covered (centre in an assessed region's mask), and where the others lie:
    on a refused photo, in a region not assessed (a turned-away cheek), on the eyes, brows, lips or nostrils
    (kept out of every region, each grown a little), below the chin, or elsewhere outside the regions' skin
    (ears, hair, the side of a turned face, skin the colour test left out)."""
    from pipeline.regions import facial_features

    where: dict[str, int] = dict.fromkeys(("covered", "refused", "not_assessed", "eyes", "brows", "lips",
                                          "nostrils", "below_chin", "elsewhere"), 0)
    for r in results:
        centres, _ = _circles(items[r.name])
        if r.view is None:
            where["refused"] += len(centres)
            continue
        shape = next(iter(r.view.masks.values())).shape
        empty = np.zeros(shape, bool)
        assessed = np.logical_or.reduce([empty, *(m for g, m in r.view.masks.items() if r.view.assessed.get(g))])
        any_region = np.logical_or.reduce([empty, *r.view.masks.values()])
        face = r.view.landmarks
        features = facial_features(shape, face) if face is not None else {}
        for x, y in centres:
            cx, cy = r.view.to_canonical(x, y)
            ix, iy = int(cx), int(cy)
            inside = 0 <= iy < shape[0] and 0 <= ix < shape[1]
            if inside and assessed[iy, ix]:
                where["covered"] += 1
            elif inside and any_region[iy, ix]:
                where["not_assessed"] += 1
            elif inside and (hit := next((f for f, m in features.items() if m[iy, ix]), None)):
                where[hit] += 1
            elif face is not None and _below_chin(face, cx, cy):
                where["below_chin"] += 1
            else:
                where["elsewhere"] += 1
    total = max(1, sum(where.values()))
    return {k: round(n / total, 4) for k, n in where.items()}


def _below_chin(face, x: float, y: float) -> bool:
    """Past the chin (landmark 152) along the face's own axis from landmark 10."""
    top, chin = face.points[10].astype(float), face.points[152].astype(float)
    down = chin - top
    return float(np.dot(np.array([x, y]) - top, down) / np.dot(down, down)) > 1.0


def non_acne_mislabels(results: list[PhotoResult], items: dict[str, dict]) -> float:
    """Share of expert (acne) circles whose nearest finding within reach (radius + 4 px) is a non-acne mark."""
    from models.detection_metrics import CIRCLE_SLACK_PX

    wrong = total = 0
    for r in results:
        centres, radii = _circles(items[r.name])
        total += len(centres)
        found = np.concatenate([r.acne, r.non_acne]).reshape(-1, 2)
        is_non = np.r_[np.zeros(len(r.acne), bool), np.ones(len(r.non_acne), bool)]
        if not len(found):
            continue
        for (x, y), rad in zip(centres, radii):
            d = np.hypot(found[:, 0] - x, found[:, 1] - y)
            i = int(np.argmin(d))
            wrong += bool(d[i] <= rad + CIRCLE_SLACK_PX and is_non[i])
    return round(wrong / max(1, total), 4)


GRADES = ("clear", "mild", "moderate", "severe", "very severe")
SET_KEYS = {"held_out": ("acne04_held_out", "lesions_valid"), "tune": ("acne04_tune", "selfies_tune")}
SET_NAMES = {"held_out": ("ACNE04 held-out", "acne-lesions valid"), "tune": ("ACNE04 tune", "selfie tune photos")}


def _grade_confusion(levels, grades) -> list[list[int]]:
    m = np.zeros((3, len(GRADES) + 1), int)
    for t, g in zip(levels, grades):
        m[t, GRADES.index(g) if g in GRADES else len(GRADES)] += 1
    return m.tolist()


def evaluate_boxes(results: list[PhotoResult], truth: dict[str, tuple[np.ndarray, np.ndarray]], with_ap: bool) -> dict:
    acne_pp, non_pp, cand_pp, box_pp, counts_true, counts_pred = [], [], [], [], [], []
    for r in results:
        acne_boxes, non_boxes = truth[r.name]
        acne_pp.append((r.acne, r.acne_scores, acne_boxes, None))
        non_pp.append((r.non_acne, np.ones(len(r.non_acne)), non_boxes, None))
        cand_pp.append((r.candidates, r.candidate_scores, acne_boxes, None))
        box_pp.append((r.candidate_boxes, r.candidate_scores, acne_boxes, None))
        counts_true.append(len(acne_boxes))
        counts_pred.append(len(r.acne))
    def tp_of(pp):
        return sum(int(match_boxes(p, s, b).sum()) for p, s, b, _ in pp if len(p) and len(b))
    out = {"photos": len(results), "quality_retake": sum(not r.quality_ok for r in results),
           "acne": prf(tp_of(acne_pp), sum(len(x[0]) for x in acne_pp), sum(counts_true)),
           "non_acne": prf(tp_of(non_pp), sum(len(x[0]) for x in non_pp), sum(len(x[2]) for x in non_pp)),
           "count_mae": float(np.mean(np.abs(np.array(counts_pred) - np.array(counts_true)))),
           "count_spearman": spearman(counts_pred, counts_true)}
    if with_ap:
        out["ap_centre"] = average_precision(cand_pp, match_boxes)
        out["ap50_box"] = average_precision(box_pp, match_iou50)
    return out


def _lesions_truth(photos) -> tuple[list[Path], dict]:
    from models.detset import KIND_OF_LABEL, NON_ACNE, _image_size

    paths, truth = [], {}
    for photo in photos:
        h, w = _image_size(photo.path)
        acne, non = [], []
        for b in photo.boxes:
            box = ((b.cx - b.w / 2) * w, (b.cy - b.h / 2) * h, (b.cx + b.w / 2) * w, (b.cy + b.h / 2) * h)
            (non if KIND_OF_LABEL[b.label] == NON_ACNE else acne).append(box)
        paths.append(photo.path)
        truth[photo.path.name] = (np.array(acne).reshape(-1, 4), np.array(non).reshape(-1, 4))
    return paths, truth


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--detector", default=None, help="ONNX file (default: the shipped one)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--baseline", action="store_true", help="also evaluate the tile classifier it replaced")
    ap.add_argument("--baseline-only", action="store_true", help="evaluate only the tile classifier it replaced")
    ap.add_argument("--limit", type=int, default=None, help="photos per set, for a quick look")
    ap.add_argument("--test-time-flip", action="store_true",
                    help="run the detector on the view and its mirror image, averaged (whatever its metadata says)")
    ap.add_argument("--photos", choices=("held_out", "tune"), default="held_out",
                    help="tune: the ACNE04 tune photos and the selfie tune photos instead (to choose settings on)")
    args = ap.parse_args(argv)
    from pipeline import classifier as classifier_module
    from pipeline import detector as detector_module

    root = data_dir(args.data)
    classifier = classifier_module.load()
    detector = detector_module.load(args.detector)
    detector.flip = detector.flip or args.test_time_flip
    items = {Path(i["file"]).name: i for i in acne04_split.items(root)}
    held = [root / "acne04" / f for f in detset.acne04_split(root)[args.photos]][: args.limit]
    selfies = face_photos(root, "valid") if args.photos == "held_out" else facepack.selfie_tune_photos(root)
    valid_paths, truth = _lesions_truth(selfies)
    valid_paths = valid_paths[: args.limit]
    out: dict = {"detector": {"name": detector.name, "version": detector.version, "thresholds": detector.thresholds,
                              "test_time_flip": detector.flip},
                 "anchors": ANCHORS, "methods": {}}
    methods = ([] if args.baseline_only else [("detector", False)]) + \
        ([("tile_baseline", True)] if args.baseline or args.baseline_only else [])
    for method, baseline in methods:
        a04 = [run_photo(p, detector, classifier, baseline) for p in held]
        les = [run_photo(p, detector, classifier, baseline) for p in valid_paths]
        acne04_key, selfies_key = SET_KEYS[args.photos]
        out["methods"][method] = {acne04_key: evaluate_acne04(a04, items, not baseline),
                                  selfies_key: evaluate_boxes(les, truth, not baseline)}
        if args.photos == "tune" and not baseline:
            out["methods"][method]["acne_threshold"] = acne_threshold_curve(a04, les, items, truth)
            print(f"acne threshold with the best mean F1 here: {out['methods'][method]['acne_threshold']['best']}")
        print(format_report(method, out["methods"][method], args.photos), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2, default=float))
    return out


def format_report(method: str, res: dict, photos: str = "held_out") -> str:
    a, l = (res[key] for key in SET_KEYS[photos])
    acne04_name, selfies_name = SET_NAMES[photos]
    lines = [f"== {method} ==",
             f"{acne04_name} ({a['photos']} photos, {a['refused']} refused ({a.get('refused_offered_as_closeups', 0)} "
             f"offered as close-ups), {a['true']} expert lesions, region "
             f"coverage {a['region_coverage']:.3f}, non-acne mislabels {a['non_acne_mislabels']:.3f})",
             "  expert circles outside the assessed regions: " + ", ".join(
                 f"{k.replace('_', ' ')} {v:.3f}" for k, v in a["region_coverage_misses"].items()),
             f"  precision {a['precision']:.3f} "
             f"recall {a['recall']:.3f} F1 {a['f1']:.3f}" + (f" AP(centre) {a['ap_centre']:.3f}" if "ap_centre" in a else ""),
             f"  counts: MAE {a['count_mae']:.1f} (mean expert {a['mean_count_true']:.1f}, ours "
             f"{a['mean_count_pred']:.1f}), Spearman {a['count_spearman']:.3f}",
             f"  Hayashi level accuracy {a['hayashi_level_accuracy']:.3f}; rows ACNE04 level 0-2, columns "
             f"{'/'.join(LEVELS)}/none: {a['hayashi_confusion']}",
             f"  expert marks' own count through the Hayashi bands: accuracy "
             f"{a['expert_count_hayashi_band_accuracy']:.3f} {a['expert_count_hayashi_band_confusion']}",
             f"  eq. 1 grade vs level (columns {'/'.join(GRADES)}/none): {a['grade_eq1_confusion']}",
             f"  face-only GAGS vs level: {a['gags_confusion']}",
             f"{selfies_name} ({l['photos']} photos): acne P {l['acne']['precision']:.3f} R {l['acne']['recall']:.3f} "
             f"F1 {l['acne']['f1']:.3f}" + (f" AP(centre) {l['ap_centre']:.3f} AP50(box) {l['ap50_box']:.3f}"
                                             if "ap50_box" in l else ""),
             f"  non-acne P {l['non_acne']['precision']:.3f} R {l['non_acne']['recall']:.3f} F1 {l['non_acne']['f1']:.3f}; "
             f"acne count MAE {l['count_mae']:.1f}, Spearman {l['count_spearman']:.3f}"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
