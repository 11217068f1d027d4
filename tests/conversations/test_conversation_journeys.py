"""The patient's journey through Engine.handle on SQLite and PostgreSQL, with real photos and the real pipeline."""
from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from conversation_support import Patient
from tests.conftest import SHARED_DATA
from conversations import Choices, Engine, Image, Text, Typing, jobs
from conversations.questionnaire import PROFILE_QUESTIONS
from pipeline.result import AssessmentResult

pytestmark = pytest.mark.asyncio
GRADE = re.compile(r"Severity: (clear|mild|moderate|severe|very severe) \(score \d+\)")


async def consented(engine: Engine, user_id: str = "patient", locale: str = "en") -> Patient:
    patient = Patient(engine, user_id, locale=locale)
    await patient.command("start")
    await patient.tap("yes")
    return patient


async def user_row_counts(db, patient: Patient) -> dict[str, int]:
    user = await db.users.find_user(patient.channel, patient.user_id)
    counts = await db.erasure.count_rows_for_user(user.id)
    return {table: n for table, n in counts.items() if n}


async def test_declining_consent_stores_nothing_but_the_answer(engine, db):
    patient = Patient(engine)
    await patient.command("start")
    assert "not a medical diagnosis" in patient.texts and "180 days" in patient.texts
    assert [label for _, label in patient.choices.options][:2] == ["Accept", "Decline"]
    await patient.text("hello")  # before consent everything brings the consent prompt back
    assert "Do you agree" in patient.texts
    await patient.tap("no")
    assert "store nothing but your answer" in patient.texts
    await patient.other()
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert user.consent == "declined"
    assert await user_row_counts(db, patient) == {"users": 1}


async def test_a_photo_before_consent_gets_one_line_not_the_whole_welcome(engine, db, face_photo):
    patient = Patient(engine)
    await patient.photo(face_photo)  # the very first message: the welcome has not been shown yet
    assert "not a medical diagnosis" in patient.texts and "Tap Accept first" in patient.texts
    await patient.photo(face_photo)  # again, having seen it
    (line,) = patient.replies
    assert line.text == "Tap Accept first, then send your photo again."
    assert [label for _, label in line.options][:2] == ["Accept", "Decline"]
    await patient.tap("yes")
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert await db.photos.list_photos(user.id) == []  # the photos were not kept


async def test_full_face_checkin_then_a_second_visit_shows_the_change(engine, db, face_photo, second_face_photo,
                                                                      shipped_model):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    assert "whole face" in patient.texts
    await patient.photo(face_photo)
    assert "✓ Photo received" in patient.texts and "How old are you?" in patient.texts
    await patient.text("twenty")  # not a number: asked again
    assert "between 1 and 120" in patient.texts and "How old are you?" in patient.texts
    await patient.text("24 years")
    await patient.tap("a.female")
    while "Are you pregnant" not in patient.texts:
        await patient.tap("skip")
    await patient.tap("a.no")
    await patient.skip_questions()

    assert [type(m) for m in patient.progress] == [Text, Typing]  # sent before the assessment ran
    assert "Analysing" in patient.progress[0].text
    # One message with the picture: grade, score, counts and notice in its caption; then the advice and the menu.
    result, then = patient.replies
    assert isinstance(result, Image) and result.data[:2] == b"\xff\xd8"
    assert GRADE.search(result.caption), result.caption
    assert "Found per area:" in result.caption and "• Forehead:" in result.caption
    assert "not a medical diagnosis" in result.caption and "What you can do:" not in result.caption
    assert "Change since" not in result.caption  # nothing to compare with yet
    assert isinstance(then, Choices) and then.text.startswith("What you can do:")
    assert then.text.endswith("What would you like to do?")  # back to the menu
    labels = [label for _, label in then.options]
    assert labels[0] == "New check-in" and labels[-1] == "Remind me"  # reminders offered in the same prompt

    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(second_face_photo)  # another face, posed otherwise: said before anything is analysed
    assert "This photo is not taken like the one of" in patient.texts and patient.data_for("retake")
    await patient.tap("go_on")
    assert "How old are you?" not in patient.texts  # the profile is answered once
    assert re.search(r"Anything new since your last check-in on \d{4}-\d\d-\d\d\?", patient.texts)
    await patient.tap("update")  # the visit questions again, each with the answer on file
    assert "Do your spots do any of this?" in patient.texts
    while "weigh heavily on your mood" not in patient.texts:
        await patient.tap("skip")
    assert "Current answer: —" in patient.texts  # skipped the first time
    await patient.tap("a.yes")  # a red flag: the doctor notice comes right after the grade
    result, then = patient.replies
    assert GRADE.search(result.caption)
    notice = result.caption.index("⚠️ Please see a doctor")
    assert GRADE.search(result.caption).end() < notice < result.caption.index("Found per area:")
    change = re.search(r"Change since \d{4}-\d\d-\d\d .*score \d+ → \d+ \([+-]\d+\)", result.caption)
    assert change and GRADE.search(result.caption).end() < change.start() < notice, result.caption
    assert "• Forehead:" in result.caption.split("Change since")[1]

    user = await db.users.find_user(patient.channel, patient.user_id)
    saved = await db.assessments.list_assessments(user.id)
    assert len(saved) == 2 and all(len(a.photo_ids) == 1 for a in saved)
    assert (await db.profiles.load_profile(user.id)).answers["age"] == 24
    assert saved[0].result["answers"]["age"] == 24  # each visit keeps its answers (for the export)
    logged = await db.messages.list_messages(user.id, limit=500)
    photos_in = [m for m in logged if m.direction == "in" and m.kind == "photo"]
    assert [m.photo_id for m in photos_in] == [a.photo_ids[0] for a in saved]
    assert await db.photos.load_photo(saved[0].photo_ids[0], user.id) == face_photo  # stored, decrypts


async def test_region_checkin_reports_a_skipped_region_as_not_assessed(engine, db, closeup_photo, shipped_model):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("regions")
    assert "forehead" in patient.texts
    await patient.photo(closeup_photo)  # a close-up "of the forehead"
    assert "✓ Forehead: photo received" in patient.texts and "your nose" in patient.texts
    for _ in range(4):  # nose, both cheeks, chin: no acne there
        await patient.tap("skip")
    assert "Chin: skipped" in patient.texts and "How old are you?" in patient.texts
    await patient.skip_questions()
    assert GRADE.search(patient.texts)
    assert "• Nose: not assessed, no photo of it" in patient.texts
    assert "• Chin: not assessed, no photo of it" in patient.texts
    assert re.search(r"• Forehead: (no acne found|\w+ \d)", patient.texts)
    user = await db.users.find_user(patient.channel, patient.user_id)
    (saved,) = await db.assessments.list_assessments(user.id)
    assert saved.counts["nose"] is None and saved.counts["forehead"] is not None


async def test_unusable_photos_get_a_retake_request_with_the_reason(engine, db, dark_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(dark_photo)
    assert "I can't use this photo" in patient.texts and "too dark" in patient.texts
    assert "send one photo of your whole face" in patient.texts  # asked again
    await patient.photo(b"%PDF-1.4 definitely not a photo")
    assert "not a photo I can read" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert await db.photos.list_photos(user.id) == []  # unusable photos are not kept


async def test_a_whole_face_sent_in_a_region_check_in_covers_every_region_it_shows(engine, db, face_photo,
                                                                                 shipped_model):
    """Asked for the forehead, the patient sends a selfie of the whole face: it becomes the check-in's full-face
    photo, no other region is asked for, and every region is assessed from it (not the whole face's lesions as
    the forehead's)."""
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("regions")
    await patient.photo(face_photo)
    assert "This photo shows your whole face, so I'll check these areas from it: Forehead, Nose, Left cheek, Right " \
           "cheek, Chin." in patient.texts
    assert "How old are you?" in patient.texts  # nothing more to send
    await patient.skip_questions()
    assert GRADE.search(patient.texts) and "not assessed" not in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    (stored,) = await db.photos.list_photos(user.id)
    assert stored.region is None  # a full-face photo
    (saved,) = await db.assessments.list_assessments(user.id)
    assert all(saved.counts[r] is not None for r in ("forehead", "nose", "left_cheek", "right_cheek", "chin"))


async def test_a_turned_face_sent_in_a_region_check_in_leaves_the_hidden_cheek_to_ask_for(engine, db, shipped_model):
    from pipeline.assess import prepare
    from tests.conftest import THREE_QUARTER, _valid_photo

    turned = _valid_photo(THREE_QUARTER)
    hidden = next(r for r in ("left_cheek", "right_cheek") if not prepare(turned).view.assessed[r])
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("regions")
    await patient.photo(turned)  # for the forehead
    assert "This photo shows your whole face" in patient.texts
    assert f"your {hidden.replace('_', ' ')}" in patient.texts  # the only region still asked for
    await patient.tap("skip")
    assert "How old are you?" in patient.texts


async def test_a_close_up_sent_as_a_face_photo_is_used_for_the_region_the_patient_taps(engine, db, closeup_photo,
                                                                                      shipped_model):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(closeup_photo)  # inflamed cheek skin filling the frame: no face in it
    assert "looks like a close-up" in patient.texts and "tap which part of your face it shows" in patient.texts
    assert [label for _, label in patient.choices.options] == ["Forehead", "Nose", "Left cheek", "Right cheek", "Chin"]
    await patient.tap("left_cheek")  # not sent again: the photo already sent is the left cheek's
    assert "✓ Left cheek: photo received" in patient.texts and "forehead" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    (stored,) = await db.photos.list_photos(user.id)
    assert stored.region == "left_cheek" and await db.photos.load_photo(stored.id, user.id) == closeup_photo
    for _ in range(4):  # forehead, nose, right cheek, chin
        await patient.tap("skip")
    await patient.skip_questions()
    assert GRADE.search(patient.texts)
    assert re.search(r"• Left cheek: (no acne found|\w+ \d)", patient.texts)
    assert "• Forehead: not assessed, no photo of it" in patient.texts
    (saved,) = await db.assessments.list_assessments(user.id)
    assert list(saved.photo_ids) == [stored.id] and saved.counts["left_cheek"] is not None


async def test_a_close_up_the_patient_does_not_place_is_deleted(engine, db, face_photo, closeup_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(closeup_photo)
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert len(await db.photos.list_photos(user.id)) == 1  # kept while the patient is asked where it is from
    await patient.photo(face_photo)  # a whole face after all
    assert "Photo received" in patient.texts
    (kept,) = await db.photos.list_photos(user.id)
    assert await db.photos.load_photo(kept.id, user.id) == face_photo  # the close-up is gone

    await patient.command("checkin")
    await patient.tap("face")
    await patient.photo(closeup_photo)
    assert len(await db.photos.list_photos(user.id)) == 2
    await patient.command("checkin")  # started again: the close-up waiting for its region goes too
    assert [p.id for p in await db.photos.list_photos(user.id)] == [kept.id]
    await patient.tap("face")
    await patient.photo(closeup_photo)
    assert "tap which part of your face it shows" in patient.texts
    await patient.command("cancel")  # and so it does on /cancel
    assert [p.id for p in await db.photos.list_photos(user.id)] == [kept.id]


async def test_declining_a_close_up_stored_before_keeps_the_earlier_check_ins_photo(engine, db, face_photo,
                                                                                  closeup_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("regions")
    await patient.photo(closeup_photo)  # the forehead's close-up, kept for this check-in
    assert "✓ Forehead: photo received" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    (earlier,) = await db.photos.list_photos(user.id)
    await patient.command("checkin")
    await patient.tap("face")
    await patient.photo(closeup_photo)  # the same bytes again, now as the whole face: stored once, under one id
    assert "tap which part of your face it shows" in patient.texts
    await patient.photo(face_photo)  # declined: that id is the earlier check-in's photo, so it stays
    assert earlier.id in [p.id for p in await db.photos.list_photos(user.id)]
    assert await db.photos.load_photo(earlier.id, user.id) == closeup_photo


async def test_a_photo_with_no_face_and_no_skin_offers_close_ups_area_by_area_and_keeps_nothing(engine, db, face_photo):
    from tests.bad_input import images

    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(images.drawn_shape(face_photo))  # no face, and no skin to take as a close-up
    assert "No face found" in patient.texts and "send them area by area instead" in patient.texts
    assert [action for action, _ in patient.choices.options][0].endswith(":regions")
    await patient.tap("regions")
    assert "forehead" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert await db.photos.list_photos(user.id) == []


async def test_a_photo_refused_for_another_reason_offers_no_switch_to_close_ups(engine, db, dark_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(dark_photo)
    assert "too dark" in patient.texts
    with pytest.raises(AssertionError, match="no buttons"):  # no face was missing, so no switch is offered
        patient.choices


async def test_history_lists_check_ins_draws_the_trend_and_compares_two(engine, db, face_photo, second_face_photo):
    patient = await consented(engine)
    await patient.tap("history")
    assert "no check-ins yet" in patient.texts
    user = await db.users.find_user(patient.channel, patient.user_id)
    for photo, score, papules in ((face_photo, 30, 5), (second_face_photo, 12, 2)):
        photo_id = await db.photos.save_photo(user.id, photo)
        result = AssessmentResult.from_json(stored_result(score, papules))
        await db.assessments.save_assessment(user.id, result, [photo_id])
    await patient.tap("history")
    assert "Your check-ins (2):" in patient.texts and "score 30" in patient.texts
    (chart,) = patient.images
    assert chart.filename == "trend.png" and chart.data.startswith(b"\x89PNG")
    await patient.tap("compare")
    first, second = [d.split(":", 1)[1] for d, _ in patient.choices.options[:2]]
    await patient.tap(first)
    assert first not in [d.split(":", 1)[1] for d, _ in patient.choices.options]  # the second is another one
    await patient.tap(second)
    assert "score 30 → 12 (-18)" in patient.texts and "papules 5 → 2" in patient.texts
    (side_by_side,) = patient.images
    assert side_by_side.data[:2] == b"\xff\xd8" and isinstance(patient.replies[-1], Choices)


async def test_the_trend_chart_speaks_the_patients_language(engine, db, face_photo):
    charts = {}
    for locale in ("en", "zh-CN"):
        patient = await consented(engine, f"patient-{locale}", locale)
        user = await db.users.find_user(patient.channel, patient.user_id)
        for day, score in ((1, 30), (8, 12)):
            result = AssessmentResult.from_json(stored_result(score, 2))
            await db.assessments.save_assessment(user.id, result, [await db.photos.save_photo(user.id, face_photo)],
                                                 created_at=datetime(2026, 11, day, tzinfo=UTC))
        await patient.tap("history")
        (chart,) = patient.images
        charts[locale] = chart.data
    assert charts["en"].startswith(b"\x89PNG") and charts["zh-CN"].startswith(b"\x89PNG")
    assert charts["en"] != charts["zh-CN"]  # the same scores and days, the words drawn in another language


def stored_result(score: int, papules: int) -> dict:
    counts = {"comedone": 1, "papule": papules, "pustule": 0, "nodule": 0, "spot": 0, "scar": 0, "mole": 0}
    return {"quality": {"ok": True, "reasons": []},
            "regions": {r: {"assessed": True, "counts": counts}
                        for r in ("forehead", "nose", "left_cheek", "right_cheek", "chin")},
            "lesions": [{"region": "forehead", "type": "papule", "x": 200, "y": 120, "w": 12, "h": 12,
                         "confidence": 0.9}],
            "score": score, "grade": "mild", "not_assessed": [], "advice": [], "avoid": [],
            "refer": {"needed": False, "urgent": False, "reasons": [], "codes": []},
            "grade_personalised": {"grade": "mild", "reasons": [], "codes": []}, "notice": "Not a diagnosis.",
            "model": {"name": "test", "version": "1"}}


async def test_the_first_visit_asks_nine_questions_at_most_and_offers_to_skip_them_once(engine, db, face_photo,
                                                                                        shipped_model):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    assert "with “Skip the questions” the advice will not take into account your age, sex, pregnancy" in patient.texts
    assert patient.data_for("skip_all")  # offered on the first question
    asked = ["How old are you?", "What is your sex?"]
    await patient.text("19")
    await patient.tap("a.female")  # pregnancy is asked of females only: the longest questionnaire
    while patient._asking():
        asked.append(patient.choices.text.split("\n")[0])
        assert not any(d.endswith(":skip_all") for d, _ in patient.choices.options)  # once only
        await patient.tap("skip")
    assert GRADE.search(patient.texts)
    print(f"first visit: {len(asked)} questions: {asked}")
    assert len(asked) == 9  # 16 before: skin type, skin and family history, biopsy, frequency, other problem,
    #                        past medication changed nothing in the advice or the doctor notice


async def test_skip_the_questions_goes_straight_to_the_result(engine, db, face_photo, shipped_model):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    await patient.tap("skip_all")
    assert GRADE.search(patient.texts)
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert set((await db.profiles.load_profile(user.id)).answers.values()) == {None}  # not asked again
    (saved,) = await db.assessments.list_assessments(user.id)
    assert saved.result["answers"]["symptoms"] is None
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    assert "Anything new since" in patient.texts and "How old are you?" not in patient.texts


def acne04(name: str) -> bytes:
    path = SHARED_DATA / "acne04" / "images" / name
    if not path.is_file():
        pytest.skip(f"ACNE04 photo not found at {path} (set ACNEBOT_SHARED_DATA)")
    return path.read_bytes()


async def full_face_check_in(patient: Patient, photo: bytes) -> None:
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(photo)


async def test_the_pose_check_passes_the_same_pose_and_warns_on_a_turned_face_before_the_analysis(engine, db,
                                                                                                shipped_model):
    # One patient photographed twice from her right side (ACNE04, one session): comparable, no warning.
    same = await consented(engine, "same-side")
    await full_face_check_in(same, acne04("levle0_449.jpg"))
    await same.skip_questions()
    await full_face_check_in(same, acne04("levle0_450.jpg"))
    assert "not taken like" not in same.texts and "Anything new since" in same.texts
    await same.tap("same")
    assert GRADE.search(same.texts) and "another angle" not in same.texts

    # Another patient turned to her left the first time, to her right the second: told before the analysis.
    turned = await consented(engine, "both-sides")
    await full_face_check_in(turned, acne04("levle0_21.jpg"))
    await turned.skip_questions()
    await full_face_check_in(turned, acne04("levle0_22.jpg"))
    assert "turn your head a little to your left, like last time" in turned.texts
    assert not turned.progress and "Analysing" not in turned.texts  # nothing analysed yet
    await turned.tap("retake")
    assert "send one photo of your whole face" in turned.texts
    await turned.photo(acne04("levle0_22.jpg"))  # the same again: warned again
    assert "turn your head a little to your left" in turned.texts
    await turned.photo(acne04("levle0_22.jpg"))  # a new photo instead of the button: taken again, warned again
    assert "turn your head a little to your left" in turned.texts and "wasn't expecting" not in turned.texts
    await turned.tap("go_on")
    await turned.tap("same")
    result, _ = turned.replies
    assert GRADE.search(result.caption) and "⚠ The photos were taken from another angle" in result.caption
    user = await db.users.find_user(turned.channel, turned.user_id)
    first, second = await db.assessments.list_assessments(user.id)
    assert first.result["pose"]["yaw"] > 25 and second.result["pose"]["yaw"] < -25
    assert second.result["pose_check"]["differences"] == ["turn_left"] and len(second.photo_ids) == 1
    await turned.tap("history")  # the history marks the comparison made across poses
    lines = [line for line in turned.texts.splitlines() if line[:2] in ("1.", "2.")]
    assert "other pose" not in lines[0] and "⚠ other pose than the check-in before" in lines[1]


async def returning_patient(engine, db, *, symptoms: list[str], asked: str) -> Patient:
    """A patient with a profile and one earlier check-in whose visit answers were given on `asked`."""
    patient = await consented(engine)
    user = await db.users.find_user(patient.channel, patient.user_id)
    await db.profiles.save_profile(user.id, {**{q.id: None for q in PROFILE_QUESTIONS}, "age": 30, "sex": "female"})
    answers = {"age": 30, "sex": "female", "symptoms": symptoms, "current_medication": ["doxycycline"],
               "pregnancy": "no", "condition_after_treatment": "improved", "distress": "no"}
    await db.assessments.save_assessment(user.id, AssessmentResult.from_json(
        {**stored_result(20, 3), "answers": answers, "asked": {k: asked for k in answers if k not in ("age", "sex")}}))
    return patient


async def test_a_returning_patient_keeps_every_answer_with_one_tap(engine, db, face_photo, shipped_model):
    patient = await returning_patient(engine, db, symptoms=["itching"], asked=datetime.now(UTC).date().isoformat())
    actions = 0
    for step in (lambda: patient.tap("checkin"), lambda: patient.tap("face"), lambda: patient.photo(face_photo)):
        await step()
        actions += 1
    assert "Anything new since your last check-in on" in patient.texts and "more than 28 days" not in patient.texts
    await patient.tap("same")
    actions += 1
    assert GRADE.search(patient.texts) and actions == 4
    user = await db.users.find_user(patient.channel, patient.user_id)
    latest = await db.assessments.latest_assessment(user.id)
    assert latest.result["answers"]["current_medication"] == ["doxycycline"]
    assert latest.result["answers"]["symptoms"] == ["itching"]
    assert "isotretinoin" not in " ".join(latest.result["advice"])  # doxycycline on file still counts


async def test_a_patient_from_before_the_short_path_is_not_asked_the_duration_again(engine, db, face_photo,
                                                                                    shipped_model):
    patient = await consented(engine)
    user = await db.users.find_user(patient.channel, patient.user_id)
    await db.profiles.save_profile(user.id, {"age": 30, "sex": "male", "allergies": [], "skin_type": "oily"})
    answers = {"age": 30, "sex": "male", "allergies": [], "duration": "over_1_year", "frequency": "constant",
               "symptoms": [], "current_medication": [], "condition_after_treatment": None, "distress": "no"}
    no_asked = AssessmentResult.from_json({**stored_result(20, 3), "answers": answers})
    await db.assessments.save_assessment(user.id, no_asked)
    await full_face_check_in(patient, face_photo)
    assert "How long have you had acne?" not in patient.texts and "Anything new since" in patient.texts
    await patient.tap("same")
    latest = await db.assessments.latest_assessment(user.id)
    assert latest.result["answers"]["duration"] == "over_1_year"
    assert (await db.profiles.load_profile(user.id)).answers["duration"] == "over_1_year"


async def test_red_flag_answers_older_than_four_weeks_are_asked_again(engine, db, face_photo, shipped_model):
    old = (datetime.now(UTC) - timedelta(days=29)).date().isoformat()
    patient = await returning_patient(engine, db, symptoms=["bleeding"], asked=old)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    assert "more than 28 days old, so I will ask it again" in patient.texts
    await patient.tap("same")
    assert "Do your spots do any of this?" in patient.texts and "Current answer: Bleeding" in patient.texts
    assert "✓ Bleeding" in [label for _, label in patient.choices.options]  # the answer on file, to change
    await patient.tap("t.bleeding")  # no longer bleeding
    await patient.tap("done")
    assert GRADE.search(patient.texts)
    user = await db.users.find_user(patient.channel, patient.user_id)
    latest = await db.assessments.latest_assessment(user.id)
    assert latest.result["answers"]["symptoms"] == []
    assert latest.result["asked"]["symptoms"] == datetime.now(UTC).date().isoformat()
    assert latest.result["asked"]["distress"] == old  # carried over, as it was given


async def test_delete_erases_every_row_of_the_patient(engine, db, face_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    await patient.text("30")
    user = await db.users.find_user(patient.channel, patient.user_id)
    await db.assessments.save_assessment(user.id, AssessmentResult.from_json(stored_result(8, 1)))
    await patient.command("delete")
    assert "cannot be undone" in patient.texts
    await patient.tap("no")
    assert "Nothing was deleted" in patient.texts
    before = await user_row_counts(db, patient)
    assert before["photos"] == 1 and before["assessments"] == 1 and before["profiles"] == 1
    await patient.tap("data")
    assert "check-ins: 1" in patient.texts and "• Age: 30" in patient.texts
    await patient.tap("delete")
    erase = patient.event("choice", patient.data_for("yes"))
    await patient.send(erase)
    assert "All your data has been deleted" in patient.texts
    assert set((await db.erasure.count_rows_for_user(user.id)).values()) == {0}
    assert await engine.handle(erase) == []  # a redelivery of the confirmation is still answered once
    assert await db.users.find_user(patient.channel, patient.user_id) is None


async def test_a_redelivered_message_is_handled_once(engine, db):
    patient = await consented(engine)
    event = patient.event("choice", patient.data_for("checkin"))
    assert await patient.send(event)
    assert await engine.handle(event) == []
    user = await db.users.find_user(patient.channel, patient.user_id)
    assert sum(m.direction == "in" for m in await db.messages.list_messages(user.id)) == 2  # accept + checkin


async def test_a_button_from_an_earlier_message_is_recognised(engine):
    patient = await consented(engine)
    old_menu_checkin = patient.data_for("checkin")
    await patient.tap("reminders")
    await patient.send(patient.event("choice", old_menu_checkin))
    assert "from an earlier message" in patient.texts and "How often should I remind you?" in patient.texts
    await patient.tap("weekly")
    assert "At what time of day?" in patient.texts


async def test_unexpected_input_gets_a_helpful_answer(engine, face_photo):
    patient = await consented(engine)
    await patient.other()  # a sticker at the menu
    assert "can't use stickers" in patient.texts and "tap one of the buttons" in patient.texts
    assert isinstance(patient.replies[-1], Choices)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.text("here it comes")
    assert "wasn't expecting a text" in patient.texts and "Please send a photo" in patient.texts
    await patient.photo(face_photo)
    await patient.tap("skip")  # age
    await patient.photo(face_photo)  # a photo where a button is expected
    assert "wasn't expecting a photo" in patient.texts and "What is your sex?" in patient.texts
    await patient.command("nonsense")
    assert "don't know that command" in patient.texts and "What is your sex?" in patient.texts


async def test_cancel_mid_flow_returns_to_the_menu(engine, db, face_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("regions")
    await patient.photo(face_photo)
    await patient.command("cancel")
    assert "Cancelled." in patient.texts and patient.choices.text == "What would you like to do?"
    user = await db.users.find_user(patient.channel, patient.user_id)
    state = await db.states.load_state(user.id, for_update=False)
    assert state.step == "menu" and "checkin" not in state.data


async def test_an_unfinished_check_in_resumes_after_a_restart(open_db, pool, face_photo, shipped_model,
                                                              monkeypatch):
    first_db = await open_db()
    patient = await consented(Engine(first_db, pool))
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    await patient.text("19")
    question = patient.choices.text
    await first_db.close()

    db = await open_db()
    patient.engine = Engine(db, pool)  # the service restarted in the middle of the questions
    await patient.command("start")
    assert "continue your check-in" in patient.texts and patient.choices.text == question

    async def dies(ctx, args):  # the service stops while the assessment runs
        raise asyncio.CancelledError
    monkeypatch.setitem(jobs.JOBS, "assess", dies)
    with pytest.raises(asyncio.CancelledError):
        await patient.skip_questions()
    monkeypatch.undo()
    user = await db.users.find_user(patient.channel, patient.user_id)
    state = await db.states.load_state(user.id, for_update=False)
    assert state.step == "checkin.analysing"
    state.data["analysis"]["started"] = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    await db.states.save_state(state)

    patient.engine = Engine(db, pool)  # started again: the patient's next message restarts the analysis
    await patient.command("start")
    assert GRADE.search(patient.texts) and patient.images
    assert len(await db.assessments.list_assessments(user.id)) == 1


async def test_album_photos_are_all_checked(engine, db, face_photo, second_face_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    album = [patient.event("photo", photo=p, media_group="album-1") for p in (face_photo, second_face_photo)]
    replies = await asyncio.gather(*(Patient.send(Patient(engine, patient.user_id), e) for e in album))
    texts = "\n".join(m.text for r in replies for m in r if isinstance(m, (Text, Choices)))
    assert texts.count("✓ Photo received") == 2 and texts.count("How old are you?") == 1
    user = await db.users.find_user(patient.channel, patient.user_id)
    state = await db.states.load_state(user.id, for_update=False)
    assert [p["status"] for p in state.data["checkin"]["photos"]] == ["ok", "ok"]
    assert len(await db.photos.list_photos(user.id)) == 2


async def test_a_full_queue_tells_the_patient_to_wait_and_drops_nothing(engine, pool, face_photo):
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    busy = [asyncio.create_task(pool.run(time.sleep, 0.3)) for _ in range(pool.workers)]
    await asyncio.sleep(0.05)
    await patient.photo(face_photo)
    assert "number 1 in line" in patient.progress[0].text
    assert "✓ Photo received" in patient.texts
    await asyncio.gather(*busy)


async def test_profile_answers_can_be_edited_from_my_data(engine, db):
    patient = await consented(engine)
    await patient.tap("data")
    await patient.tap("edit")
    await patient.text("41")
    await patient.tap("a.male")
    await patient.tap("t.sulfa")
    assert patient.replies[-1].edit and "✓ Sulfa drugs" in [l for _, l in patient.choices.options]
    await patient.tap("done")
    while "Your answers are saved" not in patient.texts:
        await patient.tap("skip")  # duration: keep (unanswered)
    assert "• Age: 41" in patient.texts and "• Sex: Male" in patient.texts
    assert "• Drug allergies: Sulfa drugs" in patient.texts


async def test_chinese_patients_get_chinese_texts(engine, dark_photo):
    patient = Patient(engine, "zh-patient", locale="zh-CN")
    await patient.command("start")
    assert "不是医学诊断" in patient.texts and patient.choices.options[0][1] == "同意"
    await patient.tap("yes")
    assert patient.choices.text == "你想做什么？"
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(dark_photo)
    assert "照片太暗" in patient.texts
    await patient.command("language")
    await patient.tap("lang.en")
    assert "Language set to English." in patient.texts and "whole face" in patient.texts  # back where it was


async def test_a_failed_assessment_keeps_the_check_in_for_a_retry(engine, db, face_photo, monkeypatch):
    async def fails(ctx, args):
        raise RuntimeError("model file missing")
    monkeypatch.setitem(jobs.JOBS, "assess", fails)
    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)
    await patient.skip_questions()
    assert "something went wrong" in patient.texts and patient.data_for("retry")
    await patient.tap("retry")
    assert "something went wrong" in patient.texts  # still failing: asked again, nothing lost
    user = await db.users.find_user(patient.channel, patient.user_id)
    state = await db.states.load_state(user.id, for_update=False)
    assert state.step == "checkin.analysis_failed" and state.data["checkin"]["photos"][0]["status"] == "ok"
    await patient.tap("menu")
    assert patient.choices.text == "What would you like to do?"


async def test_work_whose_result_cannot_be_stored_goes_back_to_the_queue_and_is_finished_once(
        engine, db, face_photo, shipped_model, monkeypatch):
    """The database refuses the finished assessment (not a lost connection, so no retry): the turn fails, its row
    of the work table is queued again at once, and whoever claims it next assesses again and stores one result."""
    from sqlalchemy.exc import OperationalError

    patient = await consented(engine)
    await patient.tap("checkin")
    await patient.tap("face")
    await patient.photo(face_photo)

    async def refused(*args, **kwargs):
        raise OperationalError("INSERT INTO assessments", {}, Exception("disk I/O error"))
    monkeypatch.setattr(db.assessments, "save_assessment", refused)
    with pytest.raises(OperationalError):
        await patient.tap("skip_all")
    monkeypatch.undo()
    user = await db.users.find_user(patient.channel, patient.user_id)
    (row,) = await db.work.pending(user.id)
    assert (row.job, row.status, row.owner) == ("assess", "queued", None)

    other = Engine(db, engine.pool, owner="worker-2")
    (claimed,) = await db.work.claim("worker-2", datetime.now(UTC), timedelta(minutes=10))
    result = await other.finish_item(claimed)
    assert GRADE.search("\n".join(m.caption if isinstance(m, Image) else m.text for m in result if
                                  isinstance(m, (Text, Image))))
    assert not await db.work.pending(user.id)
    assert len(await db.assessments.list_assessments(user.id)) == 1
    assert not await db.work.claim("worker-3", datetime.now(UTC), timedelta(minutes=10))  # finished once
