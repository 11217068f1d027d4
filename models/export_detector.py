"""Detector checkpoint -> ONNX (dynamic batch and size, BatchNorm folded, metadata the service checks).

    python -m models.export_detector var/runs/detector/best.pt models/weights/lesion_detector.onnx

The heatmap thresholds stored in the metadata are the ones that maximise F1 on the ACNE04 tune photos
(acne) and on a fixed sample of acne-lesions training photos (non-acne marks): never the held-out sets.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from models import detset
from models.detector import LesionDetector
from pipeline.detector import KINDS, STRIDE
from pipeline.preprocess import CANON_FACE_HEIGHT

MODEL_NAME = "acne-regnet-centernet"
MODEL_VERSION = "2026.11.28"
OPSET = 17


def metadata(thresholds: tuple[float, float]) -> dict[str, str]:
    return {"name": MODEL_NAME, "version": MODEL_VERSION, "kinds": ",".join(KINDS), "stride": str(STRIDE),
            "thresholds": json.dumps([round(float(t), 3) for t in thresholds]),
            "canon_face_height": str(CANON_FACE_HEIGHT),
            "input": "N x 3 x H x W float32 RGB in [0, 1], enhanced canonical face view, H and W multiples of 32",
            "output": "N x 4 x H/4 x W/4: acne heat logit, non-acne heat logit, log width, log height (canonical px)"}


def to_onnx(model: torch.nn.Module, path: Path, thresholds: tuple[float, float]) -> None:
    model = model.eval().cpu()
    dummy = torch.rand(1, 3, 256, 224)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(model, (dummy,), str(raw), input_names=["input"], output_names=["maps"],
                          opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"},
                                        "maps": {0: "batch", 2: "rows", 3: "cols"}})
        proto = onnx.load(str(raw))
    onnx.checker.check_model(proto)
    del proto.metadata_props[:]
    for k, v in metadata(thresholds).items():
        proto.metadata_props.add(key=k, value=v)
    proto.producer_name = "acnebot models.export_detector"
    proto.doc_string = "Acne-RegNet backbone, CenterNet-style lesion-centre heatmaps"
    onnx.save(proto, str(path))


def max_abs_diff(model: torch.nn.Module, path: Path, x: np.ndarray) -> float:
    import onnxruntime as ort

    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    return float(np.abs(ref - got).max())


def export(model: LesionDetector, out: Path, summary: dict | None = None,
           thresholds: tuple[float, float] | None = None) -> dict:
    if thresholds is None:
        acne = (summary or {}).get("best", {}).get("threshold", 0.3)
        thresholds = (acne, non_acne_threshold(model))
    to_onnx(model, out, thresholds)
    x = np.random.default_rng(0).random((1, 3, 320, 288), dtype=np.float32)
    report = {"onnx": str(out), "thresholds": thresholds, "max_abs_diff": max_abs_diff(model, out, x)}
    print(json.dumps(report), flush=True)
    return report


def non_acne_threshold(model: LesionDetector, photos: int = 120) -> float:
    """F1-best non-acne threshold on a fixed sample of acne-lesions *training* photos (valid stays held out)."""
    from models.detection_metrics import best_threshold, match_boxes
    from pipeline.detector import decode, pad_to_stride

    sample = [p for p in detset.load("lesions_train")][::max(1, 2752 // photos)][:photos]
    per_photo = []
    model.eval()
    with torch.no_grad():
        for p in sample:
            x, valid = pad_to_stride(np.asarray(p.pixels()))
            dets = [d for d in decode(model(torch.from_numpy(x)).numpy()[0], 0.05, valid) if d.kind == 1]
            marks = p.points[p.kinds == 1]
            half = p.sizes[p.kinds == 1] / 2
            per_photo.append((np.array([[d.x, d.y] for d in dets]).reshape(-1, 2), np.array([d.score for d in dets]),
                              np.hstack([marks - half, marks + half]).reshape(-1, 4), None))
    return best_threshold(per_photo, match_boxes)["threshold"]


class _Calibration:
    def __init__(self, inputs: list[np.ndarray]):
        self.batches = iter([{"input": x} for x in inputs])

    def get_next(self):
        return next(self.batches, None)


def calibration_inputs(n: int = 24, size: int = 320) -> list[np.ndarray]:
    """Face crops from training photos of both sources (fixed picks), as the service feeds the detector."""
    from pipeline.detector import pad_to_stride

    photos = detset.load("acne04_train")[::37][: n // 2] + detset.load("lesions_train")[::211][: n // 2]
    out = []
    for p in photos:
        pixels = np.asarray(p.pixels())
        h, w = pixels.shape[:2]
        y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
        out.append(pad_to_stride(np.ascontiguousarray(pixels[y:y + size, x:x + size]))[0])
    return out


def quantize_int8(fp32: Path, out: Path) -> None:
    """Static int8, QDQ, per-channel weights, activations calibrated on training face crops."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prep.onnx"
        quant_pre_process(str(fp32), str(prepared))
        quantize_static(str(prepared), str(out), _Calibration(calibration_inputs()), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    source = onnx.load(str(fp32))
    proto = onnx.load(str(out))
    del proto.metadata_props[:]
    for prop in source.metadata_props:
        proto.metadata_props.add(key=prop.key, value=prop.value)
    proto.metadata_props.add(key="quantization", value="int8 static QDQ per-channel")
    onnx.save(proto, str(out))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--summary", type=Path, default=None, help="training summary.json (acne threshold)")
    ap.add_argument("--int8", type=Path, default=None, help="also write a static int8 variant here")
    args = ap.parse_args(argv)
    model = LesionDetector()
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    summary_file = args.summary or args.checkpoint.parent / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else None
    if summary is None and (args.checkpoint.parent / "history.json").exists():
        history = json.loads((args.checkpoint.parent / "history.json").read_text())
        summary = {"best": max(history, key=lambda h: h["f1"])}
    export(model, args.out, summary)
    if args.int8:
        quantize_int8(args.out, args.int8)


if __name__ == "__main__":
    main()
