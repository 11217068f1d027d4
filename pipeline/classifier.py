"""The shipped Acne-RegNet classifiers in onnxruntime: uint8 patches in, class probabilities out.

acne_regnet_student.onnx: the 8-class patch classifier (normal, acne types, spot/scar/mole): names the
non-acne marks. lesion_types.onnx: the same network fine-tuned on lesion-centred patches to name the acne type
of a detected lesion (comedone, papule, pustule, nodule).
"""
from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pipeline.preprocess import PATCH_SIZE, to_model_input
from pipeline.types import ACNE_TYPES, CLASSES

WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights"
DEFAULT_MODEL = WEIGHTS / "acne_regnet_student.onnx"
# The int8 type classifier: half the float one's time per lesion, the slowest step on a face with many lesions
# (model card), where the CPU has int8 dot products. The float file is what it was quantized from
# (models/quantize_types.py).
INT8_TYPES_MODEL = WEIGHTS / "lesion_types.int8.onnx"
FLOAT_TYPES_MODEL = WEIGHTS / "lesion_types.onnx"
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
BATCH = 64


class ModelError(RuntimeError):
    """The lesion model cannot be used; the message says which file and why."""


def open_session(path: Path, what: str, env: str, threads: int | None = None,
                 error: type[ModelError] = ModelError) -> tuple[ort.InferenceSession, dict[str, str]]:
    """An onnxruntime CPU session and the model's metadata; `error` says which file and why it cannot be used."""
    if not path.is_file():
        raise error(f"{what} not found at {path}; set {env} or reinstall acnebot")
    _share_one_arena()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or int(os.environ.get("ACNEBOT_MODEL_THREADS", "0"))
    options.log_severity_level = 3
    # Memory, not time (bench/bench_rss.py, 10 assessments of 12 MP photos at one thread; bench_against_tree.py
    # 0.98-1.02x): the detector's input size changes with every face, and a memory pattern planned for each size
    # held 92 MB more at the peak than tensors freed as soon as they are used; the four sessions drawing on one
    # arena that grows by what is asked (not by powers of two) held 55 MB less again.
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.use_env_allocators", "1")
    # An assessment runs four sessions one after another. A session's idle threads otherwise spin for a while
    # after each run and take the cores from the next session's (bench/bench_pipeline.py, 2 threads: the image
    # grade 38 -> 18 ms, the 512 px assessment 0.23-0.24 -> 0.20 s; no change at one thread).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several private exception types
        raise error(f"{what} at {path} is corrupt or not an ONNX model: {type(exc).__name__}") from exc
    return session, session.get_modelmeta().custom_metadata_map


_arena_lock = threading.Lock()
_arena_shared = False


def _share_one_arena() -> None:
    """Registers, once per process, the CPU arena every session of this process allocates from."""
    global _arena_shared
    with _arena_lock:
        if _arena_shared:
            return
        same_as_requested = 1  # onnxruntime's ArenaExtendStrategy::kSameAsRequested
        config = ort.OrtArenaCfg({"arena_extend_strategy": same_as_requested})
        memory = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(memory, config)
        _arena_shared = True


class LesionClassifier:
    def __init__(self, path: Path | str, threads: int | None = None, classes: tuple[str, ...] = CLASSES,
                 env: str = "ACNEBOT_MODEL_PATH"):
        path = Path(path)
        self.classes = classes
        self._session, meta = open_session(path, "lesion model", env, threads)
        classes = tuple(meta.get("classes", "").split(","))
        if classes != self.classes:
            raise ModelError(f"lesion model at {path} predicts {classes}, expected {self.classes}")
        if int(meta.get("input_size", "0")) != PATCH_SIZE:
            raise ModelError(f"lesion model at {path} takes {meta.get('input_size')} px input, expected {PATCH_SIZE}")
        self.name = meta.get("name", path.stem)
        self.version = meta.get("version", "unknown")
        # A type classifier trained on whole close-ups as well takes a declared close-up's whole picture at this
        # size (it accepts any input size); the others take it shrunk to a patch, as they learnt close-ups.
        self.whole_closeup_size = int(meta.get("whole_closeup_size", PATCH_SIZE))
        self._input = self._session.get_inputs()[0].name

    def predict(self, patches: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 -> N x len(self.classes) probabilities."""
        if len(patches) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
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


def int8_dot_products(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this x86 CPU has int8 dot-product instructions (VNNI or AMX). On an AVX2-only host the int8 type file
    named the lesions of severe faces as the float file does only 0.86 of the time (0.98 with VNNI or AMX: model
    card). Where the flags cannot be read (not Linux, not x86), assumed so."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return True
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), None)
    return flags is None or bool(INT8_DOT_PRODUCT_FLAGS & set(flags))


def default_types_model() -> Path:
    return INT8_TYPES_MODEL if int8_dot_products() else FLOAT_TYPES_MODEL


@lru_cache(maxsize=4)
def load_types(path: str | None = None) -> LesionClassifier:
    """The process-wide acne-type classifier for detected lesions."""
    return LesionClassifier(path or os.environ.get("ACNEBOT_TYPES_MODEL_PATH") or default_types_model(),
                            classes=ACNE_TYPES, env="ACNEBOT_TYPES_MODEL_PATH")
