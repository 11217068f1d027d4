"""Lesion-model architecture, a tiny train -> export -> load run, and ONNX/PyTorch agreement."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from models.regnet import TEACHER, RegNet, complexity, student, student_spec  # noqa: E402
from pipeline.preprocess import PATCH_SIZE  # noqa: E402
from pipeline.types import CLASSES  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_teacher_matches_regnety_800mf():
    assert TEACHER.stages() == [(64, 1, 16), (128, 3, 16), (320, 8, 16), (768, 2, 16)]
    c = complexity(RegNet(TEACHER), 224)
    assert c["params_m"] == pytest.approx(5.50, abs=0.01)
    assert c["gmacs"] == pytest.approx(0.80, abs=0.01)


def test_student_sizes_and_cost():
    assert [d for _, d, _ in student_spec(8).stages()] == [1, 1, 4, 7]
    assert complexity(student(8), 224)["params_m"] == pytest.approx(2.31, abs=0.02)
    assert complexity(student(16), 224)["params_m"] == pytest.approx(2.59, abs=0.02)
    # Paper Table 3: teacher at 224 px (rows A-F) vs distilled student at 112 px (row H).
    t224 = complexity(RegNet(TEACHER), 224)["gmacs"]
    for g in (8, 16):
        assert t224 / complexity(student(g), 112)["gmacs"] >= 10


def test_forward_shapes():
    m = student(16).eval()
    x = torch.rand(3, 3, PATCH_SIZE, PATCH_SIZE)
    assert m(x).shape == (3, len(CLASSES))
    assert m.features(x).shape == (3, m.feature_dim)


def test_onnx_matches_torch(tmp_path):
    from models.export import max_abs_diff, session, to_onnx

    torch.manual_seed(0)
    m = student(16).eval()
    for mod in m.modules():  # non-trivial BatchNorm statistics, so folding is exercised
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
    path = tmp_path / "s.onnx"
    to_onnx(m, path)
    x = np.random.default_rng(0).random((5, 3, PATCH_SIZE, PATCH_SIZE), np.float32)
    assert max_abs_diff(m, path, x) < 1e-4
    meta = session(path).get_modelmeta().custom_metadata_map
    assert meta["classes"].split(",") == list(CLASSES)
    assert meta["input_size"] == str(PATCH_SIZE)
    assert session(path).run(None, {"input": x[:1]})[0].shape == (1, len(CLASSES))  # dynamic batch


def test_tiny_train_export_load(tmp_path, monkeypatch):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}; the end-to-end run needs it")
    monkeypatch.setenv("ACNEBOT_CACHE_DIR", str(tmp_path / "cache"))
    from models import evaluate, export, train

    run = tmp_path / "run"
    onnx_path = tmp_path / "student.onnx"
    common = ["--data", str(SHARED_DATA), "--limit-photos", "4", "--limit-closeups", "24"]
    summary = train.main(common + ["--run-dir", str(run), "--teacher-epochs", "1", "--student-epochs", "1",
                                   "--samples-per-epoch", "32", "--batch-size", "16", "--no-progress"])
    assert (run / "student.pt").exists() and (run / "summary.json").exists()
    assert summary["student"]["epoch"] == 1 and summary["teacher"]["epoch"] == 1
    # Resuming a finished run trains nothing more and gives the same student.
    again = train.main(common + ["--run-dir", str(run), "--teacher-epochs", "1", "--student-epochs", "1",
                                 "--samples-per-epoch", "32", "--batch-size", "16", "--no-progress", "--resume"])
    assert again["student"]["history"] == summary["student"]["history"]
    rep = export.export(run / "student.pt", onnx_path, data=str(SHARED_DATA), limit_photos=4, limit_closeups=24)
    assert rep["max_abs_diff_patches"] < 1e-4
    int8 = Path(rep["int8"])
    assert int8.exists()
    res = evaluate.main([str(onnx_path), str(int8)] + common)
    assert set(res["models"]) == {onnx_path.name, int8.name}
    assert res["models"][onnx_path.name]["all"]["n"] > 0


def test_close_up_parts_split_by_group_and_the_tune_part_comes_out_of_training():
    from models.patchset import PatchSet, closeup_parts

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 3)
    labels = np.repeat(rng.integers(0, 4, 200), 3)
    ps = PatchSet(np.zeros((600, 1, 1, 3), np.uint8), labels, np.full(600, -1, np.int8), groups)
    parts = {p: set(closeup_parts(ps, p).groups.tolist())
             for p in ("held_out", "train", "tune", "train_less_tune")}
    assert parts["held_out"] and parts["tune"] and not parts["held_out"] & parts["train"]
    assert parts["held_out"] | parts["train"] == set(range(200))
    assert parts["tune"] | parts["train_less_tune"] == parts["train"] and not parts["tune"] & parts["train_less_tune"]
    assert closeup_parts(ps, "held_out").groups.tolist() == closeup_parts(ps, "held_out").groups.tolist()
