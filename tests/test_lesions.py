"""Tile probabilities -> lesions: overlapping tiles count one lesion once, boxes land in photo pixels."""
import numpy as np
import pytest

from pipeline.lesions import find_lesions
from pipeline.patches import CanonicalView, Tiles
from pipeline.preprocess import PATCH_SIZE as S
from pipeline.types import CLASSES

STRIDE = S // 2


def _view(factor=2.0, offset=(100, 50)):
    return CanonicalView(np.zeros((10, 10, 3), np.uint8), factor, offset, {}, {}, None)


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
    lesions = find_lesions(_view(), _tiles(corners), _probs(*[("papule", p) for p in (0.7, 0.9, 0.6, 0.8)]))
    assert len(lesions) == 1
    assert lesions[0].type == "papule" and lesions[0].confidence == pytest.approx(0.9)


def test_lesions_two_tiles_apart_are_two_lesions():
    lesions = find_lesions(_view(), _tiles([(0, 0), (2 * S, 0)]), _probs(("comedone", 0.8), ("comedone", 0.8)))
    assert len(lesions) == 2


def test_different_types_in_neighbouring_tiles_are_kept_apart():
    lesions = find_lesions(_view(), _tiles([(0, 0), (STRIDE, 0)]), _probs(("pustule", 0.8), ("comedone", 0.8)))
    assert sorted(l.type for l in lesions) == ["comedone", "pustule"]


def test_normal_and_unsure_tiles_are_not_lesions():
    probs = _probs(("papule", 0.3), ("papule", 0.45))
    assert find_lesions(_view(), _tiles([(0, 0), (3 * S, 0)]), probs) == []


def test_boxes_are_in_photo_pixels():
    lesion, = find_lesions(_view(factor=2.0, offset=(100, 50)), _tiles([(64, 32)]), _probs(("nodule", 0.9)))
    # central half of the tile (64+16 .. 64+48, 32+16 .. 32+48) at half scale, shifted by the crop offset
    assert (lesion.x, lesion.y, lesion.w, lesion.h) == (140, 74, 16, 16)


def test_cheek_lesions_carry_their_side():
    lesion, = find_lesions(_view(), _tiles([(0, 0)], "left_cheek"), _probs(("papule", 0.9)))
    assert lesion.side == "left"
