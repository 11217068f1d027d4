"""Held-out accuracy of the shipped acne-type classifier, beside the 8-class classifier it replaced for typing.

    python -m models.evaluate_types

Sets never trained on: the close-ups' held-out near-duplicate groups (four types: comedone, papule, pustule,
nodule) and lesion-centred patches of the acne-lesions `valid` photos (comedone and papule boxes only: the
set has no pustule or nodule label). The old classifier is scored on its four acne-type outputs only.
Prints accuracy, per-type recall and the confusion matrix (rows truth, columns prediction, ACNE_TYPES order).
"""
from __future__ import annotations

import json

import numpy as np

from models.train_types import centred, closeup_type_patches, face_type_patches
from pipeline.types import ACNE_TYPES, CLASSES


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    m = np.zeros((len(ACNE_TYPES), len(ACNE_TYPES)), int)
    np.add.at(m, (truth, pred), 1)
    recall = {t: round(float(m[i, i] / m[i].sum()), 3) for i, t in enumerate(ACNE_TYPES) if m[i].sum()}
    return {"n": int(len(truth)), "accuracy": round(float(np.mean(pred == truth)), 3), "recall": recall,
            "confusion": m.tolist()}


def main() -> dict:
    from pipeline import classifier

    types_model, old = classifier.load_types(), classifier.load()
    acne_columns = [CLASSES.index(t) for t in ACNE_TYPES]
    _, (cu_x, cu_y) = closeup_type_patches()
    fv_x, fv_y = face_type_patches("valid")
    out = {}
    for name, (x, y) in {"closeup_val": (cu_x, cu_y), "face_valid": (fv_x, fv_y)}.items():
        patches = centred(x)
        out[name] = {"types_model": scores(types_model.predict(patches).argmax(1), y),
                     "old_classifier": scores(old.predict(patches)[:, acne_columns].argmax(1), y)}
        print(name, json.dumps(out[name]), flush=True)
    return out


if __name__ == "__main__":
    main()
