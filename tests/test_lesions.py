"""Tile probabilities -> lesions: the tiles that see one lesion count it once, two lesions stay two,
and boxes land on the lesion, in photo pixels."""
import cv2
import numpy as np
import pytest

from pipeline.lesions import LESION_BOX, find_lesions
from pipeline.patches import CanonicalView, Tiles
from pipeline.preprocess import PATCH_SIZE as S
from pipeline.types import CLASSES

STRIDE = S // 2
SKIN = (200, 160, 140)


def _view(spots=(), factor=2.0, offset=(100, 50), size=256):
    pixels = np.full((size, size, 3), SKIN, np.uint8)
    for x, y in spots:
        cv2.circle(pixels, (x, y), 5, (120, 40, 40), -1)
    return CanonicalView(pixels, factor, offset, {}, {}, None)


def _tiles(corners, region="forehead"):
    boxes = np.array([(x, y, S, S) for x, y in corners], int)
    return Tiles(np.zeros((len(boxes), S, S, 3), np.uint8), boxes, [region] * len(boxes))


def _probs(*rows):
    out = np.zeros((len(rows), len(CLASSES)), np.float32)
    for i, (name, p) in enumerate(rows):
        out[i, CLASSES.index(name)] = p
        out[i, 0] = 1 - p
    return out


def test_one_lesion_seen_by_four_overlapping_tiles_counts_once():
    corners = [(0, 0), (STRIDE, 0), (0, STRIDE), (STRIDE, STRIDE)]
    view = _view(spots=[(S - 4, S - 4)])  # inside all four tiles
    lesions = find_lesions(view, _tiles(corners), _probs(*[("papule", p) for p in (0.7, 0.9, 0.6, 0.8)]))
    assert len(lesions) == 1
    assert lesions[0].type == "papule" and lesions[0].confidence == pytest.approx(0.9)


def test_two_lesions_in_neighbouring_tiles_stay_two():
    view = _view(spots=[(30, 32), (66, 32)])
    lesions = find_lesions(view, _tiles([(0, 0), (STRIDE + 8, 0)]), _probs(("comedone", 0.8), ("comedone", 0.8)))
    assert len(lesions) == 2


def test_box_is_centred_on_the_spot_in_photo_pixels():
    view = _view(spots=[(40, 28)], factor=2.0, offset=(100, 50))
    lesion, = find_lesions(view, _tiles([(0, 0)]), _probs(("nodule", 0.9)))
    cx, cy = lesion.center
    assert abs(cx - (100 + 40 / 2)) <= 1.5 and abs(cy - (50 + 28 / 2)) <= 1.5
    assert lesion.w == pytest.approx(LESION_BOX / 2, abs=1)


def test_different_types_at_one_place_are_kept_apart():
    view = _view(spots=[(40, 40)])
    lesions = find_lesions(view, _tiles([(0, 0), (STRIDE, 0)]), _probs(("pustule", 0.8), ("comedone", 0.8)))
    assert sorted(l.type for l in lesions) == ["comedone", "pustule"]


def test_normal_and_unsure_tiles_are_not_lesions():
    probs = _probs(("papule", 0.2), ("papule", 0.3))
    assert find_lesions(_view(spots=[(30, 30)]), _tiles([(0, 0), (3 * S, 0)]), probs) == []


def test_plain_skin_falls_back_to_the_tile_centre():
    lesion, = find_lesions(_view(factor=1.0, offset=(0, 0)), _tiles([(64, 64)]), _probs(("spot", 0.9)))
    assert lesion.center == pytest.approx((96, 96), abs=1)


def test_cheek_lesions_carry_their_side():
    lesion, = find_lesions(_view(spots=[(32, 32)]), _tiles([(0, 0)], "left_cheek"), _probs(("papule", 0.9)))
    assert lesion.side == "left"
