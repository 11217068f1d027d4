"""The typed result (pipeline/result.py): real assessments read back equal from their JSON, rows stored before the
JSON named its version still read, and a newer version is refused."""
import json
from dataclasses import replace

import numpy as np
import pytest

from pipeline.assess import assess, prepare
from pipeline.pose import Pose
from pipeline.report import assessment_result
from pipeline.result import (VERSION, AssessmentResult, CheckinPhoto, Model, PoseCheck, Quality, UnreadableResult,
                             Visit)
from pipeline.types import REGIONS, Lesion, Metadata, Reason
from tests.conftest import SAMPLE, encode

# A check-in as conversations/flows/result.py stored it before results named their version: `acnebot assess --json`
# on a valid-split portrait (two of its lesions, two of its advice lines), the visit's photos, answers and pose.
VERSION_1_ROW = {
    "quality": {"ok": True, "reasons": []},
    "regions": {
        "forehead": {"assessed": True, "counts": {"comedone": 6, "papule": 5, "pustule": 0, "nodule": 0, "spot": 0,
                                                  "scar": 0, "mole": 0}},
        "nose": {"assessed": True, "counts": {"comedone": 0, "papule": 0, "pustule": 0, "nodule": 0, "spot": 0,
                                              "scar": 0, "mole": 0}},
        "left_cheek": {"assessed": True, "counts": {"comedone": 0, "papule": 0, "pustule": 0, "nodule": 0, "spot": 4,
                                                    "scar": 0, "mole": 0}},
        "right_cheek": {"assessed": False, "counts": {}},
        "chin": {"assessed": True, "counts": {"comedone": 0, "papule": 2, "pustule": 0, "nodule": 0, "spot": 1,
                                              "scar": 0, "mole": 0}}},
    "lesions": [{"region": "chin", "type": "spot", "x": 255, "y": 446, "w": 8, "h": 7, "confidence": 0.619},
                {"region": "left_cheek", "type": "spot", "x": 346, "y": 396, "w": 9, "h": 8, "confidence": 0.594}],
    "score": 30, "grade": "moderate", "not_assessed": ["right_cheek"],
    "scales": {"hayashi": {"count": 4, "grade": "moderate", "count_grade": "mild", "image_grade": "moderate"},
               "gags": {"score": 10, "grade": "mild", "note": "face-only GAGS"}, "nice": "mild-to-moderate",
               "image": {"grade": "moderate", "probabilities": {"mild": 0.0121, "moderate": 0.951, "severe": 0.0369},
                         "expected_count": 26.7, "score_grade": "mild", "raised_grade": True}},
    "advice": ["You could try a benzoyl peroxide wash or gel",
               "Ask a doctor about a topical retinoid (adapalene or tretinoin)"],
    "avoid": [], "refer": {"needed": False, "urgent": False, "reasons": [], "codes": []},
    "grade_personalised": {"grade": "moderate", "reasons": [], "codes": []},
    "notice": "This is a self-assessment aid, not a medical diagnosis.",
    "model": {"name": "lite0-centernet-s2 + lite0-types + acne-regnet + lite0-image-grade",
              "version": "2026.12.04 + 2026.12.04 + 2026.11.23 + 2026.12.04"},
    "answers": {"age": 24, "sex": "female", "symptoms": ["itching"]}, "asked": {"symptoms": "2026-12-01"},
    "photos": [{"id": 7, "region": None, "rotated": 90,
                "pose": {"yaw": -0.5, "pitch": 13.6, "face_size": 0.564, "brightness": 125.0}}],
    "pose": {"yaw": -0.5, "pitch": 13.6, "face_size": 0.564, "brightness": 125.0},
    "pose_check": {"since": "2026-11-24", "differences": ["turn_left"]},
}


def read_back(result: AssessmentResult) -> AssessmentResult:
    """Through JSON text, as the database and the command line carry it."""
    return AssessmentResult.from_json(json.loads(json.dumps(result.to_json())))


@pytest.fixture(scope="module")
def sample_result(model) -> AssessmentResult:
    return assessment_result(assess([prepare(SAMPLE.read_bytes())], Metadata(age=22, sex="female"), model=model))


def test_a_real_assessment_reads_back_equal(sample_result):
    assert sample_result.ok and sample_result.score is not None and set(sample_result.regions) == set(REGIONS)
    assert read_back(sample_result) == sample_result
    assert read_back(sample_result).to_json() == sample_result.to_json()
    assert sample_result.to_json()["version"] == VERSION


def test_several_photos_with_lesions_read_back_equal_and_each_lesion_names_its_photo(portrait_rgb, model):
    h, w = portrait_rgb.shape[:2]
    forehead = np.ascontiguousarray(np.repeat(np.repeat(portrait_rgb[h // 10: h // 3, w // 4: 3 * w // 4], 3, 0),
                                              3, 1))
    result = assessment_result(assess([prepare(encode(portrait_rgb)), prepare(encode(forehead), "forehead")],
                                      model=model))
    assert result.ok and result.lesions and result.several_photos
    assert all(isinstance(l, Lesion) and l.side is None for l in result.lesions)
    assert all("photo" in l for l in result.to_json()["lesions"])
    assert read_back(result) == result


def test_a_stored_check_in_keeps_its_visit_beside_the_contract(sample_result):
    pose = Pose(-0.5, 13.6, 0.564, 125.0)
    visit = Visit((CheckinPhoto(7, None, 90, pose), CheckinPhoto(8, "chin")), {"age": 24, "allergies": ["sulfa"]},
                  {"age": "2026-12-01"}, pose, PoseCheck("2026-11-24", ("turn_left",)))
    stored = replace(sample_result, visit=visit)
    data = stored.to_json()
    assert {"photos", "answers", "asked", "pose", "pose_check"} <= set(data)
    assert {k: v for k, v in data.items() if k not in ("photos", "answers", "asked", "pose", "pose_check")} == (
        sample_result.to_json())
    assert read_back(stored) == stored


def test_a_row_stored_before_results_named_their_version_reads():
    result = AssessmentResult.from_json(VERSION_1_ROW)
    assert (result.score, result.grade, result.not_assessed) == (30, "moderate", ("right_cheek",))
    assert result.regions["forehead"].counts["papule"] == 5 and result.counts["right_cheek"] is None
    assert result.lesions[0] == Lesion("chin", "spot", 255, 446, 8, 7, 0.619) and not result.several_photos
    assert result.scales.image.raised_grade and result.scales.hayashi.count == 4 and result.scales.gags.score == 10
    assert result.advice.advice[0].startswith("You could try") and not result.referral
    assert result.personalised_grade == "moderate" and result.model_version.startswith("lite0-centernet-s2 + ")
    visit = result.visit
    assert visit.photos == (CheckinPhoto(7, None, 90, Pose(-0.5, 13.6, 0.564, 125.0)),)
    assert visit.answers["symptoms"] == ["itching"] and visit.asked == {"symptoms": "2026-12-01"}
    assert visit.pose == Pose(-0.5, 13.6, 0.564, 125.0) and visit.pose_check.differences == ("turn_left",)
    assert result.to_json() == {"version": VERSION, **VERSION_1_ROW}  # written again, the same keys
    assert read_back(result) == result


def test_an_older_row_without_the_keys_added_since_reads_them_as_empty():
    old = {key: value for key, value in VERSION_1_ROW.items() if key not in ("asked", "pose", "pose_check")}
    old["scales"] = {k: v for k, v in old["scales"].items() if k != "image"}
    old["lesions"] = [{k: v for k, v in old["lesions"][0].items() if k != "confidence"}]
    old["photos"] = [{"id": 7, "region": None}]
    result = AssessmentResult.from_json(old)
    assert result.scales.image is None and result.lesions[0].confidence == 1.0
    assert result.visit == Visit((CheckinPhoto(7),), old["answers"])
    bare = AssessmentResult.from_json({"score": 12, "grade": "mild", "regions": {}, "quality": {"ok": True},
                                       "refer": {"needed": True}})
    assert (bare.score, bare.referral, bare.scales, bare.visit, bare.model_version) == (12, True, None, None, None)


def test_a_photo_that_failed_has_its_quality_and_model_only():
    failed = AssessmentResult(Quality(False, (Reason("too_dark", "The photo is too dark."),)), Model("m", "1"))
    assert failed.to_json() == {"version": VERSION, "model": {"name": "m", "version": "1"},
                                "quality": {"ok": False, "reasons": [{"code": "too_dark",
                                                                      "message": "The photo is too dark."}]}}
    assert read_back(failed) == failed
    unreadable = AssessmentResult(Quality(False, (Reason("not_an_image", "That is not a photo."),)))
    assert set(unreadable.to_json()) == {"version", "quality"} and read_back(unreadable) == unreadable


def test_a_newer_version_is_refused_with_a_clear_error():
    with pytest.raises(UnreadableResult, match=f"version {VERSION + 1}, written by a newer acnebot"):
        AssessmentResult.from_json({**VERSION_1_ROW, "version": VERSION + 1})


@pytest.mark.parametrize("data", [[1, 2], {**VERSION_1_ROW, "version": "2"}, {**VERSION_1_ROW, "version": 0},
                                  {**VERSION_1_ROW, "version": True},
                                  {k: v for k, v in VERSION_1_ROW.items() if k != "score"},
                                  {**VERSION_1_ROW, "version": VERSION, "scales": {"nice": "mild"}}])
def test_json_that_is_no_result_is_refused(data):
    with pytest.raises(UnreadableResult):
        AssessmentResult.from_json(data)
