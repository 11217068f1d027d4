"""Confusion matrix, per-class precision/recall/F1 and the acne macro-F1, plus a plain-text table."""
from __future__ import annotations

import numpy as np

from pipeline.types import ACNE_TYPES, CLASSES


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(CLASSES)) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    return np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)


def report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    cm = confusion(np.asarray(y_true), np.asarray(y_pred))
    tp = np.diag(cm).astype(float)
    support = cm.sum(1)
    predicted = cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    per_class = {c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                     "support": int(support[i])} for i, c in enumerate(CLASSES)}
    present = [c for c in ACNE_TYPES if per_class[c]["support"] > 0]
    return {
        "n": int(cm.sum()),
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "acne_macro_f1": float(np.mean([per_class[c]["f1"] for c in present])) if present else float("nan"),
        "acne_classes_present": present,
        "per_class": per_class,
        "confusion": cm.tolist(),
    }


def format_report(name: str, rep: dict) -> str:
    lines = [f"== {name}: n={rep['n']}  accuracy={rep['accuracy']:.3f}  "
             f"acne macro-F1={rep['acne_macro_f1']:.3f} (over {', '.join(rep['acne_classes_present'])})",
             f"{'class':<10}{'prec':>7}{'recall':>8}{'F1':>7}{'support':>9}"]
    for c, m in rep["per_class"].items():
        if m["support"] or m["precision"]:
            lines.append(f"{c:<10}{m['precision']:>7.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>9}")
    lines.append("confusion (rows true, cols predicted): " + " ".join(c[:4] for c in CLASSES))
    for c, row in zip(CLASSES, rep["confusion"]):
        lines.append(f"  {c:<9}" + " ".join(f"{v:>4}" for v in row))
    return "\n".join(lines)
