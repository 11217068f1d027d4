"""Detector checkpoint -> ONNX for the service, with the thresholds chosen on the tune photos.

    python -m models.detector.export var/runs/det-lite0/best.pt models/weights/lesion_detector.onnx
    python -m models.detector.export models/weights/lesion_detector.onnx OUT.onnx --thresholds 0.15 0.375 \
        --test-time-flip --version 2026.12.04.2     # an exported file's run-time settings, weights untouched

Thresholds: the acne one maximises the mean of the lesion F1 on the ACNE04 tune photos and on the boxed
selfies kept apart for tuning (one threshold must serve both: the service cannot tell a clinical photo from a
selfie); the non-acne one maximises F1 of the non-acne boxes on those selfies. Never the held-out sets.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from models import facepack, loop
from models.detector.data import decode_all
from models.detector.network import LesionDetector, STRIDE
from models.detector.train import THRESHOLDS, at_threshold, tune_curves
from models.export import replace_metadata

MODEL_NAME = "lite0-centernet-s2"
MODEL_VERSION = "2026.12.04"
KINDS = ("acne", "non_acne")
OPSET = 17


def load_checkpoint(path: Path) -> LesionDetector:
    return loop.load_checkpoint(path, lambda variant: LesionDetector(variant, pretrained=False))


def metadata(thresholds: tuple[float, float], variant: str) -> dict[str, str]:
    from pipeline.preprocess import CANON_FACE_HEIGHT

    return {"name": MODEL_NAME.replace("lite0", variant), "version": MODEL_VERSION, "kinds": ",".join(KINDS),
            "stride": str(STRIDE), "view": "raw",
            "thresholds": json.dumps([round(float(t), 3) for t in thresholds]),
            "canon_face_height": str(CANON_FACE_HEIGHT),
            "input": "N x 3 x H x W float32 RGB in [0, 1], plain (not enhanced) canonical face view, "
                     "H and W multiples of 32",
            "output": f"N x 4 x H/{STRIDE} x W/{STRIDE}: acne heat logit, non-acne heat logit, log width, "
                      "log height (canonical px)"}


def to_onnx(model: LesionDetector, path: Path, thresholds: tuple[float, float]) -> None:
    dummy = torch.rand(1, 3, 256, 224)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(model.eval(), (dummy,), str(raw), input_names=["input"], output_names=["maps"],
                          opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "maps": {0: "batch", 2: "rows", 3: "cols"}})
        proto = onnx.load(str(raw))
    onnx.checker.check_model(proto)
    replace_metadata(proto, metadata(thresholds, model.variant))
    proto.producer_name = "acnebot models.detector.export"
    proto.doc_string = "ImageNet-pretrained EfficientNet-Lite + FPN, CenterNet-style lesion-centre heatmaps"
    onnx.save(proto, str(path))


def max_abs_diff(model: LesionDetector, path: Path, x: np.ndarray) -> float:
    import onnxruntime as ort

    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    return float(np.abs(ref - got).max())


def tune_thresholds(model: LesionDetector, pack: Path) -> dict:
    """(acne, non-acne) thresholds and the tune F1s they give (module docstring)."""
    tune = facepack.load(pack, split="tune")
    curves = tune_curves(model, tune, decode_all(tune), torch.device("cpu"), bf16=False, non_acne=True)
    f1 = {key: np.array([at_threshold(rows, t)["f1"] for t in THRESHOLDS]) for key, rows in curves.items()}
    acne_i = int(np.argmax((f1["acne04"] + f1["selfies"]) / 2))
    non_i = int(np.argmax(f1["non_acne"]))
    return {"thresholds": (float(THRESHOLDS[acne_i]), float(THRESHOLDS[non_i])),
            "tune_f1": {"acne04": round(float(f1["acne04"][acne_i]), 4),
                        "selfies": round(float(f1["selfies"][acne_i]), 4),
                        "non_acne": round(float(f1["non_acne"][non_i]), 4)}}


def restamp(exported: Path, out: Path, thresholds: tuple[float, float], test_time_flip: bool,
            version: str) -> dict:
    """An exported detector with other run-time settings (chosen on the service's path on the tune photos:
    models.evaluate_detector --photos tune): thresholds, test-time flip, version. The weights are not touched."""
    proto = onnx.load(str(exported))
    meta = {p.key: p.value for p in proto.metadata_props}
    meta.update(version=version, thresholds=json.dumps([round(float(t), 3) for t in thresholds]))
    meta.pop("test_time_flip", None)
    if test_time_flip:
        meta["test_time_flip"] = "1"
    replace_metadata(proto, meta)
    onnx.save(proto, str(out))
    return meta


def main(argv: list[str] | None = None) -> None:
    from models.sources import REPO_ROOT

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="a training checkpoint, or an exported .onnx to restamp")
    ap.add_argument("out", type=Path)
    ap.add_argument("--pack", type=Path, default=REPO_ROOT / "var" / "pack")
    ap.add_argument("--thresholds", type=float, nargs=2, default=None, help="skip the tuning: acne non-acne")
    ap.add_argument("--test-time-flip", action="store_true", help="the service also runs the mirrored view")
    ap.add_argument("--version", default=MODEL_VERSION)
    args = ap.parse_args(argv)
    if args.checkpoint.suffix == ".onnx":
        if args.thresholds is None:
            ap.error("restamping an exported file needs --thresholds")
        print(json.dumps(restamp(args.checkpoint, args.out, tuple(args.thresholds), args.test_time_flip,
                                 args.version)), flush=True)
        return
    loop.single_threaded_opencv()
    model = load_checkpoint(args.checkpoint)
    report = {"thresholds": tuple(args.thresholds)} if args.thresholds else tune_thresholds(model, args.pack)
    to_onnx(model, args.out, report["thresholds"])
    x = np.random.default_rng(0).random((1, 3, 320, 288), dtype=np.float32)
    report.update(onnx=str(args.out), max_abs_diff=max_abs_diff(model, args.out, x))
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
