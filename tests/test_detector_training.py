"""Detector training on real ACNE04 photos, small: crops carry their expert marks, the backbone starts from
the shipped classifier exactly, a tiny run resumes from its checkpoint, and its ONNX export loads in the
service's detector with the same output as PyTorch."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models import detset  # noqa: E402
from models.detector import STRIDE, LesionDetector, load_classifier_weights  # noqa: E402
from models.train_detector import CLASSIFIER_ONNX, CropSampler  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402

ACNE04 = SHARED_DATA / "acne04"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[detset.DetPhoto]:
    """Two ACNE04 photos through the service's canonical view, with their marks moved along."""
    if not (ACNE04 / "train.json").is_file():
        pytest.skip(f"ACNE04 photos not found at {ACNE04}")
    out_dir = tmp_path_factory.mktemp("det")
    items = [i for i in json.loads((ACNE04 / "train.json").read_text()) if len(i["lesions"]) >= 20][:2]
    rows = [detset._prepare_one(("acne04", ACNE04 / i["file"],
                                 [(l["x"], l["y"], 2 * l["r"], 2 * l["r"], detset.ACNE) for l in i["lesions"]],
                                 i["level"], str(out_dir))) for i in items]
    index = out_dir / "index.json"
    index.write_text(json.dumps(rows))
    return [detset.DetPhoto(r["name"], r["source"], Path(r["image"]), np.array(r["points"], np.float32),
                            np.array(r["sizes"], np.float32), np.array(r["kinds"]), r["factor"], tuple(r["offset"]),
                            tuple(r["shape"]), r["level"], r["face"]) for r in rows]


def test_marks_follow_the_photo_into_the_canonical_view(photos):
    for p in photos:
        assert p.face and len(p.points) >= 15
        h, w = p.shape
        assert ((p.points >= 0) & (p.points < [w, h])).all()
        assert p.pixels().shape == (h, w, 3)


def test_a_crop_has_one_heatmap_peak_per_mark_inside_it(photos):
    sampler = CropSampler(photos, 128, np.random.default_rng(3))
    peaks = 0
    for _ in range(8):
        pixels, heat, size, size_mask, label_mask = sampler.sample()
        assert pixels.shape == (128, 128, 3) and heat.shape == (2, 128 // STRIDE, 128 // STRIDE)
        assert (heat[0] == 1.0).sum() == size_mask.sum()  # each centre carries its size target
        assert heat[1].max() == 0 and label_mask[1].item() == 0  # ACNE04 has no non-acne labels
        peaks += int((heat[0] == 1.0).sum())
    assert peaks > 0


def test_backbone_starts_from_the_shipped_classifier():
    """With the classifier's own head on top, the loaded backbone gives the shipped ONNX classifier's logits."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from models.regnet import student

    detector = LesionDetector()
    assert load_classifier_weights(detector, CLASSIFIER_ONNX) == 44
    net = student()
    net.stem, net.body = detector.stem, torch.nn.Sequential(*[b for s in detector.stages for b in s])
    net.eval()
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(CLASSIFIER_ONNX)).graph.initializer}
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    with torch.no_grad():
        net.head_att.conv.weight.copy_(torch.from_numpy(weights["head_att.conv.weight"]))
        net.fc.weight.copy_(torch.from_numpy(weights["fc.weight"]))
        net.fc.bias.copy_(torch.from_numpy(weights["fc.bias"]))
        logits = net(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(CLASSIFIER_ONNX), providers=["CPUExecutionProvider"])
    assert np.abs(logits - session.run(None, {session.get_inputs()[0].name: x})[0]).max() < 1e-4


def test_tiny_run_resumes_and_exports_a_model_the_service_loads(photos, tmp_path, monkeypatch):
    from models import train_detector
    from models.export_detector import export
    from pipeline.detector import LesionDetector as ServiceDetector

    monkeypatch.setattr(detset, "load", lambda split, *a, **k: photos)
    run = tmp_path / "run"
    args = ["--run-dir", str(run), "--batch-size", "2", "--crop", "64", "--checkpoint-every", "1", "--threads", "1"]
    first = train_detector.main(args + ["--steps", "1"])
    assert first["steps"] == 1 and (run / "last.pt").is_file()
    second = train_detector.main(args + ["--steps", "2"])
    history = json.loads((run / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2] and second["best"] is not None

    model = LesionDetector()
    model.load_state_dict(torch.load(run / "best.pt"))
    report = export(model, tmp_path / "det.onnx", thresholds=(0.3, 0.4))
    assert report["max_abs_diff"] < 1e-3
    service = ServiceDetector(tmp_path / "det.onnx")
    assert service.thresholds == (0.3, 0.4)
    out, valid = service.raw(np.asarray(photos[0].pixels())[:200, :150])
    assert out.shape == (4, 224 // STRIDE, 160 // STRIDE) and valid == (200, 150)
