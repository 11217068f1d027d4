"""The shipped lesion detector and type classifier: they load, refuse foreign files, the int8 files the service
runs agree with the float ones they were quantized from, and on real clinical photos lesions are found where the
experts marked them."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.classifier import (FLOAT_TYPES_MODEL, INT8_TYPES_MODEL, LesionClassifier, ModelError,
                                 default_types_model, int8_dot_products, load_types)
from pipeline.detector import DEFAULT_DETECTOR, DetectorError, LesionDetector, load
from pipeline.preprocess import PATCH_SIZE
from pipeline.types import ACNE_TYPES
from tests.conftest import SHARED_DATA

ACNE04 = SHARED_DATA / "acne04"


def test_shipped_detector_loads_with_its_thresholds():
    detector = load()
    assert DEFAULT_DETECTOR.is_file()
    assert detector.name and detector.version != "unknown"
    assert len(detector.thresholds) == 2 and all(0 < t < 1 for t in detector.thresholds)


def _same_settings(int8: Path, float32: Path) -> None:
    import onnx

    metadata = [{p.key: p.value for p in onnx.load(str(f)).metadata_props} for f in (int8, float32)]
    assert metadata[0].pop("version") == metadata[1].pop("version") + ".int8"
    assert metadata[0].pop("quantization").startswith("int8 static QDQ")
    assert metadata[0] == metadata[1]


def test_the_shipped_int8_detector_sees_what_its_float_source_sees():
    """The service runs the int8 file; the float one it was quantized from stays beside it. On a clinical face
    their heatmaps agree within 0.06 (the acne threshold is 0.175), and they share their settings."""
    from pipeline.assess import prepare
    from pipeline.detector import FLOAT_DETECTOR
    from pipeline.lesions import skin_box_pixels

    _same_settings(DEFAULT_DETECTOR, FLOAT_DETECTOR)
    int8, float32 = LesionDetector(DEFAULT_DETECTOR), LesionDetector(FLOAT_DETECTOR)
    assert (int8.thresholds, int8.stride, int8.view) == (float32.thresholds, float32.stride, float32.view)
    assert int8.version == float32.version + ".int8"
    item = _acne04(level=1, count=1)[0]
    pixels, _ = skin_box_pixels(prepare((ACNE04 / item["file"]).read_bytes()).view)
    heats = [1 / (1 + np.exp(-d.raw(pixels)[0][:2])) for d in (int8, float32)]
    assert heats[0].shape == heats[1].shape and float(np.abs(heats[0] - heats[1]).max()) < 0.06


def test_the_int8_type_classifier_is_used_only_where_the_cpu_has_int8_dot_products(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu sse2 avx2\n")
    assert not int8_dot_products(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert int8_dot_products(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n")  # ARM: no x86 flags line
    assert int8_dot_products(cpuinfo) and int8_dot_products(tmp_path / "missing")
    assert default_types_model() == (INT8_TYPES_MODEL if int8_dot_products() else FLOAT_TYPES_MODEL)


def test_the_shipped_int8_type_classifier_names_the_types_its_float_source_names():
    """On the lesions the service finds on severe held-out faces, the two files name the same type (the rule the
    service names them by) for nearly every lesion; quantizing changed 2 % on training faces. Only where the service
    runs the int8 file: without int8 dot products the two agree on 0.86 and the float file is used."""
    if not int8_dot_products():
        pytest.skip("this CPU has no int8 dot products: the service runs the float type file here")
    from pipeline.assess import prepare
    from pipeline.lesions import acne_type, detect_on_skin, lesion_patches

    _same_settings(INT8_TYPES_MODEL, FLOAT_TYPES_MODEL)
    patches = []
    for item in _acne04(level=2, count=3):
        view = prepare((ACNE04 / item["file"]).read_bytes()).view
        acne = [d for d in detect_on_skin(load(), view) if d.kind == 0]
        patches.append(lesion_patches(view, acne, view.type_window))
    patches = np.concatenate(patches)
    named = [[acne_type(p) for p in LesionClassifier(f, classes=ACNE_TYPES).predict(patches)]
             for f in (INT8_TYPES_MODEL, FLOAT_TYPES_MODEL)]
    assert len(patches) >= 30 and np.mean([a == b for a, b in zip(*named)]) >= 0.9


def test_detector_takes_any_size_and_finds_nothing_on_plain_skin():
    skin = np.full((300, 250, 3), (205, 160, 140), np.uint8)
    assert load().detect(skin) == []


def test_missing_or_foreign_detector_files_are_clear_errors(tmp_path):
    with pytest.raises(DetectorError, match="not found"):
        LesionDetector(tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="corrupt"):
        LesionDetector(broken)
    classifier_file = tmp_path / "classifier.onnx"
    shutil.copy(DEFAULT_DETECTOR.parent / "acne_regnet_student.onnx", classifier_file)
    with pytest.raises(DetectorError, match="heatmap"):
        LesionDetector(classifier_file)


def test_type_classifier_names_the_four_acne_types():
    types = load_types()
    assert INT8_TYPES_MODEL.is_file() and types.classes == ACNE_TYPES
    probs = types.predict(np.random.default_rng(0).integers(0, 255, (5, PATCH_SIZE, PATCH_SIZE, 3), np.uint8))
    assert probs.shape == (5, 4) and np.allclose(probs.sum(1), 1, atol=1e-4)
    with pytest.raises(ModelError, match="predicts"):
        LesionClassifier(DEFAULT_DETECTOR.parent / "acne_regnet_student.onnx", classes=ACNE_TYPES)


def _acne04(level: int, count: int) -> list[dict]:
    """The most-marked held-out ACNE04 photos of this level (never trained or tuned on)."""
    from models.detset import acne04_split

    if not (ACNE04 / "train.json").is_file():
        pytest.skip(f"ACNE04 photos not found at {ACNE04}")
    held = set(acne04_split(SHARED_DATA)["held_out"])
    items = [i for i in json.loads((ACNE04 / "train.json").read_text()) if i["level"] == level and i["file"] in held]
    return sorted(items, key=lambda i: -len(i["lesions"]))[:count]


def test_on_severe_clinical_photos_findings_are_many_and_sit_on_expert_marks():
    """The product's own path (prepare -> assess) on the three most-marked severe held-out ACNE04 photos.

    Measured with the shipped detector: 156 acne findings, 33 of them on an expert circle (0.21); the tile
    classifier it replaced found 5.5 lesions a photo with precision 0.08. The bounds sit a little below."""
    from models.detection_metrics import match_circles
    from pipeline.assess import assess, prepare

    found = hits = marked = 0
    for item in _acne04(level=2, count=3):
        p = prepare((ACNE04 / item["file"]).read_bytes())
        assert p.view is not None
        result = assess([p]) if p.quality.ok else None
        lesions = result.lesions if result else []
        acne = [l for l in lesions if l.type in ACNE_TYPES]
        centres = np.array([(l["x"], l["y"]) for l in item["lesions"]])
        radii = np.array([l["r"] for l in item["lesions"]])
        pred = np.array([l.center for l in acne]).reshape(-1, 2)
        found += len(acne)
        marked += len(centres)
        if len(acne):
            hits += int(match_circles(pred, np.array([l.confidence for l in acne]), centres, radii).sum())
    assert found >= 0.3 * marked, (found, marked)
    assert hits >= 0.15 * found, (hits, found)


def test_with_the_mirrored_view_averaged_a_mirrored_photo_gets_the_mirrored_marks():
    """test_time_flip: the detector sees the view and its mirror image. Then its marks do not depend on which way
    the face looks: a mirrored photo's marks are the photo's, mirrored (exactly, where no padding is needed)."""
    from pipeline.assess import prepare

    item = _acne04(level=2, count=1)[0]
    view = prepare((ACNE04 / item["file"]).read_bytes()).view.pixels
    h, w = (s - s % 32 for s in view.shape[:2])
    view = np.ascontiguousarray(view[:h, :w])
    detector = LesionDetector(DEFAULT_DETECTOR)
    detector.flip = True
    marks = detector.detect(view, (0.1, 0.3))
    mirrored = detector.detect(np.ascontiguousarray(view[:, ::-1]), (0.1, 0.3))
    assert len(marks) >= 10 and len(mirrored) == len(marks)
    for d in mirrored:  # the same up to float rounding
        assert any(abs(w - d.x - m.x) < 0.01 and abs(d.y - m.y) < 0.01 and d.kind == m.kind for m in marks)
    detector.flip = False
    plain = detector.detect(view, (0.1, 0.3))
    assert plain != marks  # the mirror's view changed what was found
