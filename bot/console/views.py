"""The console's pages about patients: the list, one patient, the transcript, their pictures, erasure, audit.

Every view of a patient's data is written to the audit log first (who, what, which patient; never the data).
A role that may not browse (roles.py) sees only the patients who asked for a person and are still waiting.
"""
from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from functools import partial

from aiohttp import web

from bot.console import pictures
from bot.console.auth import require_admin
from bot.console.roles import may_browse, may_see_patient
from bot.console.site import CONFIG, DB, PICTURES, STAFF_SESSION, fail, render
from pipeline.result import AssessmentResult
from pipeline.types import REGIONS
from storage import NotFound
from storage.repositories.patients import PatientFilter
from work.pictures import annotated as annotated_photo
from work.pictures import stored_photo

routes = web.RouteTableDef()
GRADES = ("clear", "mild", "moderate", "severe", "very severe")
IMAGE_HEADERS = {"Cache-Control": "private, no-store"}


async def _audit(request: web.Request, action: str, patient_id: int | None, **detail: object) -> None:
    await request.app[DB].audit.record(action, staff_id=request[STAFF_SESSION].staff.id,
                                       subject_user_id=patient_id, detail=detail or None)


async def _patient_id(request: web.Request) -> int:
    """The patient in the path, refused (403) to a role that may not see them now."""
    try:
        patient_id = int(request.match_info["patient"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not await may_see_patient(request.app[DB], request[STAFF_SESSION].staff, patient_id):
        raise web.HTTPForbidden(text=fail(request, 403, "error.forbidden").text, content_type="text/html")
    return patient_id


async def _patient(request: web.Request):
    try:
        return await request.app[DB].users.get_user(await _patient_id(request))
    except NotFound:
        raise web.HTTPNotFound(text=fail(request, 404, "error.not_found").text, content_type="text/html") from None


def _date(value: str | None, *, next_day: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(value or "", "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if next_day else day


async def _render(request: web.Request, function, *args) -> bytes:
    render = request.app.get(PICTURES)
    if render is not None:
        return await render(function, *args)
    return await asyncio.get_running_loop().run_in_executor(None, partial(function, *args))


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther("/patients")


@routes.get("/patients")
async def patients(request: web.Request) -> web.Response:
    db, query = request.app[DB], request.query
    grade = query.get("grade") if query.get("grade") in GRADES else None
    where = PatientFilter(channel=query.get("channel") or None, handle=(query.get("q") or "").strip()[:128] or None,
                          since=_date(query.get("from")), until=_date(query.get("to"), next_day=True),
                          grade=grade, needs_doctor=query.get("doctor") == "1",
                          handover_only=not may_browse(request[STAFF_SESSION].staff))
    size = request.app[CONFIG].page_size
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    rows, total = await db.patients.search_patients(where, offset=(page - 1) * size, limit=size)
    await _audit(request, "console.list_patients", None, page=page, shown=len(rows))
    pages = max(1, math.ceil(total / size))
    link = {k: v for k, v in query.items() if k != "page"}
    return render(request, "patients.html", rows=rows, total=total, page=page, pages=pages, query=query,
                  link=link, grades=GRADES, channels=await db.patients.channels())


@routes.get("/patients/{patient}")
async def patient(request: web.Request) -> web.Response:
    db = request.app[DB]
    user = await _patient(request)
    await _audit(request, "console.view_patient", user.id)
    profile = await db.profiles.load_profile(user.id)
    assessments = await db.assessments.list_assessments(user.id)
    reminder = await db.reminders.schedule(user.id)  # in the patient's time zone
    return render(request, "patient.html", user=user, profile=profile, reminder=reminder,
                  assessments=list(reversed(assessments)), regions=REGIONS,
                  lesion_types=_lesion_types(assessments), why_not=_why_not_assessed(assessments))


def _why_not_assessed(assessments) -> dict[int, dict[str, str]]:
    """Per check-in, the regions left out with why (none for check-ins stored before the result said why)."""
    return {a.id: {name: r.why for name, r in AssessmentResult.from_json(a.result).regions.items() if r.why}
            for a in assessments}


def _lesion_types(assessments) -> list[str]:
    seen: dict[str, None] = {}
    for assessment in assessments:
        for counts in assessment.counts.values():
            for name in counts or {}:
                seen.setdefault(name, None)
    return list(seen)


@routes.get("/patients/{patient}/transcript")
async def transcript(request: web.Request) -> web.Response:
    user = await _patient(request)
    await _audit(request, "console.view_transcript", user.id)
    messages = await request.app[DB].messages.list_messages(user.id, limit=1000)
    return render(request, "transcript.html", user=user, messages=messages)


@routes.get("/patients/{patient}/photos/{photo}")
async def photo(request: web.Request) -> web.Response:
    db, patient_id = request.app[DB], await _patient_id(request)
    try:
        photo_id = int(request.match_info["photo"])
        data = await db.photos.load_photo(photo_id, user_id=patient_id)
    except (ValueError, NotFound):
        raise web.HTTPNotFound() from None
    size = pictures.THUMB_SIDE if request.query.get("size") == "thumb" else pictures.FULL_SIDE
    await _audit(request, "console.view_photo", patient_id, photo=photo_id)
    body = await _render(request, pictures.jpeg, data, size)
    return web.Response(body=body, content_type="image/jpeg", headers=IMAGE_HEADERS)


@routes.get("/patients/{patient}/photos/{photo}/view")
async def photo_page(request: web.Request) -> web.Response:
    """The photo on a page of the console's own (a bare image document would need inline styles)."""
    user = await _patient(request)
    try:
        photo_id = int(request.match_info["photo"])
    except ValueError:
        raise web.HTTPNotFound() from None
    return render(request, "photo.html", user=user, photo_id=photo_id)


@routes.get("/patients/{patient}/checkins/{assessment}/annotated/{index}")
async def annotated(request: web.Request) -> web.Response:
    db, patient_id = request.app[DB], await _patient_id(request)
    try:
        assessment = await db.assessments.get_assessment(int(request.match_info["assessment"]), user_id=patient_id)
        index = int(request.match_info["index"])
        data = await db.photos.load_photo(assessment.photo_ids[index], user_id=patient_id)
    except (ValueError, IndexError, NotFound):
        raise web.HTTPNotFound() from None
    await _audit(request, "console.view_annotated", patient_id, checkin=assessment.id)
    visit = stored_photo(data, AssessmentResult.from_json(assessment.result), index)
    body = await _render(request, annotated_photo, visit)
    return web.Response(body=body, content_type="image/jpeg", headers=IMAGE_HEADERS)


@routes.get("/patients/{patient}/trend.png")
async def trend(request: web.Request) -> web.Response:
    user = await _patient(request)
    assessments = await request.app[DB].assessments.list_assessments(user.id)
    await _audit(request, "console.view_trend", user.id)
    body = await _render(request, pictures.trend, [(a.created_at, a.score) for a in assessments])
    return web.Response(body=body, content_type="image/png", headers=IMAGE_HEADERS)


@routes.get("/patients/{patient}/delete")
async def confirm_delete(request: web.Request) -> web.Response:
    require_admin(request)
    user = await _patient(request)
    return render(request, "delete.html", user=user, error=None)


@routes.post("/patients/{patient}/delete")
async def delete(request: web.Request) -> web.Response:
    require_admin(request)
    db = request.app[DB]
    user = await _patient(request)
    if str((await request.post()).get("confirm", "")).strip() != str(user.id):
        return render(request, "delete.html", status=400, user=user, error="delete.mismatch")
    async with db.transaction():  # the audit entry stays (unlinked from the patient), with the id in its detail
        await _audit(request, "console.erase_patient", user.id, patient=user.id)
        counts = await db.erasure.delete_user_data(user.id)
    return render(request, "deleted.html", patient_id=user.id, rows=sum(counts.values()))


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    require_admin(request)
    db = request.app[DB]
    names = {account.id: account.username for account in await db.staff.list_staff()}
    return render(request, "audit.html", entries=await db.audit.list_audit(limit=500), names=names)
