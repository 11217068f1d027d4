"""Issue 9 on Telegram, end to end against the fake Bot API, on SQLite and PostgreSQL: the data export (the ZIP
the fake server received, read back), the first-vs-latest picture (the render function's inputs and the image's
size), and a handover to a person (the patient's messages kept and acknowledged once, two staff members taking
it at once, a reply pushed to the chat, a blocked patient, closing from either side).

Check-ins are stored directly (real photos from the shared data, results shaped like the pipeline's), so the
tests need no assessment run; everything after that goes through the service as a patient would use it."""
from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import timedelta

import pytest
from PIL import Image

import conversations.export
import work.pictures
from bot.service.app import ENGINE, HANDOVERS
from conversations.flows.handover import HandoverNotHeld
from pipeline.intake import load_photo
from pipeline.render import BEFORE_AFTER_GAP, BEFORE_AFTER_HEADER, BEFORE_AFTER_PANEL
from pipeline.result import AssessmentResult
from storage.columns import utcnow

pytestmark = pytest.mark.asyncio
TYPES = ("comedone", "papule", "pustule", "nodule", "spot", "scar", "mole")
REGIONS = ("forehead", "nose", "left_cheek", "right_cheek", "chin")


def checkin_result(photo_id: int, score: int, papules: dict[str, int], answers: dict) -> dict:
    """A stored check-in as flows/result.py saved it before results named their version (the JSON + photos +
    answers)."""
    regions = {r: {"assessed": r != "chin", "counts": {t: (papules.get(r, 0) if t == "papule" else 0) for t in TYPES}}
               for r in REGIONS}
    return {"quality": {"ok": True, "reasons": []}, "regions": regions,
            "lesions": [{"region": "forehead", "type": "papule", "x": 200, "y": 120, "w": 14, "h": 14,
                         "confidence": 0.9}],
            "score": score, "grade": "mild" if score < 40 else "moderate", "not_assessed": ["chin"],
            "scales": {"hayashi": None, "gags": {"score": 4, "grade": "mild"}, "nice": "mild"},
            "advice": ["Wash twice a day."], "avoid": [], "refer": {"needed": False, "urgent": False, "reasons": [],
                                                                    "codes": []},
            "grade_personalised": {"grade": None, "reasons": [], "codes": []}, "notice": "Not a diagnosis.",
            "model": {"name": "acne-regnet-student", "version": "3"},
            "photos": [{"id": photo_id, "region": None, "rotated": 0}], "answers": answers}


async def consented(patient, db):
    await patient.command("/start")
    await patient.press("consent.accept")
    return await db.users.find_user("telegram", str(patient.user.id))


async def two_checkins(db, user, face_photo, second_face_photo):
    first_photo = await db.photos.save_photo(user.id, face_photo)
    latest_photo = await db.photos.save_photo(user.id, second_face_photo)
    first = await db.assessments.save_assessment(
        user.id, AssessmentResult.from_json(checkin_result(
            first_photo, 48, {"forehead": 9, "nose": 2},
            {"age": 24, "duration": "3_to_12_months", "current_medication": ["benzoyl_peroxide", "doxycycline"]})),
        [first_photo], created_at=utcnow() - timedelta(days=35))
    latest = await db.assessments.save_assessment(
        user.id, AssessmentResult.from_json(checkin_result(latest_photo, 21, {"forehead": 3, "nose": 1},
                                                           {"age": 24, "duration": "over_1_year"})),
        [latest_photo])
    return first, latest


def zip_received(patient):
    (document,) = patient.sent("sendDocument")
    (data,) = document.files.values()
    return document, zipfile.ZipFile(io.BytesIO(data))


async def test_export_sends_a_zip_of_checkins_photos_and_summary(alice, db, tmp_path, face_photo,
                                                                 second_face_photo, monkeypatch):
    user = await consented(alice, db)
    first, latest = await two_checkins(db, user, face_photo, second_face_photo)
    files_before = sorted(p.name for p in tmp_path.rglob("*"))

    await alice.command("/export")
    assert alice.t("export.preparing") in alice.texts
    document, archive = zip_received(alice)
    assert document.text == alice.t("export.caption")
    assert alice.buttons[0] == alice.t("menu.checkin")  # the menu follows the file

    names = archive.namelist()
    assert names[:2] == ["checkins.csv", "summary.html"]
    photos = [n for n in names if n.startswith("photos/")]
    assert len(photos) == 2
    assert all(Image.open(io.BytesIO(archive.read(n))).format == "JPEG" for n in photos)
    rows = list(csv.DictReader(io.StringIO(archive.read("checkins.csv").decode())))
    assert [(r["date"][:10], r["score"], r["grade"]) for r in rows] == [
        (first.created_at.date().isoformat(), "48", "moderate"), (latest.created_at.date().isoformat(), "21", "mild")]
    assert [r["forehead.papule"] for r in rows] == ["9", "3"] and [r["chin.papule"] for r in rows] == ["", ""]
    assert rows[0]["answer.current_medication"] == "benzoyl_peroxide;doxycycline"
    assert [r["answer.duration"] for r in rows] == ["3_to_12_months", "over_1_year"]
    summary = archive.read("summary.html").decode()
    assert first.created_at.date().isoformat() in summary and latest.created_at.date().isoformat() in summary
    assert 'src="data:image/png;base64,' in summary and "<script" not in summary
    assert alice.t("export.title") in summary and "48 → 21" in summary

    # the same from My data, in Chinese; and nothing of it was written to the data folder
    await db.users.set_locale(user.id, "zh")
    await alice.press("menu.data")
    await alice.press(alice.keyboard[1][1])  # My data's second button: export
    _, archive = zip_received(alice)
    assert "您的痤疮检查记录" in archive.read("summary.html").decode()
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before
    logged = [m.text for m in await db.messages.list_messages(user.id) if m.kind == "file"]
    assert len(logged) == 2 and all(text.startswith("[acnebot-export-") for text in logged)

    # over the size bound, the oldest photos are left out (and the summary says so); the CSV stays whole
    monkeypatch.setattr(conversations.export, "MAX_PHOTOS", 1)
    await db.users.set_locale(user.id, "en")
    await alice.command("/export")
    _, archive = zip_received(alice)
    (photo,) = [n for n in archive.namelist() if n.startswith("photos/")]
    assert photo.startswith(f"photos/{latest.created_at.date().isoformat()}_checkin2_")
    assert alice.t("export.photos_left_out", n=1) in archive.read("summary.html").decode()
    assert len(archive.read("checkins.csv").decode().splitlines()) == 3


async def test_first_vs_latest_picture(alice, db, face_photo, second_face_photo):
    user = await consented(alice, db)
    await two_checkins(db, user, face_photo, second_face_photo)
    await alice.press("menu.history")
    await alice.press("history.first_vs_latest")
    assert alice.t("history.since_first") in alice.texts
    assert "score 48 → 21" in alice.texts and "• Forehead: papules 9 → 3" in alice.texts

    (picture,) = alice.sent("sendPhoto")
    assert picture.text == alice.t("history.first_latest_caption", region="Forehead")  # most acne at first
    (data,) = picture.files.values()
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert image.size == (2 * BEFORE_AFTER_PANEL + BEFORE_AFTER_GAP, BEFORE_AFTER_HEADER + BEFORE_AFTER_PANEL)
    # What the worker cropped each panel from (it runs in a worker process; here the same function, called directly)
    for photo in (face_photo, second_face_photo):
        pixels, box = work.pictures.region_box(photo, None, "forehead")
        assert pixels.shape[:2] == load_photo(photo).pixels.shape[:2]
        x0, y0, x1, y1 = box  # the forehead found on the face: a strip inside the photo, wider than tall
        assert 0 <= x0 < x1 <= pixels.shape[1] and 0 <= y0 < y1 <= pixels.shape[0] and x1 - x0 > y1 - y0
    assert alice.buttons[0] == alice.t("menu.checkin")


async def test_handover_to_a_person(service, alice, db, fake, face_photo):
    user = await consented(alice, db)
    ann = await db.staff.create_staff("ann", "hash")
    bob = await db.staff.create_staff("bob", "hash")
    handovers = service.app[HANDOVERS]

    await alice.command("/human")
    assert alice.t("person.opened") in alice.texts and alice.buttons == [alice.t("person.back_to_bot")]
    (queued,) = await db.handovers.list_active()
    assert queued.user.id == user.id and queued.handover.status == "open" and queued.last_assessment is None

    # while it is open: kept for the person, acknowledged once, never answered by the flows
    await alice.text("My cheeks got worse after the new cream")
    assert alice.texts == alice.t("person.ack")
    for send in (alice.text("Is that normal?"), alice.command("/checkin"), alice.sticker()):
        assert await send == []
    assert await service.app[ENGINE].reminder(user.id) == []  # no reminder while a person has the chat
    inbound = [m.text for m in await db.messages.list_messages(user.id) if m.direction == "in"]
    assert inbound[-4:] == ["My cheeks got worse after the new cream", "Is that normal?", "/checkin", None]

    # two staff members take it at once: one has it
    taken = await asyncio.gather(db.handovers.take(queued.handover.id, ann.id),
                                 db.handovers.take(queued.handover.id, bob.id))
    assert sorted(taken) == [False, True]
    holder, other = (ann, bob) if taken[0] else (bob, ann)
    with pytest.raises(HandoverNotHeld):
        await handovers.reply(user.id, other.id, "I'll take this one")

    mark = len(fake.calls)
    delivery = await handovers.reply(user.id, holder.id, "Stop the cream for a week, please.")
    assert delivery.delivered
    (pushed,) = fake.sent(alice.user, since=mark)
    assert pushed.text == alice.t("person.staff_says", text="Stop the cream for a week, please.")

    fake.fail_next("sendMessage", code=403, retry_after=None, description="Forbidden: bot was blocked by the user")
    blocked = await handovers.reply(user.id, holder.id, "Are you still there?")
    assert (blocked.delivered, blocked.problem) == (False, "cannot be delivered")

    mark = len(fake.calls)
    closed = await handovers.close(queued.handover.id, holder.id)
    assert closed.delivered
    told = fake.sent(alice.user, since=mark)
    assert told[0].text == alice.t("person.closed_by_staff") and alice.t("menu.title") in told[-1].text
    assert (await handovers.close(queued.handover.id, holder.id)).problem == "already closed"
    assert await db.handovers.list_active() == []
    await alice.press("menu.history")  # the bot answers again
    assert alice.t("history.empty") in alice.texts

    staff_lines = [m.text for m in await db.messages.list_messages(user.id) if m.kind == "staff"]
    assert staff_lines == ["Stop the cream for a week, please.", "Are you still there?"]
    audit = [(e.action, e.staff_id) for e in reversed(await db.audit.list_audit())]
    assert audit == [("handover.take", holder.id), ("handover.reply", holder.id), ("handover.reply", holder.id),
                     ("handover.close", holder.id)]

    # the patient ends the next one: "Back to the bot"
    await alice.command("/human")
    await alice.press("person.back_to_bot")
    assert alice.t("person.closed_by_patient") in alice.texts and alice.t("menu.title") in alice.texts
    assert await db.handovers.list_active() == []
