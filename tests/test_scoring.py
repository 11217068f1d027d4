import pytest

from pipeline.scoring import (
    GagsResult,
    HayashiResult,
    gags_face,
    grade_for_score,
    hayashi,
    nice_category,
    score_all,
    severity_score,
)
from pipeline.types import GRADES, REGIONS, RegionResult


@pytest.mark.parametrize(
    "score, grade",
    [
        (0, "clear"),
        (1, "clear"),
        (1.5, "mild"),
        (2, "mild"),
        (40, "mild"),
        (41, "moderate"),
        (90, "moderate"),
        (91, "severe"),
        (160, "severe"),
        (161, "very severe"),
        (500, "very severe"),
    ],
)
def test_grade_bands(score, grade):
    assert grade_for_score(score) == grade
    assert grade in GRADES


@pytest.mark.parametrize(
    "region_counts, expected",
    [
        ({}, 0),
        ({"forehead": {}}, 0),
        # comedones count once per region, however many
        ({"forehead": {"comedone": 1}}, 2),
        ({"forehead": {"comedone": 50}}, 2),
        ({"nose": {"comedone": 50}}, 1),
        ({"forehead": {"comedone": 0}}, 0),
        # per-lesion points times region weight
        ({"forehead": {"papule": 1}}, 4),
        ({"nose": {"papule": 1}}, 2),
        ({"chin": {"pustule": 2}}, 6),
        ({"left_cheek": {"nodule": 1}}, 8),
        ({"right_cheek": {"comedone": 3, "papule": 1, "pustule": 1, "nodule": 1}}, 20),
        # non-acne classes never count
        ({"forehead": {"spot": 5, "scar": 3, "mole": 2, "normal": 100}}, 0),
        ({"chin": {"papule": 1, "scar": 9}}, 2),
        (
            {
                "forehead": {"comedone": 4, "papule": 3},  # 2 * (1 + 6) = 14
                "nose": {"pustule": 1},  # 1 * 3 = 3
                "left_cheek": {"papule": 2, "pustule": 2},  # 2 * (4 + 6) = 20
                "right_cheek": {"nodule": 1},  # 2 * 4 = 8
                "chin": {"comedone": 1},  # 1 * 1 = 1
            },
            46,
        ),
    ],
)
def test_severity_score(region_counts, expected):
    assert severity_score(region_counts) == expected


@pytest.mark.parametrize(
    "region_counts",
    [
        {"chest": {"papule": 1}},
        {"forehead": {"papules": 1}},
        {"forehead": {"papule": -1}},
    ],
)
def test_severity_score_rejects_bad_input(region_counts):
    with pytest.raises(ValueError):
        severity_score(region_counts)


@pytest.mark.parametrize(
    "left, right, expected",
    [
        (3, 10, HayashiResult(10, "moderate", "moderate")),  # worse half of a full face
        (10, 3, HayashiResult(10, "moderate", "moderate")),
        (None, 7, HayashiResult(7, "moderate", "moderate")),  # side view: the visible half
        (22, None, HayashiResult(22, "severe", "severe")),
        (0, 0, HayashiResult(0, "mild", "mild")),
        (5, 0, HayashiResult(5, "mild", "mild")),
        (6, 0, HayashiResult(6, "moderate", "moderate")),
        (20, 1, HayashiResult(20, "moderate", "moderate")),
        (21, 1, HayashiResult(21, "severe", "severe")),
        (50, 1, HayashiResult(50, "severe", "severe")),
        (51, 1, HayashiResult(51, "very severe", "very severe")),
        (None, None, None),
    ],
)
def test_hayashi(left, right, expected):
    assert hayashi(left, right) == expected


@pytest.mark.parametrize(
    "region_counts, score, grade",
    [
        ({}, 0, "clear"),
        ({r: {"spot": 3, "scar": 1} for r in REGIONS}, 0, "clear"),
        ({"forehead": {"comedone": 9}}, 2, "mild"),
        # only the single most severe type per region counts
        ({"forehead": {"comedone": 9, "papule": 5, "pustule": 1}}, 6, "mild"),
        ({r: {"comedone": 1} for r in REGIONS}, 8, "mild"),
        ({r: {"pustule": 1} for r in REGIONS}, 24, "moderate"),
        ({r: {"nodule": 1, "papule": 30} for r in REGIONS}, 32, "severe"),  # the face's maximum
    ],
)
def test_gags_face(region_counts, score, grade):
    assert gags_face(region_counts) == GagsResult(score, grade, "face-only GAGS")


@pytest.mark.parametrize(
    "inflammatory, nodules, category",
    [
        (0, 0, "mild-to-moderate"),
        (34, 2, "mild-to-moderate"),
        (35, 0, "moderate-to-severe"),
        (0, 3, "moderate-to-severe"),
    ],
)
def test_nice(inflammatory, nodules, category):
    assert nice_category(inflammatory, nodules) == category


def _full_face(**overrides):
    return [RegionResult(r, True, overrides.get(r, {})) for r in REGIONS]


@pytest.mark.parametrize(
    "results, score, not_assessed",
    [
        (_full_face(), 0, []),
        (_full_face(forehead={"papule": 1}), 4, []),
        ([RegionResult("forehead", True, {"papule": 1})], 4, ["nose", "left_cheek", "right_cheek", "chin"]),
        # an unassessed region adds nothing even if counts slipped through, and is listed, not called clear
        (
            [RegionResult("forehead", True, {}), RegionResult("chin", False, {"nodule": 5})]
            + [RegionResult(r, True, {}) for r in ("nose", "left_cheek", "right_cheek")],
            0,
            ["chin"],
        ),
        ([], 0, list(REGIONS)),
    ],
)
def test_score_all_not_assessed(results, score, not_assessed):
    scores = score_all(results, None, None)
    assert scores.score == score
    assert scores.not_assessed == not_assessed


def test_score_all_bundles_every_scale():
    results = _full_face(
        forehead={"papule": 20, "comedone": 3},
        left_cheek={"pustule": 16, "nodule": 3},
        chin={"scar": 4},
    )
    scores = score_all(results, 12, 24)
    assert scores.score == 2 * (1 + 40) + 2 * (48 + 12)  # 202
    assert scores.grade == "very severe"
    assert scores.hayashi == HayashiResult(24, "severe", "severe")
    assert scores.gags == GagsResult(2 * 2 + 2 * 4, "mild", "face-only GAGS")
    assert scores.nice == "moderate-to-severe"  # 36 inflammatory and 3 nodules
    assert scores.not_assessed == []


def test_score_all_nice_counts_assessed_regions_only():
    results = [RegionResult("forehead", True, {"papule": 30}), RegionResult("chin", False, {"papule": 30})]
    assert score_all(results, None, None).nice == "mild-to-moderate"


def test_score_all_rejects_duplicate_region():
    with pytest.raises(ValueError):
        score_all([RegionResult("nose", True, {}), RegionResult("nose", True, {})], None, None)


class TestImageLevelGrade:
    """CLINICAL.md, "The grade from the whole image": the told grade is the higher of the eq. 1 band and the
    image-level grade; a lower image-level grade never lowers it, and Hayashi reports the image-level one."""

    few = [RegionResult("left_cheek", True, {"papule": 2}), RegionResult("right_cheek", True, {})]

    def test_a_higher_image_grade_raises_the_told_grade_and_says_so(self):
        s = score_all(self.few, 2, 0, image_grade="severe")
        assert (s.score_grade, s.grade, s.raised_by_image) == ("mild", "severe", True)
        assert s.score == 8  # the eq. 1 score stays the paper's
        assert (s.hayashi.grade, s.hayashi.count, s.hayashi.count_grade) == ("severe", 2, "mild")

    def test_a_lower_image_grade_never_lowers_anything(self):
        many = [RegionResult("forehead", True, {"pustule": 20}), RegionResult("left_cheek", True, {"papule": 15})]
        s = score_all(many, 15, None, image_grade="moderate")
        assert s.score_grade == "very severe" and s.grade == "very severe" and not s.raised_by_image

    def test_image_mild_cannot_tell_clear_from_mild_so_it_raises_nothing(self):
        s = score_all([RegionResult("forehead", True, {})], 0, 0, image_grade="mild")
        assert (s.grade, s.raised_by_image, s.hayashi.grade) == ("clear", False, "mild")

    def test_without_an_image_grade_nothing_changes(self):
        s = score_all(self.few, 2, 0)
        assert (s.grade, s.image_grade, s.raised_by_image) == (s.score_grade, None, False)

    def test_an_unknown_image_grade_is_refused(self):
        with pytest.raises(ValueError, match="image-level"):
            score_all(self.few, 2, 0, image_grade="dreadful")
