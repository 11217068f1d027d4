"""Regions from real FaceMesh landmarks: disjoint skin masks, features excluded, sides the patient's own."""
import json
from functools import lru_cache

import cv2
import numpy as np
import pytest

from pipeline.patches import face_view, tiles
from pipeline.preprocess import CANON_FACE_HEIGHT, PATCH_SIZE
from pipeline.faces import CHIN, TOP, detect_faces
from pipeline.regions import _LEFT_BROW, _LEFT_EYE, _LIPS, _NOSTRILS, _RIGHT_BROW, _RIGHT_EYE
from pipeline.types import REGIONS
from tests.conftest import SECOND_VISIT, SHARED_DATA, THREE_QUARTER, shared_image

ACNE04 = SHARED_DATA / "acne04"


def _view(rgb):
    faces = detect_faces(rgb)
    assert len(faces) == 1
    return face_view(rgb, faces[0])


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def _down(view, x, y):
    """How far down the face a canonical point lies: 0 at landmark 10 (top of the oval), 1 at the chin."""
    p = view.landmarks.points
    axis = p[CHIN] - p[TOP]
    return ((x - p[TOP][0]) * axis[0] + (y - p[TOP][1]) * axis[1]) / float(axis @ axis)


@lru_cache(maxsize=None)
def _acne04_lesions() -> dict:
    labels = ACNE04 / "train.json"
    if not labels.is_file():
        pytest.skip(f"ACNE04 not found at {ACNE04} (set ACNEBOT_SHARED_DATA)")
    return {e["file"]: [(l["x"], l["y"]) for l in e["lesions"]] for e in json.loads(labels.read_text())}


def _acne04(name):
    """An ACNE04 photo (RGB) and the centres of the lesions its experts marked, in photo pixels."""
    lesions = _acne04_lesions()[f"images/{name}"]
    return cv2.cvtColor(cv2.imread(str(ACNE04 / "images" / name)), cv2.COLOR_BGR2RGB), lesions


def test_masks_are_disjoint_and_leave_out_eyes_brows_lips_and_nostrils(portrait_rgb):
    view = _view(portrait_rgb)
    stacked = np.stack([view.masks[r] for r in REGIONS]).astype(int)
    assert stacked.sum(axis=0).max() == 1
    anywhere = stacked.sum(axis=0) > 0
    for idx in _RIGHT_EYE + _LEFT_EYE + _RIGHT_BROW + _LEFT_BROW + _LIPS + _NOSTRILS:
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


def test_forehead_reaches_above_the_mesh_up_to_the_hairline(portrait_rgb):
    # FaceMesh's top landmark sits well below the hairline: the forehead above it is skin to assess.
    view = _view(portrait_rgb)
    ys, xs = np.nonzero(view.masks["forehead"])
    assert _down(view, xs, ys).min() < -0.08  # measured -0.12; the old mask stopped at landmark 10 (-0.00)
    # ... with no pixel of the brows or eyes, in one piece of skin, and no dark hair in it.
    for outline in (_RIGHT_BROW, _LEFT_BROW, _RIGHT_EYE, _LEFT_EYE):
        hull = np.zeros(view.masks["forehead"].shape, np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(view.landmarks.points[list(outline)]).astype(np.int32)), 1)
        assert not (view.masks["forehead"] & hull.astype(bool)).any()
    assert cv2.connectedComponents(view.masks["forehead"].astype(np.uint8))[0] - 1 == 1
    luma = cv2.cvtColor(view.raw, cv2.COLOR_RGB2YCrCb)[..., 0].astype(float)
    cheek = np.median(luma[view.masks["left_cheek"] | view.masks["right_cheek"]])
    assert (luma[view.masks["forehead"]] < 0.4 * cheek).mean() < 0.005


def test_hair_over_the_forehead_stays_out():
    # A fringe down to the brows: the skin below it is forehead, the hair is not (the old mask took 7% dark
    # hair pixels and 101 specks between the strands).
    rgb, _ = _acne04("levle2_94.jpg")
    view = _view(rgb)
    forehead = view.masks["forehead"]
    luma = cv2.cvtColor(view.raw, cv2.COLOR_RGB2YCrCb)[..., 0].astype(float)
    cheek = np.median(luma[view.masks["left_cheek"] | view.masks["right_cheek"]])
    assert forehead.sum() > 10 * PATCH_SIZE
    assert (luma[forehead] < 0.4 * cheek).mean() < 0.02  # measured 0.01
    assert cv2.connectedComponents(forehead.astype(np.uint8))[0] - 1 <= 5


def test_cheeks_reach_the_jaw_line_but_not_the_neck():
    for rgb in (shared_image(THREE_QUARTER), _acne04("levle2_94.jpg")[0]):
        view = _view(rgb)
        lips_bottom = max(_down(view, *view.landmarks.points[i]) for i in _LIPS)
        ys, xs = np.nonzero(view.masks["left_cheek"] | view.masks["right_cheek"])
        assert _down(view, xs, ys).max() > lips_bottom + 0.1  # the jaw beside the chin is cheek
        ys, xs = np.nonzero(np.logical_or.reduce([view.masks[r] for r in REGIONS]))
        assert _down(view, xs, ys).max() < 1.06  # nothing much below the chin's landmark


def test_regions_are_whole_pieces_not_specks():
    # The old masks of this portrait fell into 20 pieces on one cheek alone.
    view = _view(shared_image(SECOND_VISIT))
    smallest = (0.04 * view.landmarks.height) ** 2
    for r in REGIONS:
        n, _, stats, _ = cv2.connectedComponentsWithStats(view.masks[r].astype(np.uint8))
        assert n - 1 <= 3, r
        assert (stats[1:, cv2.CC_STAT_AREA] >= smallest).all(), r


@pytest.mark.parametrize("name, least", [("levle0_239.jpg", 0.78), ("levle1_57.jpg", 0.75)])
def test_regions_hold_the_lesions_experts_marked(name, least):
    # Three-quarter views with lesions on the upper forehead, the temple and along the jaw. Measured: 0.82
    # and 0.79 of the marked lesion centres inside a region; the old masks held 0.50 and 0.60.
    rgb, lesions = _acne04(name)
    view = _view(rgb)
    skin = np.logical_or.reduce([view.masks[r] for r in REGIONS])
    h, w = skin.shape
    inside = 0
    for x, y in lesions:
        cx, cy = (round(c) for c in view.to_canonical(x, y))
        inside += bool(0 <= cx < w and 0 <= cy < h and skin[cy, cx])
    assert inside / len(lesions) >= least


def test_a_narrower_far_cheek_is_still_assessed_and_a_sliver_is_not():
    """A three-quarter view's far cheek with a fifth of the near one's skin is assessed (its lesions count, and a
    region added never lowers a grade); one with a tenth is taken as turned away, and so is one under a patch."""
    from pipeline.regions import why_not_assessed

    def masks(far_rows: int) -> dict[str, np.ndarray]:
        out = {r: np.zeros((1000, 400), bool) for r in REGIONS}
        out["left_cheek"][:1000, :200] = True  # 200,000 px
        out["right_cheek"][:far_rows, 200:400] = True
        out["forehead"][:20, :20] = True  # 400 px: hair over the rest
        return out

    no_skin = {"forehead": "not_visible", "nose": "not_visible", "chin": "not_visible"}
    assert why_not_assessed(masks(200), 64) == no_skin  # a fifth: both cheeks assessed
    assert why_not_assessed(masks(100), 64) == {**no_skin, "right_cheek": "turned_away"}  # a tenth
    assert why_not_assessed(masks(20), 64)["right_cheek"] == "turned_away"  # less than one 64 px patch, too


def test_loading_the_models_builds_the_face_graphs_so_the_first_photo_does_not(portrait_rgb, monkeypatch):
    """A worker loads its models as it starts; FaceMesh's graph takes most of a second to build."""
    import threading

    from mediapipe.python.solutions import face_detection, face_mesh

    from pipeline.assess import load_models, prepare
    from tests.conftest import encode

    built = []
    for module, name in ((face_mesh, "FaceMesh"), (face_detection, "FaceDetection")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **k: built.append(_name) or _real(*a, **k))

    def first_photo_of_a_new_worker_thread():
        load_models()
        built.append("loaded")
        prepare(encode(portrait_rgb))

    worker = threading.Thread(target=first_photo_of_a_new_worker_thread)
    worker.start()
    worker.join()
    assert built == ["FaceMesh", "FaceDetection", "loaded"]
