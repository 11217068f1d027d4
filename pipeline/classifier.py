"""The shipped Acne-RegNet student in onnxruntime: uint8 patches in, class probabilities out."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipeline.preprocess import PATCH_SIZE, to_model_input
from pipeline.types import CLASSES

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "models" / "weights" / "acne_regnet_student.onnx"
BATCH = 64


class ModelError(RuntimeError):
    """The lesion model cannot be used; the message says which file and why."""


class LesionClassifier:
    def __init__(self, path: Path | str, threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"lesion model not found at {path}; set ACNEBOT_MODEL_PATH or reinstall acnebot")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("ACNEBOT_MODEL_THREADS", "0"))
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several private exception types
            raise ModelError(f"lesion model at {path} is corrupt or not an ONNX model: {type(exc).__name__}") from exc
        meta = self._session.get_modelmeta().custom_metadata_map
        classes = tuple(meta.get("classes", "").split(","))
        if classes != CLASSES:
            raise ModelError(f"lesion model at {path} predicts {classes}, expected {CLASSES}")
        if int(meta.get("input_size", "0")) != PATCH_SIZE:
            raise ModelError(f"lesion model at {path} takes {meta.get('input_size')} px input, expected {PATCH_SIZE}")
        self.name = meta.get("name", path.stem)
        self.version = meta.get("version", "unknown")
        self._input = self._session.get_inputs()[0].name

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 -> N x len(CLASSES) probabilities."""
        if len(patches) == 0:
            return np.zeros((0, len(CLASSES)), np.float32)
        out = []
        for start in range(0, len(patches), BATCH):
            logits = self._session.run(None, {self._input: to_model_input(patches[start:start + BATCH])})[0]
            out.append(_softmax(logits))
        return np.concatenate(out)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@lru_cache(maxsize=4)
def load(path: str | None = None) -> LesionClassifier:
    """The process-wide classifier (onnxruntime sessions are thread-safe for run())."""
    return LesionClassifier(path or os.environ.get("ACNEBOT_MODEL_PATH") or DEFAULT_MODEL)
