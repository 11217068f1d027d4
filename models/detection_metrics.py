"""Lesion-detection metrics, the field's way: one-to-one matching of predicted centres to expert marks.

A predicted centre matches an expert circle when it lies inside the circle grown by 4 px, or a box when it
lies inside the box; each mark is matched at most once, best-scoring predictions first.
"""
from __future__ import annotations

import numpy as np

CIRCLE_SLACK_PX = 4.0
THRESHOLDS = tuple(np.round(np.arange(0.1, 0.75, 0.025), 3))


def match_circles(pred: np.ndarray, scores: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Bool per prediction: matched to a not-yet-matched expert circle (radius + 4 px)."""
    reach = radii + CIRCLE_SLACK_PX
    return _greedy(pred, scores, lambda p: np.hypot(*(centres - p).T) <= reach,
                   lambda p: np.hypot(*(centres - p).T))


def match_boxes(pred: np.ndarray, scores: np.ndarray, boxes: np.ndarray, _unused=None) -> np.ndarray:
    """Bool per prediction: its centre lies inside a not-yet-matched box (x0, y0, x1, y1)."""
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    return _greedy(pred, scores,
                   lambda p: (boxes[:, 0] <= p[0]) & (p[0] <= boxes[:, 2]) & (boxes[:, 1] <= p[1]) & (p[1] <= boxes[:, 3]),
                   lambda p: np.hypot(*(centres - p).T))


def _greedy(pred, scores, inside, distance) -> np.ndarray:
    pred = np.asarray(pred, np.float64).reshape(-1, 2)
    hit = np.zeros(len(pred), bool)
    n_marks = None
    taken: np.ndarray | None = None
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        ok = inside(pred[i])
        if taken is None:
            n_marks = len(ok)
            taken = np.zeros(n_marks, bool)
        ok = ok & ~taken
        if ok.any():
            d = np.where(ok, distance(pred[i]), np.inf)
            taken[int(np.argmin(d))] = True
            hit[i] = True
    return hit


def prf(tp: int, n_pred: int, n_true: int) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "pred": n_pred,
            "true": n_true}


def at_threshold(per_photo, matcher, threshold: float) -> dict:
    """per_photo: (pred N x 2, scores N, marks, radii-or-None) -> P/R/F1 over all photos at this threshold."""
    tp = n_pred = n_true = 0
    for pred, scores, marks, extra in per_photo:
        keep = np.asarray(scores) >= threshold
        n_pred += int(keep.sum())
        n_true += len(marks)
        if keep.any() and len(marks):
            tp += int(matcher(np.asarray(pred)[keep], np.asarray(scores)[keep], marks, extra).sum())
    return prf(tp, n_pred, n_true)


def best_threshold(per_photo, matcher, thresholds=THRESHOLDS) -> dict:
    rows = [{"threshold": float(t), **at_threshold(per_photo, matcher, t)} for t in thresholds]
    return max(rows, key=lambda r: r["f1"])


def average_precision(per_photo, matcher) -> float:
    """Area under the interpolated precision-recall curve (VOC style, all points) of centre matches."""
    scores, hits = [], []
    n_true = 0
    for pred, sc, marks, extra in per_photo:
        n_true += len(marks)
        if len(sc) and len(marks):
            hits.append(matcher(np.asarray(pred), np.asarray(sc), marks, extra))
        elif len(sc):
            hits.append(np.zeros(len(sc), bool))
        if len(sc):
            scores.append(np.asarray(sc))
    if not scores or not n_true:
        return 0.0
    s, h = np.concatenate(scores), np.concatenate(hits)
    order = np.argsort(-s, kind="stable")
    tp = np.cumsum(h[order])
    precision = tp / np.arange(1, len(order) + 1)
    recall = tp / n_true
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    r_prev = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - r_prev) * precision))
