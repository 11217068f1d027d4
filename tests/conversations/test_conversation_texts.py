"""Catalogues, message types and the questionnaire mapping: no database, no pipeline run."""
from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

import conversations
from conversations import flows
from conversations.flows.checkin import POSE_CHANGES, reason_key
from conversations.flows.reminders import CADENCE_DAYS
from conversations.flows.start import MENU_ITEMS
from conversations.i18n import LOCALES, catalogue, resolve_locale, t
from conversations.messages import OUTGOING_TYPES, Choices, File, Image, InboundEvent, Text, Typing
from conversations.questionnaire import PROFILE_QUESTIONS, QUESTIONS, parse_number, to_metadata
from pipeline.followup import Verdict
from pipeline.intake import IntakeError
from pipeline.quality import MESSAGES
from pipeline.types import GRADES, NON_ACNE_TYPES, NOT_ASSESSED_WHY, UNSEEN_WHY, ACNE_TYPES, REGIONS, Metadata

SOURCE = Path(conversations.__file__).parent
NAMESPACES = {key.split(".")[0] for key in catalogue("en")}
INTAKE_CODES = ("empty", "too_large", "unsupported_format", "too_many_pixels", "animated", "not_an_image", "corrupt")


def keys_in_code() -> set[str]:
    """Every string literal in conversations/ that looks like a key of our namespaces (f-string parts excluded)."""
    found = set()
    for path in SOURCE.rglob("*.py"):
        if path.name == "names.py":  # step names, which look like keys
            continue
        for literal in re.findall(r'(?<![{\w])"([a-z_]+(?:\.[a-z0-9_]+)+)"', path.read_text(encoding="utf-8")):
            if literal.split(".")[0] in NAMESPACES:
                found.add(literal)
        found |= set(re.findall(r'"([a-z_]+)"', path.read_text(encoding="utf-8"))) & set(catalogue("en"))
    return found


def keys_built_in_code() -> set[str]:
    """The keys the code assembles from data (f"region.{region}" and the like)."""
    keys = {f"region.{r}" for r in REGIONS} | {f"lesion.{k}" for k in ACNE_TYPES + NON_ACNE_TYPES}
    keys |= {f"grade.{g.replace(' ', '_')}" for g in GRADES} | {f"menu.{i}" for i in MENU_ITEMS}
    keys |= {f"unexpected.{kind}" for kind in ("text", "photo", "choice", "other")}
    keys |= {f"command.{name}" for name in flows.COMMAND_MENU} | {f"reminders.cadence.{c}" for c in CADENCE_DAYS}
    keys |= {reason_key(code) for code in (*MESSAGES, "check_failed")} | {reason_key(f"intake.{code}") for code in INTAKE_CODES}
    keys |= {f"field.{q.id}" for q in PROFILE_QUESTIONS} | {f"pose.{k}" for k in POSE_CHANGES}
    keys |= {f"compare.verdict.{v}" for v in typing.get_args(Verdict)}
    keys |= {f"result.region_not_assessed_{why}" for why in NOT_ASSESSED_WHY}
    for q in QUESTIONS.values():
        keys |= {f"q.{q.id}"} | {f"q.{q.id}.{option}" for option in q.options}
    return keys


def test_both_catalogues_have_the_same_keys_and_placeholders():
    english, chinese = catalogue("en"), catalogue("zh")
    assert set(english) == set(chinese)
    for key, text in english.items():
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", chinese[key])), key
        assert text.strip() and chinese[key].strip(), key


def test_every_key_the_code_uses_exists():
    used = keys_in_code() | keys_built_in_code()
    assert len(used) > 150
    assert sorted(used - set(catalogue("en"))) == []


def test_every_text_in_the_catalogue_is_used():
    assert sorted(set(catalogue("en")) - keys_in_code() - keys_built_in_code() - {"quality.unknown"}) == []


def test_every_quality_and_intake_code_has_its_own_text():
    for code in list(MESSAGES) + [f"intake.{c}" for c in INTAKE_CODES]:
        assert reason_key(code) != "quality.unknown", code
    assert IntakeError("corrupt", "x").code in INTAKE_CODES


@pytest.mark.parametrize("hint, locale", [("zh", "zh"), ("zh-hans", "zh"), ("zh-CN", "zh"), ("zh_TW", "zh"),
                                          ("en-GB", "en"), ("de", "en"), (None, "en"), ("", "en")])
def test_locale_from_the_client_hint(hint, locale):
    assert resolve_locale(hint) == locale


def test_texts_are_formatted_per_locale():
    assert t("zh", "busy", n=3) == catalogue("zh")["busy"].format(n=3) and "3" in t("zh", "busy", n=3)
    assert set(LOCALES) == {"en", "zh"}
    assert conversations.command_descriptions("zh")[0] == ("checkin", "新的打卡")


def test_outgoing_types_are_registered_by_name():
    assert OUTGOING_TYPES == {"text": Text, "choices": Choices, "image": Image, "file": File, "typing": Typing}
    assert File("export.zip", b"PK").mime_type == "application/zip"
    assert Text("hi").type == "text" and Typing().type == "typing"
    assert Image(b"\x89PNG", filename="trend.png").mime_type == "image/png"
    choices = Choices("Pick", [("a1b2:x", "X")])
    assert choices.options == (("a1b2:x", "X"),) and hash(choices)


def test_choice_data_fits_telegram_callback_data():
    with pytest.raises(ValueError):
        Choices("Pick", [("x" * 65, "too long")])
    with pytest.raises(ValueError):
        InboundEvent("test", "1", "1", "photo")  # a photo event without the photo
    longest_action = max((f"a.{o}" for q in QUESTIONS.values() for o in q.options), key=len)
    assert len(f"ffff:{longest_action}".encode()) <= 64


def test_answers_map_to_pipeline_metadata():
    metadata = to_metadata({"age": 24, "sex": "female", "skin_type": "oily", "allergies": ["sulfa"],
                            "symptoms": ["bleeding"], "duration": "over_1_year", "frequency": "constant",
                            "current_medication": ["doxycycline", "topical_retinoid", "other"],
                            "pregnancy": "breastfeeding", "condition_after_treatment": "worsened",
                            "distress": "prefer_not_to_say", "biopsy": None})
    assert metadata == Metadata(age=24.0, sex="female", pregnancy="yes", allergies=("sulfa",),
                                current_medication=("doxycycline", "topical retinoid"), symptoms=("bleeding",),
                                duration="more than 1 year", frequency="constant",
                                condition_after_treatment="worsened", distress="prefer_not_to_say")
    assert to_metadata({"sex": "male", "pregnancy": "yes"}).pregnancy is None
    assert to_metadata({}) == Metadata()


def test_pregnancy_is_asked_of_females_only_and_ages_are_parsed():
    pregnancy = QUESTIONS["pregnancy"]
    assert pregnancy.asked({"sex": "female"}) and not pregnancy.asked({"sex": "male"}) and not pregnancy.asked({})
    assert parse_number("24 years", QUESTIONS["age"]) == 24 and parse_number("24岁", QUESTIONS["age"]) == 24
    assert parse_number("two hundred", QUESTIONS["age"]) is None and parse_number("300", QUESTIONS["age"]) is None


def test_every_change_the_pose_check_asks_for_has_a_text():
    from pipeline.pose import Pose, differences

    frontal = Pose(0, 0, 0.5, 120)
    asked = set()
    for other in (Pose(40, 40, 0.2, 200), Pose(-40, -40, 0.9, 40)):
        asked |= set(differences(frontal, other)) | set(differences(other, frontal))
    assert asked == set(POSE_CHANGES)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_grade_raised_by_the_whole_face_view_is_said_in_one_line(locale):
    from conversations.summaries import grade_label, grade_text
    from pipeline.result import AssessmentResult, ImageScale, Quality, Scales
    from pipeline.scoring import GagsResult

    def result(grade: str, image: ImageScale | None) -> AssessmentResult:
        return AssessmentResult(Quality(True), score=24, grade=grade,
                                scales=Scales(None, GagsResult(4, "mild"), "mild-to-moderate", image))

    raised = result("severe", ImageScale("severe", {}, 30.0, "mild", True))
    text = grade_text(locale, raised).splitlines()
    assert len(text) == 2 and grade_label(locale, "mild") in text[1] and grade_label(locale, "severe") in text[1]
    same = result("mild", ImageScale("mild", {}, 12.0, "mild", False))
    assert len(grade_text(locale, same).splitlines()) == 1
    assert len(grade_text(locale, result("mild", None)).splitlines()) == 1  # stored before the head


@pytest.mark.parametrize("locale", LOCALES)
def test_a_check_in_stored_before_results_named_their_version_reads_as_once_written_again(locale):
    """The result message, the history and the export show an old row (version 1) as they show the same result
    written by this version."""
    from datetime import UTC, datetime

    from conversations.export import checkins_csv
    from conversations.summaries import checkin_photos, comparison_text, history_line, result_text
    from pipeline.result import VERSION, AssessmentResult
    from storage import StoredAssessment
    from tests.test_result import VERSION_1_ROW

    def stored(data: dict, day: int) -> StoredAssessment:
        result = AssessmentResult.from_json(data)
        return StoredAssessment(id=day, user_id=1, created_at=datetime(2026, 12, day, tzinfo=UTC),
                                score=result.score, grade=result.grade, grade_personalised=result.personalised_grade,
                                counts=result.counts, result=data, model_version=result.model_version,
                                referral=result.referral, photo_ids=(7,))

    earlier = {**VERSION_1_ROW, "pose": {"yaw": 30.0, "pitch": 0.0, "face_size": 0.5, "brightness": 120.0}}
    old = (earlier, VERSION_1_ROW)
    new = tuple(AssessmentResult.from_json(row).to_json() for row in old)
    assert all("version" not in row for row in old) and all(row["version"] == VERSION for row in new)

    def shown(rows: tuple[dict, dict]) -> tuple:
        first, latest = stored(rows[0], 1), stored(rows[1], 2)
        return (result_text(locale, AssessmentResult.from_json(latest.result), first, latest),
                history_line(locale, 2, latest), comparison_text(locale, first, latest), checkins_csv((first, latest)),
                checkin_photos(latest))

    assert shown(old) == shown(new)
    text, line = shown(old)[:2]
    assert t(locale, "compare.other_pose") in text and t(locale, "history.other_pose") in line


@pytest.mark.parametrize("locale", LOCALES)
def test_the_change_since_last_time_says_whether_it_is_better_the_same_or_worse(locale):
    from datetime import UTC, datetime

    from conversations.summaries import comparison_text, result_text
    from pipeline.result import AssessmentResult
    from storage import StoredAssessment
    from tests.test_result import VERSION_1_ROW

    def stored(day: int, score: int, look: dict[str, float]) -> StoredAssessment:
        data = AssessmentResult.from_json(VERSION_1_ROW).to_json()
        data["score"] = score
        data["scales"]["image"]["probabilities"] = look
        result = AssessmentResult.from_json(data)
        return StoredAssessment(id=day, user_id=1, created_at=datetime(2026, 12, day, tzinfo=UTC), score=score,
                                grade=result.grade, grade_personalised=None, counts=result.counts, result=data,
                                model_version=None, referral=False, photo_ids=(day,))

    moderate, mild = {"mild": 0.05, "moderate": 0.9, "severe": 0.05}, {"mild": 0.9, "moderate": 0.1, "severe": 0.0}
    first, retake, healed = stored(1, 30, moderate), stored(2, 34, moderate), stored(3, 6, mild)

    def verdict(before: StoredAssessment, after: StoredAssessment) -> str:
        text = result_text(locale, AssessmentResult.from_json(after.result), before, after)
        (line,) = [line for line in text.splitlines() if line.startswith(t(locale, "compare.verdict.same")[:3])]
        assert line in comparison_text(locale, before, after).splitlines()
        return line

    assert verdict(first, retake) == t(locale, "compare.verdict.same")
    assert verdict(first, healed) == t(locale, "compare.verdict.better")
    assert verdict(healed, first) == t(locale, "compare.verdict.worse")


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_a_region_not_assessed_is_told_why_and_a_result_stored_before_reasons_reads_as_before(locale):
    """The reason a region was left out travels in the stored result (`why`) to the findings text; a row stored
    before reasons existed says "not assessed" as it did."""
    from conversations.summaries import findings_text, region_label
    from pipeline.result import AssessmentResult
    from tests.test_result import VERSION_1_ROW

    old = AssessmentResult.from_json(VERSION_1_ROW)
    right = region_label(locale, "right_cheek")
    assert t(locale, "result.region_not_assessed", region=right) in findings_text(locale, old).splitlines()
    for why in NOT_ASSESSED_WHY:
        data = {**VERSION_1_ROW, "regions": {**VERSION_1_ROW["regions"],
                                              "right_cheek": {"assessed": False, "counts": {}, "why": why}}}
        result = AssessmentResult.from_json(data)
        assert result.regions["right_cheek"].why == why and result.to_json()["regions"] == data["regions"]
        lines = findings_text(locale, result).splitlines()
        assert t(locale, f"result.region_not_assessed_{why}", region=right) in lines


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_part_of_the_face_unseen_says_the_grade_may_be_higher_and_a_skipped_region_does_not(locale):
    """The grade sums the regions seen: where part of the face could not be seen the patient is told it may be
    higher; a region the patient skipped as having no acne (no photo of it) does not say so."""
    from conversations.summaries import grade_text
    from pipeline.result import AssessmentResult
    from tests.test_result import VERSION_1_ROW

    def with_right_cheek(why: str | None) -> AssessmentResult:
        cheek = {"assessed": False, "counts": {}, **({"why": why} if why else {})}
        return AssessmentResult.from_json({**VERSION_1_ROW, "regions": {**VERSION_1_ROW["regions"],
                                                                         "right_cheek": cheek}})

    unseen = t(locale, "result.grade_unseen", regions=t(locale, "region.right_cheek"))
    for why in UNSEEN_WHY:
        assert unseen in grade_text(locale, with_right_cheek(why)).splitlines()
    for why in ("no_photo", None):  # skipped, or stored before reasons
        assert catalogue(locale)["result.grade_unseen"].split("{regions}")[0] not in grade_text(
            locale, with_right_cheek(why))
