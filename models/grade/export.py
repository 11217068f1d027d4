"""Grade checkpoint -> ONNX for the service (pipeline/grade.py reads the metadata).

    python -m models.grade.export var/runs/grade-lite0/best.pt models/weights/image_grade.onnx [--severe-threshold T]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch

from models import loop
from models.export import replace_metadata
from models.grade.network import INPUT, GradeNet
from pipeline.types import IMAGE_LEVELS

MODEL_NAME = "lite0-image-grade"
MODEL_VERSION = "2026.12.04.2"
OPSET = 17


def load_checkpoint(path: Path) -> GradeNet:
    return loop.load_checkpoint(path, lambda variant: GradeNet(variant, pretrained=False))


def to_onnx(model: GradeNet, path: Path, severe_threshold: float | None = None) -> float:
    """Writes the ONNX file (with the severe threshold cross-validation chose, if given); returns the largest
    difference from PyTorch on a random input."""
    x = torch.rand(1, 3, INPUT, INPUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(model.eval(), (x,), str(raw), input_names=["input"], output_names=["grade"],
                          opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "grade": {0: "batch"}})
        proto = onnx.load(str(raw))
    onnx.checker.check_model(proto)
    meta = {"name": MODEL_NAME, "version": MODEL_VERSION, "levels": ",".join(IMAGE_LEVELS), "input_size": str(INPUT),
            "input": f"N x 3 x {INPUT} x {INPUT} float32 RGB in [0, 1]: the face's landmark box squared with a margin",
            "output": "N x 4: mild, moderate, severe logits; log(1 + acne lesion count)"}
    if severe_threshold is not None:
        meta["severe_threshold"] = str(severe_threshold)
    replace_metadata(proto, meta)
    proto.producer_name = "acnebot models.grade.export"
    onnx.save(proto, str(path))
    import onnxruntime as ort

    with torch.no_grad():
        ref = model(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    return float(np.abs(ref - got).max())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--severe-threshold", type=float, default=None,
                    help="P(severe) from which the grade says severe (crossval.json 'severe'); default: likeliest")
    args = ap.parse_args(argv)
    if args.severe_threshold is not None and not 0 <= args.severe_threshold <= 1:
        raise SystemExit("--severe-threshold must lie in [0, 1]")
    diff = to_onnx(load_checkpoint(args.checkpoint), args.out, args.severe_threshold)
    print(json.dumps({"onnx": str(args.out), "max_abs_diff": diff}))


if __name__ == "__main__":
    main()
