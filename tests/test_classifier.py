"""The service-side model loader: the shipped model loads; a missing, corrupt or foreign file is refused."""
import shutil

import numpy as np
import pytest

from pipeline.classifier import DEFAULT_MODEL, LesionClassifier, ModelError
from pipeline.preprocess import PATCH_SIZE
from pipeline.types import CLASSES


def test_shipped_model_loads_and_predicts_probabilities(model):
    assert DEFAULT_MODEL.is_file()
    patches = np.random.default_rng(0).integers(0, 255, (70, PATCH_SIZE, PATCH_SIZE, 3), dtype=np.uint8)
    probs = model.predict(patches)
    assert probs.shape == (70, len(CLASSES))
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    assert model.name and model.version != "unknown"


def test_empty_batch(model):
    assert model.predict(np.zeros((0, PATCH_SIZE, PATCH_SIZE, 3), np.uint8)).shape == (0, len(CLASSES))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        LesionClassifier(tmp_path / "nope.onnx")


@pytest.mark.parametrize("content", [b"", b"not an onnx model at all", None], ids=["empty", "text", "truncated"])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content if content is not None else DEFAULT_MODEL.read_bytes()[:5000])
    with pytest.raises(ModelError, match="corrupt"):
        LesionClassifier(path)


def test_model_with_other_classes_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(DEFAULT_MODEL))
    for prop in model.metadata_props:
        if prop.key == "classes":
            prop.value = "normal,acne"
    path = tmp_path / "other.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="expected"):
        LesionClassifier(path)


def test_int8_variant_is_shipped_and_agrees_mostly(model):
    int8 = DEFAULT_MODEL.with_name(DEFAULT_MODEL.stem + ".int8.onnx")
    if not int8.exists():
        pytest.skip("no int8 variant shipped")
    q = LesionClassifier(int8)
    patches = np.random.default_rng(1).integers(0, 255, (32, PATCH_SIZE, PATCH_SIZE, 3), dtype=np.uint8)
    assert q.predict(patches).shape == model.predict(patches).shape


def test_copy_of_shipped_model_elsewhere_loads(tmp_path):
    target = tmp_path / "copy.onnx"
    shutil.copy(DEFAULT_MODEL, target)
    assert LesionClassifier(target).predict(np.zeros((1, PATCH_SIZE, PATCH_SIZE, 3), np.uint8)).shape[0] == 1
