"""Held-out evaluation of the shipped ONNX models (or a torch checkpoint): per-class P/R/F1, confusion matrices.

    python -m models.evaluate                       # fp32 + int8 student in models/weights/
    python -m models.evaluate --json var/eval.json  # also write every figure as JSON

Held-out sets: the face photos' `valid` split (patches centred on its boxes + normal skin tiles, fixed seeds)
and the close-up near-duplicate groups held out of training. Patch extraction is the cached, deterministic
one in models.patchset, so a clean clone reproduces the model card's figures.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models import splits
from models.metrics import format_report, report
from models.sources import REPO_ROOT, data_dir

WEIGHTS = REPO_ROOT / "models" / "weights"
DEFAULT_MODELS = (WEIGHTS / "acne_regnet_student.onnx", WEIGHTS / "acne_regnet_student.int8.onnx")


def onnx_logits(path: Path, x_uint8: np.ndarray, batch: int = 256) -> np.ndarray:
    from models.export import session

    s = session(path)
    out = []
    for i in range(0, len(x_uint8), batch):
        xb = np.ascontiguousarray(x_uint8[i:i + batch].transpose(0, 3, 1, 2), np.float32) / 255.0
        out.append(s.run(None, {"input": xb})[0])
    return np.concatenate(out)


def torch_logits(path: Path, x_uint8: np.ndarray) -> np.ndarray:
    import torch

    from models.train import load_model, predict

    return predict(load_model(path), x_uint8, torch.device("cpu"))


def evaluate(model_path: Path, held: dict) -> dict:
    logits_fn = torch_logits if model_path.suffix == ".pt" else onnx_logits
    res, ys, ps = {}, [], []
    for name, ps_set in held.items():
        if not len(ps_set):
            continue
        pred = logits_fn(model_path, splits.held_out_inputs(ps_set)).argmax(1)
        res[name] = report(ps_set.labels, pred)
        ys.append(ps_set.labels)
        ps.append(pred)
    res["all"] = report(np.concatenate(ys), np.concatenate(ps))
    res["predictions_sha"] = _digest(np.concatenate(ps))
    return res


def _digest(a: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(a.astype(np.int64).tobytes()).hexdigest()[:12]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", type=Path, help="ONNX files or torch .pt checkpoints")
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--limit-photos", type=int, default=None)
    ap.add_argument("--limit-closeups", type=int, default=None)
    args = ap.parse_args(argv)
    models = args.models or [p for p in DEFAULT_MODELS if p.exists()]
    _, held = splits.load(data_dir(args.data), splits.Limits(args.limit_photos, args.limit_closeups))
    out = {"held_out_sizes": {k: len(v) for k, v in held.items()}, "models": {}}
    for m in models:
        res = evaluate(m, held)
        out["models"][m.name] = res
        for name in ("face_valid", "closeup_val", "all"):
            if name in res:
                print(format_report(f"{m.name} / {name}", res[name]))
                print()
    names = list(out["models"])
    if len(names) == 2:
        a, b = (out["models"][n]["all"] for n in names)
        print(f"{names[1]} vs {names[0]}: accuracy {b['accuracy'] - a['accuracy']:+.4f}, "
              f"acne macro-F1 {b['acne_macro_f1'] - a['acne_macro_f1']:+.4f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
