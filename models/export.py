"""Student checkpoint -> ONNX (dynamic batch, BatchNorm folded, metadata the service checks) + int8 QDQ variant.

    python -m models.export var/runs/acne-regnet/student.pt models/weights/acne_regnet_student.onnx
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from pipeline.preprocess import CANON_FACE_HEIGHT, PATCH_SIZE
from pipeline.types import CLASSES

MODEL_NAME = "acne-regnet"
MODEL_VERSION = "2026.11.23"
OPSET = 17
CALIBRATION_PATCHES = 512


def metadata() -> dict[str, str]:
    return {"name": MODEL_NAME, "version": MODEL_VERSION, "classes": ",".join(CLASSES),
            "input_size": str(PATCH_SIZE), "canon_face_height": str(CANON_FACE_HEIGHT),
            "input": "N x 3 x S x S float32 RGB in [0, 1], enhanced canonical patch (pipeline.preprocess)",
            "output": "N x C logits in the order of 'classes'"}


def replace_metadata(proto: onnx.ModelProto, meta: dict[str, str]) -> None:
    """The file's metadata (what the service reads and checks) becomes exactly `meta`."""
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)


def _set_metadata(model: onnx.ModelProto) -> None:
    replace_metadata(model, metadata())
    model.producer_name = "acnebot models.export"
    model.doc_string = "Acne-RegNet student lesion-patch classifier"


def to_onnx(model: torch.nn.Module, path: Path) -> None:
    model = model.eval().cpu()
    dummy = torch.rand(2, 3, PATCH_SIZE, PATCH_SIZE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        torch.onnx.export(model, (dummy,), str(raw), input_names=["input"], output_names=["logits"],
                          opset_version=OPSET, dynamo=False,
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        proto = onnx.load(str(raw))
    onnx.checker.check_model(proto)
    _set_metadata(proto)
    onnx.save(proto, str(path))


def session(path: Path, threads: int | None = None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def max_abs_diff(model: torch.nn.Module, path: Path, x: np.ndarray) -> float:
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    got = session(path).run(None, {"input": x})[0]
    return float(np.abs(ref - got).max())


class _Feeds:
    """onnxruntime's calibration reader over input dicts."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]):
        self._feeds = iter(feeds)

    def get_next(self):
        return next(self._feeds, None)


def quantize_qdq(fp32: Path, out: Path, feeds: Iterable[dict[str, np.ndarray]],
                 keep_float: tuple[str, ...] = ()) -> None:
    """Static int8, QDQ format, per-channel int8 weights, uint8 activations calibrated (min-max) on `feeds`; the
    nodes whose names start with a `keep_float` prefix stay in float. The metadata is the caller's to set."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prep.onnx"
        quant_pre_process(str(fp32), str(prepared))
        keep = [n.name for n in onnx.load(str(prepared)).graph.node if keep_float and n.name.startswith(keep_float)]
        quantize_static(str(prepared), str(out), _Feeds(feeds), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=keep)


def quantized_copy(fp32: Path, out: Path, feeds: Iterable[dict[str, np.ndarray]], keep_float: tuple[str, ...],
                   calibration: str) -> dict[str, str]:
    """`quantize_qdq` with the float file's metadata carried over (what the service checks), its version marked
    ".int8" and a `quantization` entry saying how; returns that metadata."""
    quantize_qdq(fp32, out, feeds, keep_float)
    meta = {p.key: p.value for p in onnx.load(str(fp32)).metadata_props if not p.key.startswith("onnx.")}
    meta.update(version=meta.get("version", "unknown") + ".int8", quantization=(
        f"int8 static QDQ, per-channel weights, min-max over {calibration}"
        + (f"; float: {', '.join(keep_float)}" if keep_float else "")))
    proto = onnx.load(str(out))
    replace_metadata(proto, meta)
    onnx.save(proto, str(out))
    return meta


def quantize_int8(fp32: Path, out: Path, calibration: np.ndarray, batch: int = 32) -> None:
    """The student in int8, activations calibrated on training patches."""
    quantize_qdq(fp32, out, ({"input": calibration[i:i + batch]} for i in range(0, len(calibration), batch)))
    proto = onnx.load(str(out))
    _set_metadata(proto)
    proto.metadata_props.add(key="quantization", value="int8 static QDQ per-channel")
    onnx.save(proto, str(out))


def calibration_patches(n: int = CALIBRATION_PATCHES, seed: int = 0, data: str | None = None,
                        limit_photos: int | None = None, limit_closeups: int | None = None) -> np.ndarray:
    """Deterministic sample of centred training patches (face photos' train split and training close-ups)."""
    from models import splits
    from models.sources import data_dir

    pool, _ = splits.load(data_dir(data), splits.Limits(limit_photos, limit_closeups))
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pool), min(n, len(pool)), replace=False, p=splits.sample_weights(pool))
    from models.patchset import centre

    faces = [i for i in idx if i < len(pool.faces)]
    close = [i - len(pool.faces) for i in idx if i >= len(pool.faces)]
    imgs = np.concatenate([centre(pool.faces.images[faces]), centre(pool.closeups.images[close])])
    return np.ascontiguousarray(imgs.transpose(0, 3, 1, 2), np.float32) / 255.0


def export(checkpoint: Path, out: Path, int8: bool = True, data: str | None = None,
           limit_photos: int | None = None, limit_closeups: int | None = None) -> dict:
    from models.regnet import load_model

    model = load_model(checkpoint)
    to_onnx(model, out)
    calib = calibration_patches(data=data, limit_photos=limit_photos, limit_closeups=limit_closeups)
    rng = np.random.default_rng(1)
    report = {"onnx": str(out), "opset": OPSET,
              "max_abs_diff_random": max_abs_diff(model, out, rng.random((16, 3, PATCH_SIZE, PATCH_SIZE), np.float32)),
              "max_abs_diff_patches": max_abs_diff(model, out, calib[:64])}
    if int8:
        q = out.with_name(out.name.replace(".onnx", ".int8.onnx"))
        quantize_int8(out, q, calib)
        a = session(out).run(None, {"input": calib})[0]
        b = session(q).run(None, {"input": calib})[0]
        report.update(int8=str(q), int8_top1_agreement_calibration=float((a.argmax(1) == b.argmax(1)).mean()))
    print(json.dumps(report, indent=2))
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    export(args.checkpoint, args.out, not args.no_int8, args.data)


if __name__ == "__main__":
    main()
