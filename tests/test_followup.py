"""Better, the same or worse than last time: the counts' score and the whole face's grade together decide, and
what a retake of the same face moves stays "the same"."""
import pytest

from pipeline.followup import LEVEL_MARGIN, SCORE_MARGIN_ABS, compare, expected_level

MODERATE = {"mild": 0.05, "moderate": 0.9, "severe": 0.05}
A_LITTLE_WORSE_LOOKING = {"mild": 0.0, "moderate": 0.9, "severe": 0.1}
MILD = {"mild": 0.9, "moderate": 0.1, "severe": 0.0}
SEVERE = {"mild": 0.0, "moderate": 0.2, "severe": 0.8}


def test_the_expected_level_weighs_the_grades_by_their_probabilities():
    assert expected_level(MODERATE) == pytest.approx(1.0)
    assert expected_level(SEVERE) == pytest.approx(1.8)
    assert expected_level({}) == 0.0


def test_what_a_retake_moves_is_the_same():
    change = compare(30, MODERATE, 38, A_LITTLE_WORSE_LOOKING)
    assert change.verdict == "same" and change.score == 8 and change.level == pytest.approx(0.1)
    # few lesions: a handful more is within the detector's own noise
    assert compare(3, MILD, 3 + SCORE_MARGIN_ABS, MILD).verdict == "same"


def test_fewer_lesions_and_a_milder_face_is_better_and_the_reverse_worse():
    assert compare(60, MODERATE, 10, MILD).verdict == "better"
    assert compare(10, MILD, 60, SEVERE).verdict == "worse"


def test_one_measure_moving_while_the_other_holds_still_decides():
    assert compare(60, MODERATE, 10, MODERATE).verdict == "better"  # the counts fell, the face looks the same
    assert compare(30, MILD, 30, SEVERE).verdict == "worse"  # the whole face looks worse at the same count


def test_the_two_moving_apart_is_said_to_be_unclear():
    assert compare(60, MILD, 10, SEVERE).verdict == "mixed"


def test_without_a_full_face_photo_on_both_sides_the_score_alone_decides():
    change = compare(60, None, 10, SEVERE)
    assert change.verdict == "better" and change.level is None
    assert compare(30, MODERATE, 32, None).verdict == "same"


def test_a_change_of_the_look_within_its_margin_is_the_same():
    nudged = {"mild": 0.05, "moderate": 0.9 - LEVEL_MARGIN / 2, "severe": 0.05 + LEVEL_MARGIN / 2}
    assert compare(30, MODERATE, 30, nudged).verdict == "same"
