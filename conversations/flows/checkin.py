"""A check-in's photos: one full-face photo (or an album of them), or a close-up per region, each checked at once.

A full-face check-in's first usable photo is compared with the pose of the patient's previous full-face check-in
(pipeline/pose.py: head turn, tilt, distance, light); when they differ the patient is told how to match it and
may retake it or go on (POSE_CHECK), before anything is analysed; the result and the history say so.

The check-in's photos live in the state as entries {key, region, status: pending|ok, id, rotated}. A photo is
"pending" while the pipeline checks it (between two transactions, see engine.py); it is stored (encrypted)
only when it passes, so an unusable photo is never kept. The region a photo is for is decided when it arrives,
so the photos of an album fill the regions in turn even while earlier ones are still being checked.

A close-up sent as the whole face has no face in it. When it would pass as a close-up, it is stored and kept as
checkin["closeup"] {key, id, new, at} while the patient is asked which part of the face it shows: a tap makes it
that region's photo and the check-in goes on by region; another photo, "area by area", /cancel or anything else
that drops it deletes it after the turn (`forget_closeup`), unless the same bytes were stored before it.

A photo sent for one region that shows the whole face becomes the by-region check-in's full-face photo: its entry
has no region and `covers` the regions it shows that had nothing yet, which are not asked for again.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from conversations.flows.names import (CHANGES, CHECKIN_MODE, CHECKIN_PHOTO, CHECKIN_QUESTIONS, FACE_PHOTO, MENU,
                                       NEW_CHECKIN, POSE_CHECK, QUESTION, REGION_PHOTO)
from conversations.flows.turn import Handler, Step, Turn, Work, entry
from conversations.i18n import catalogue
from conversations.limits import CHECKIN
from conversations.summaries import date_label, region_label, visit_of
from pipeline.pose import Pose, differences
from pipeline.types import REGIONS
from storage import NotFound, StoredAssessment
from work.jobs import PhotoVerdict

MAX_FACE_PHOTOS = 3  # front and both sides are useful; more only repeat
QUESTION_STEPS = (POSE_CHECK, QUESTION, CHANGES)  # an album's later photos may still arrive while these are asked
POSE_LOOKBACK = 20  # check-ins searched for the previous full-face one
# What pipeline.pose.differences may ask of the patient; each is said by the text `pose.<key>`.
POSE_CHANGES = ("turn_left", "turn_right", "chin_up", "chin_down", "closer", "further", "brighter", "darker")
PENDING_TIMEOUT = timedelta(minutes=2)  # a check interrupted by a restart: the photo is asked for again


async def new_checkin(turn: Turn) -> None:
    if turn.allowed is not None and not await turn.allowed(turn, CHECKIN):
        return await turn.goto(MENU)
    turn.clear("checkin", "quiz", "analysis", "compare")
    turn.data["checkin"] = {"id": secrets.token_hex(4), "mode": None, "photos": [], "skipped": [], "groups": []}
    await turn.goto(CHECKIN_MODE)


async def ask_mode(turn: Turn) -> None:
    turn.ask("checkin.mode", [("face", turn.t("checkin.mode_face")), ("regions", turn.t("checkin.mode_regions")),
                              ("menu", turn.t("common.back_to_menu"))])


async def mode_chosen(turn: Turn) -> None:
    if turn.action == "menu":
        turn.clear("checkin")
        return await turn.goto(MENU)
    if turn.action not in ("face", "regions"):
        return await turn.reprompt()
    turn.data["checkin"]["mode"] = turn.action
    await turn.goto(FACE_PHOTO if turn.action == "face" else REGION_PHOTO)


async def ask_face_photo(turn: Turn) -> None:
    checkin = turn.data["checkin"]
    if checkin.get("closeup"):
        return turn.ask("checkin.closeup_which", [(r, region_label(turn.locale, r)) for r in REGIONS])
    if checkin.get("no_face") and not checkin["photos"]:
        # The last photo showed no face: if it was a close-up, the by-region check-in is one tap away.
        return turn.ask("checkin.face_photo_again", [("regions", turn.t("checkin.switch_to_regions"))])
    turn.expect("checkin.face_photo")


async def face_photo_choice(turn: Turn) -> None:
    """A face check-in with no usable photo yet becomes a by-region one: "area by area", or the region that the
    close-up just sent shows."""
    checkin = turn.data["checkin"]
    if turn.action in REGIONS and checkin.get("closeup") and not checkin["photos"]:
        return await _place_closeup(turn, turn.action)
    if turn.action != "regions" or checkin["photos"]:
        return await turn.reprompt()
    checkin.pop("closeup", None)
    checkin["mode"] = "regions"
    await turn.goto(REGION_PHOTO)


async def _place_closeup(turn: Turn, region: str) -> None:
    checkin = turn.data["checkin"]
    closeup = checkin.pop("closeup")
    try:
        await turn.db.photos.set_region(closeup["id"], turn.user.id, region)
    except NotFound:  # deleted meanwhile (the patient's data erased, or past retention)
        turn.say("interrupted.photo")
        return await turn.goto(FACE_PHOTO)
    checkin["mode"] = "regions"
    checkin["photos"].append({"key": closeup["key"], "region": region, "status": "ok", "at": closeup["at"],
                              "id": closeup["id"], "rotated": 0, "pose": None})
    turn.say("checkin.region_photo_ok", region=region_label(turn.locale, region))
    await next_need(turn)


async def _keep_closeup(turn: Turn, entry: dict) -> None:
    """The photo just checked, with no face in it, is kept for the patient to say which region it shows."""
    photo_id, new = await turn.db.photos.store_photo(turn.user.id, turn.event.photo)
    turn.photo_id = photo_id
    turn.data["checkin"]["closeup"] = {"key": entry["key"], "id": photo_id, "new": new, "at": entry["at"]}


def closeup_waiting(data: dict) -> dict | None:
    """The close-up kept while the patient is asked which region it shows, if one is."""
    return (data.get("checkin") or {}).get("closeup")


async def forget_closeup(turn: Turn, waiting: dict | None) -> None:
    """After a turn: a close-up that waited for its region before it and now neither waits nor was placed (another
    photo came, a new check-in, /cancel, the menu...) is deleted, if it was stored for this alone."""
    if not waiting or not waiting["new"] or turn.erased:
        return
    checkin = turn.data.get("checkin") or {}
    kept = [checkin.get("closeup") or {}, *checkin.get("photos", [])]
    if all(photo.get("id") != waiting["id"] for photo in kept):
        await turn.db.photos.delete_photo(waiting["id"], turn.user.id)


async def ask_region_photo(turn: Turn) -> None:
    region = current_region(turn.data["checkin"])
    turn.ask("checkin.region_photo", [("skip", turn.t("checkin.skip_region"))], region=turn.t(f"region.{region}"))


async def skip_region(turn: Turn) -> None:
    checkin = turn.data["checkin"]
    region = current_region(checkin)
    if turn.action != "skip" or region is None:
        return await turn.reprompt()
    checkin["skipped"].append(region)
    turn.say("checkin.region_skipped", region=region_label(turn.locale, region))
    await next_need(turn)


async def photo_received(turn: Turn) -> None:
    """A photo in a photo step, or an album's next photo arriving after its first one moved us on."""
    checkin = turn.data.get("checkin")
    event = turn.event
    if checkin is None:
        return await turn.unexpected()
    _forget_interrupted(checkin, turn.now)
    album = checkin["mode"] == "face" and event.media_group and event.media_group in checkin["groups"]
    if turn.step == POSE_CHECK and not album:  # a new photo instead of "Take it again": the same
        _leave_out_warned_photo(checkin)
        turn.step = FACE_PHOTO
    if turn.step in QUESTION_STEPS and not album:
        return await turn.unexpected()
    checkin.pop("closeup", None)  # another photo instead of saying where the close-up is from
    if checkin["mode"] == "face":
        region = None
        if len(checkin["photos"]) >= MAX_FACE_PHOTOS:
            return turn.say("checkin.enough_photos", n=MAX_FACE_PHOTOS)
    else:
        region = current_region(checkin)
        if region is None:
            return turn.say("checkin.every_region_has_photo")
    key = secrets.token_hex(4)
    checkin["photos"].append({"key": key, "region": region, "status": "pending", "at": turn.now.isoformat()})
    if event.media_group and event.media_group not in checkin["groups"]:
        checkin["groups"].append(event.media_group)
    turn.work = Work("check_photo", {"key": key, "region": region}, then="photo_checked")


async def photo_checked(turn: Turn, args: dict, verdict: PhotoVerdict | BaseException) -> None:
    """The quality verdict, in a new transaction: keep the photo or ask for a retake with the reason."""
    checkin = turn.data.get("checkin")
    entry = next((p for p in checkin["photos"] if p["key"] == args["key"]), None) if checkin else None
    if entry is None:  # the check-in was cancelled or restarted while the photo was checked
        return
    if isinstance(verdict, BaseException):
        verdict = PhotoVerdict(False, ("check_failed",))
    where = region_label(turn.locale, entry["region"]) if entry["region"] else ""
    if verdict.ok and verdict.face_regions and checkin["mode"] == "regions":
        await _keep_as_face_photo(turn, entry, verdict)
    elif verdict.ok:
        entry.update(status="ok", rotated=verdict.rotated, pose=verdict.pose,
                     id=await turn.db.photos.save_photo(turn.user.id, turn.event.photo, entry["region"]))
        turn.photo_id = entry["id"]
        turn.say("checkin.region_photo_ok" if where else "checkin.face_photo_ok", region=where)
    else:
        checkin["photos"].remove(entry)
        if checkin["mode"] == "face" and "no_face" in verdict.codes:
            checkin["no_face"] = True
            if verdict.closeup and turn.step == FACE_PHOTO and not checkin["photos"]:
                await _keep_closeup(turn, entry)
                turn.say("checkin.closeup_found")
                return await next_need(turn)
        reasons = "\n".join(f"• {turn.t(reason_key(code))}" for code in verdict.codes)
        if turn.step in QUESTION_STEPS:
            turn.say("checkin.album_photo_failed", reasons=reasons)
        else:
            turn.say("checkin.region_photo_failed" if where else "checkin.face_photo_failed",
                     region=where, reasons=reasons)
    if turn.step in (FACE_PHOTO, REGION_PHOTO):
        if verdict.ok and await _posed_differently(turn, entry):
            return await turn.goto(POSE_CHECK)
        await next_need(turn)


async def _keep_as_face_photo(turn: Turn, entry: dict, verdict: PhotoVerdict) -> None:
    """A photo sent for one region that shows the whole face is the check-in's full-face photo: every region it
    shows is assessed from it (`covers`), and only the others are still asked for."""
    checkin = turn.data["checkin"]
    covers = [r for r in verdict.face_regions if r not in _taken(checkin, but=entry)]
    entry.update(status="ok", region=None, covers=covers, rotated=verdict.rotated, pose=None,
                 id=await turn.db.photos.save_photo(turn.user.id, turn.event.photo, None))
    turn.photo_id = entry["id"]
    turn.say("checkin.whole_face_for_regions", regions=", ".join(region_label(turn.locale, r) for r in covers))


# -- a fair comparison: the same pose as last time ------------------------------------------------------------
async def _posed_differently(turn: Turn, entry: dict) -> bool:
    """Whether this photo, the full-face check-in's first usable one, is posed unlike the previous full-face
    check-in's; checkin["pose"] keeps what was found for the prompt and the result."""
    checkin = turn.data["checkin"]
    current = Pose.from_dict(entry.get("pose"))
    if checkin["mode"] != "face" or "pose" in checkin or current is None:
        return False
    found = await previous_pose(turn)
    checkin["pose"] = {"photo": entry["key"], "differences": [], "since": None}
    if found is not None:
        previous, pose = found
        checkin["pose"].update(differences=differences(pose, current), since=date_label(previous))
    return bool(checkin["pose"]["differences"])


async def previous_pose(turn: Turn) -> tuple[StoredAssessment, Pose] | None:
    """The patient's latest full-face check-in with a stored pose, and that pose."""
    for earlier in reversed(await turn.db.assessments.list_assessments(turn.user.id, limit=POSE_LOOKBACK)):
        pose = visit_of(earlier).pose
        if pose is not None:
            return earlier, pose
    return None


async def ask_pose_check(turn: Turn) -> None:
    pose = turn.data["checkin"]["pose"]
    advice = "; ".join(turn.t(f"pose.{key}") for key in pose["differences"] if key in POSE_CHANGES)
    turn.ask("checkin.pose_differs", [("retake", turn.t("checkin.pose_retake")),
                                      ("go_on", turn.t("checkin.pose_go_on"))], date=pose["since"], advice=advice)


async def pose_chosen(turn: Turn) -> None:
    checkin = turn.data["checkin"]
    if turn.action == "retake":
        _leave_out_warned_photo(checkin)
        return await turn.goto(FACE_PHOTO)
    if turn.action != "go_on":
        return await turn.reprompt()
    turn.step = FACE_PHOTO  # where album photos still being checked carry on from
    await next_need(turn)


def _leave_out_warned_photo(checkin: dict) -> None:
    """The photo the pose check warned about is left out of this check-in; the next one is compared again."""
    key = checkin.pop("pose")["photo"]
    checkin["photos"] = [p for p in checkin["photos"] if p["key"] != key]


async def photo_interrupted(turn: Turn, args: dict) -> None:
    """The service restarted while this photo was checked: it was never kept, so ask for it again."""
    checkin = turn.data.get("checkin")
    entry = next((p for p in checkin["photos"] if p["key"] == args.get("key")), None) if checkin else None
    if entry is None:  # the check-in was cancelled or restarted since
        return
    checkin["photos"].remove(entry)
    turn.say("interrupted.photo")
    if turn.step in (FACE_PHOTO, REGION_PHOTO):
        await next_need(turn)


async def next_need(turn: Turn) -> None:
    """Ask for the next photo, or go on to the questions once every photo is in."""
    checkin = turn.data["checkin"]
    if any(p["status"] == "pending" for p in checkin["photos"]):
        return  # the last verdict to come in asks for what is next
    have_one = any(p["status"] == "ok" for p in checkin["photos"])
    if checkin["mode"] == "face":
        return await turn.goto(CHECKIN_QUESTIONS if have_one else FACE_PHOTO)
    if current_region(checkin) is not None:
        return await turn.goto(REGION_PHOTO)
    if have_one:
        return await turn.goto(CHECKIN_QUESTIONS)
    turn.clear("checkin")
    turn.say("checkin.nothing_to_assess")
    await turn.goto(MENU)


def current_region(checkin: dict) -> str | None:
    """The first region that has neither a photo (kept or being checked; a whole face covers those it shows) nor a
    skip."""
    taken = _taken(checkin)
    return next((r for r in REGIONS if r not in taken), None)


def _taken(checkin: dict, but: dict | None = None) -> set[str]:
    """The regions with a photo (`but` that one) or a skip."""
    photos = [p for p in checkin["photos"] if p is not but]
    return {p["region"] for p in photos} | {r for p in photos for r in p.get("covers", ())} | set(checkin["skipped"])


def reason_key(code: str) -> str:
    key = code if code.startswith("intake.") else f"quality.{code}"
    return key if key in catalogue("en") else "quality.unknown"


def _forget_interrupted(checkin: dict, now: datetime) -> None:
    cutoff = (now - PENDING_TIMEOUT).isoformat()
    checkin["photos"] = [p for p in checkin["photos"] if p["status"] != "pending" or p["at"] >= cutoff]


def photo_expects(turn: Turn) -> str:
    return "expects.photo_or_skip" if turn.step == REGION_PHOTO else "expects.photo"


STEPS: dict[str, Step] = {
    CHECKIN_MODE: Step(ask_mode, "expects.button", on_choice=mode_chosen),
    FACE_PHOTO: Step(ask_face_photo, photo_expects, on_choice=face_photo_choice, on_photo=photo_received),
    REGION_PHOTO: Step(ask_region_photo, photo_expects, on_choice=skip_region, on_photo=photo_received),
    POSE_CHECK: Step(ask_pose_check, "expects.button", on_choice=pose_chosen, on_photo=photo_received),
    NEW_CHECKIN: entry(new_checkin),
    CHECKIN_PHOTO: entry(photo_received),
}
COMMANDS: dict[str, Handler] = {"checkin": new_checkin}
CONTINUATIONS = {"photo_checked": photo_checked}
