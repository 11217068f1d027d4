"""Regions from real FaceMesh landmarks: disjoint skin masks, features excluded, sides the patient's own."""
import numpy as np

from pipeline.patches import face_view, tiles
from pipeline.preprocess import CANON_FACE_HEIGHT, PATCH_SIZE
from pipeline.regions import _LEFT_EYE, _LIPS, _RIGHT_EYE, detect_faces
from pipeline.types import REGIONS
from tests.conftest import THREE_QUARTER, shared_image


def _view(rgb):
    faces = detect_faces(rgb)
    assert len(faces) == 1
    return face_view(rgb, faces[0])


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_masks_are_disjoint_and_leave_out_eyes_and_lips(portrait_rgb):
    view = _view(portrait_rgb)
    stacked = np.stack([view.masks[r] for r in REGIONS]).astype(int)
    assert stacked.sum(axis=0).max() == 1
    anywhere = stacked.sum(axis=0) > 0
    for idx in _RIGHT_EYE + _LEFT_EYE + _LIPS:
        x, y = np.round(view.landmarks.points[idx]).astype(int)
        assert not anywhere[y, x], f"landmark {idx} is inside a skin region"


def test_regions_sit_where_anatomy_says(portrait_rgb):
    view = _view(portrait_rgb)
    c = {r: _centroid(view.masks[r]) for r in REGIONS}
    assert c["forehead"][1] < c["nose"][1] < c["chin"][1]
    # Unmirrored photo: the patient's left cheek is on the image's right.
    assert c["right_cheek"][0] < c["nose"][0] < c["left_cheek"][0]


def test_canonical_scale_is_the_same_for_small_and_large_photos(portrait_rgb):
    import cv2

    small = _view(portrait_rgb)
    big = _view(cv2.resize(portrait_rgb, None, fx=5.0, fy=5.0, interpolation=cv2.INTER_CUBIC))
    assert abs(small.landmarks.height - CANON_FACE_HEIGHT) < 2 and abs(big.landmarks.height - CANON_FACE_HEIGHT) < 2
    assert abs(len(tiles(small)) - len(tiles(big))) <= 0.1 * len(tiles(small))


def test_three_quarter_view_gives_the_visible_cheek():
    view = _view(shared_image(THREE_QUARTER))
    cheeks = [view.assessed["left_cheek"], view.assessed["right_cheek"]]
    assert sorted(cheeks) == [False, True]
    assert view.assessed["forehead"] and view.assessed["nose"]


def test_tiles_cover_each_assessed_region_with_model_sized_patches(portrait_rgb):
    view = _view(portrait_rgb)
    t = tiles(view)
    assert t.patches.shape[1:] == (PATCH_SIZE, PATCH_SIZE, 3)
    assert {r for r, ok in view.assessed.items() if ok} == set(t.regions)
