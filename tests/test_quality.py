"""Quality: real portraits pass; each kind of bad photo gets its retake reason, never a silent score."""
import cv2
import numpy as np
import pytest

from pipeline.assess import prepare
from tests.conftest import encode


def _codes(prepared):
    return [r.code for r in prepared.quality.reasons]


def test_real_portrait_passes(portrait_rgb):
    p = prepare(encode(portrait_rgb))
    assert p.quality.ok, p.quality.reasons
    assert p.view is not None and sum(p.view.assessed.values()) >= 4


def test_bundled_sample_passes(sample_rgb):
    assert prepare(encode(sample_rgb)).quality.ok


BAD_PHOTOS = [
    ("too dark", lambda rgb: (rgb * 0.12).astype(np.uint8), "too_dark"),
    ("overexposed", lambda rgb: np.clip(rgb.astype(int) + 190, 0, 255).astype(np.uint8), "overexposed"),
    ("blurry", lambda rgb: cv2.GaussianBlur(rgb, (0, 0), 4), "too_blurry"),
    ("tiny", lambda rgb: cv2.resize(rgb, (120, 120)), "too_small"),
    ("1x1", lambda rgb: rgb[:1, :1].copy(), "too_small"),
    ("black frame", lambda rgb: np.zeros_like(rgb), "no_face"),
    ("noise", lambda rgb: np.random.default_rng(0).integers(0, 255, rgb.shape, dtype=np.uint8), "no_face"),
    ("two faces", lambda rgb: np.hstack([rgb, rgb]), "several_faces"),
]


@pytest.mark.parametrize("name,spoil,code", BAD_PHOTOS, ids=[b[0] for b in BAD_PHOTOS])
def test_bad_photos_get_a_retake_reason(name, spoil, code, portrait_rgb):
    p = prepare(encode(spoil(portrait_rgb)))
    assert not p.quality.ok
    assert _codes(p) == [code]
    assert all(r.message for r in p.quality.reasons)


def test_object_without_face_is_refused():
    from skimage import data

    assert _codes(prepare(encode(data.coffee()))) == ["no_face"]


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_sideways_and_upside_down_photos_are_turned_upright(quarters, portrait_rgb):
    turned = np.ascontiguousarray(np.rot90(portrait_rgb, k=quarters))  # counter-clockwise
    p = prepare(encode(turned))
    assert p.quality.ok and p.rotated == 90 * quarters
    assert np.abs(p.photo.pixels.astype(int) - portrait_rgb.astype(int)).mean() < 3


def test_declared_closeup_uses_only_that_region(portrait_rgb):
    h, w = portrait_rgb.shape[:2]
    cheek = np.ascontiguousarray(portrait_rgb[h // 2: h // 2 + h // 4, w // 5: w // 5 + w // 4])
    cheek = cv2.resize(cheek, (cheek.shape[1] * 3, cheek.shape[0] * 3))
    p = prepare(encode(cheek), region="right_cheek")
    assert p.quality.ok, p.quality.reasons
    assert [r for r, ok in p.view.assessed.items() if ok] == ["right_cheek"]


def test_a_black_and_white_closeup_is_assessed_on_its_skin_not_its_black_border(portrait_rgb):
    h, w = portrait_rgb.shape[:2]
    cheek = np.ascontiguousarray(portrait_rgb[h // 2: h // 2 + h // 4, w // 5: w // 5 + w // 4])
    grey = cv2.cvtColor(cv2.resize(cheek, (cheek.shape[1] * 3, cheek.shape[0] * 3)), cv2.COLOR_RGB2GRAY)
    framed = cv2.copyMakeBorder(grey, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=0)  # a scan's black edge
    p = prepare(encode(cv2.cvtColor(framed, cv2.COLOR_GRAY2RGB)), region="chin")
    assert p.quality.ok, p.quality.reasons
    skin = p.view.masks["chin"]
    assert p.view.assessed["chin"] and skin.mean() > 0.5
    edge = max(1, int(30 * p.view.factor))
    assert not skin[:edge].any() and not skin[:, :edge].any()


@pytest.mark.parametrize("rgb", [(90, 140, 200), (200, 40, 40), (60, 160, 70)])
def test_closeup_of_a_wall_has_no_skin(rgb):
    wall = np.full((600, 600, 3), rgb, np.uint8)
    assert _codes(prepare(encode(wall), region="forehead")) == ["no_skin"]


@pytest.mark.parametrize("name, why", [
    ("aug_183_jpg.rf.50e557e1665f6db5434a2fafe43fbb7e.jpg", "inflamed skin fills the frame (centre Cr 196)"),
    ("aug_123_jpg.rf.95f1b30becf667a6953fd12f82ee07df.jpg", "a washed-out photo (centre Cr 132)"),
])
def test_a_close_up_of_inflamed_or_washed_out_skin_is_skin(name, why):
    from tests.conftest import shared_file

    prepared = prepare(shared_file(f"lesion-types/train/pustule/{name}").read_bytes(), region="chin")
    assert "no_skin" not in _codes(prepared), why
    assert prepared.view.assessed["chin"]


def test_unknown_region_is_a_usage_error(portrait_rgb):
    with pytest.raises(ValueError):
        prepare(encode(portrait_rgb), region="ear")
