"""The evaluation's matching rules: one prediction per expert mark, circle + 4 px, inside a box, IoU for AP50."""
import dataclasses

import numpy as np
import pytest

from models.detection_metrics import at_threshold, average_precision, best_threshold, match_boxes, match_circles
from models.evaluate_detector import PhotoResult, confusion, coverage_misses, level_accuracy, match_iou50, spearman


def test_a_centre_matches_inside_the_circle_grown_by_4_px_and_each_mark_once():
    centres, radii = np.array([[100.0, 100.0]]), np.array([5.0])
    pred = np.array([[108.0, 100.0], [100.0, 101.0], [110.0, 100.0]])
    hits = match_circles(pred, np.array([0.5, 0.9, 0.8]), centres, radii)
    assert hits.tolist() == [False, True, False]  # the best-scoring one takes the mark; 10 px is beyond 5 + 4


def test_box_matching_needs_the_centre_inside_the_box():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)
    hits = match_boxes(np.array([[5.0, 5.0], [15.0, 15.0], [29.0, 21.0]]), np.ones(3), boxes)
    assert hits.tolist() == [True, False, True]


def test_precision_recall_and_the_best_threshold():
    per_photo = [(np.array([[0.0, 0.0], [50.0, 50.0]]), np.array([0.9, 0.2]), np.array([[1.0, 1.0]]), np.array([3.0]))]
    low = at_threshold(per_photo, match_circles, 0.1)
    assert (low["precision"], low["recall"]) == (0.5, 1.0)
    best = best_threshold(per_photo, match_circles)
    assert best["f1"] == 1.0 and 0.2 < best["threshold"] <= 0.9


def test_average_precision_is_one_when_every_hit_outranks_every_miss_and_counts_missed_marks():
    per_photo = [(np.array([[0.0, 0.0], [50.0, 50.0]]), np.array([0.9, 0.2]),
                  np.array([[1.0, 1.0], [200.0, 200.0]]), np.array([3.0, 3.0]))]
    assert average_precision(per_photo, match_circles) == pytest.approx(0.5)


def test_ap50_matches_boxes_by_overlap():
    gt = np.array([[0, 0, 10, 10]], float)
    assert match_iou50(np.array([[1, 1, 11, 11], [0, 0, 10, 10]], float), np.array([0.5, 0.9]), gt).tolist() == [False, True]
    assert match_iou50(np.array([[0, 0, 4, 4]], float), np.array([0.9]), gt).tolist() == [False]


def test_spearman_and_level_confusion():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    m = confusion([0, 1, 2, 2], ["mild", "severe", "severe", None])
    assert m == [[1, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 1, 0, 1]]
    assert level_accuracy([0, 1, 2, 2], ["mild", "severe", "severe", None]) == 0.5


def test_coverage_says_where_each_expert_circle_outside_the_assessed_regions_lies(face_photo):
    from pipeline.assess import prepare

    view = prepare(face_photo).view
    points = view.landmarks.points
    chin, top = points[152], points[10]

    def photo(x, y):
        return view.to_photo(float(x), float(y))

    marks = {"nose": photo(*points[195]), "upper lip": photo(*points[0]), "eye": photo(*points[159]),
             "neck": photo(*(chin + 0.3 * (chin - top)))}
    empty = np.zeros((0, 2))
    result = PhotoResult("face.jpg", empty, np.zeros(0), np.zeros((0, 4)), empty, empty, np.zeros(0),
                         np.zeros((0, 4)), None, None, None, True, view)
    refused = dataclasses.replace(result, name="refused.jpg", view=None)
    items = {"face.jpg": {"lesions": [{"x": x, "y": y, "r": 3} for x, y in marks.values()]},
             "refused.jpg": {"lesions": [{"x": 10, "y": 10, "r": 3}] * 4}}
    where = coverage_misses([result, refused], items)
    assert where == {"covered": 0.125, "refused": 0.5, "not_assessed": 0.0, "eyes": 0.125, "brows": 0.0,
                     "lips": 0.125, "nostrils": 0.0, "below_chin": 0.125, "elsewhere": 0.0}
