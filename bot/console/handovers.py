"""The console's side of "talk to a person": the queue, taking a handover, the live transcript, replies, closing.

    GET  /handovers                   open and taken handovers, each with the patient's last check-in
    POST /handovers/{id}/take         the repository's atomic take decides; the loser sees who has it
    GET  /handovers/{id}              the transcript; static/handover.js polls .../messages every 2 s
    POST /handovers/{id}/reply        only the holder; pushed through bot.handover.HandoverService
    POST /handovers/{id}/close        the holder or an admin; the patient is told

Take, reply and close are audited by the repository and the engine; page views and polls that bring new
messages are audited here. A closed handover's page is for roles that may browse (roles.py) only.
"""
from __future__ import annotations

from aiohttp import web

from bot.console.roles import may_browse
from bot.handover import CANNOT_BE_DELIVERED, Delivery
from bot.console.site import DB, HANDOVERS, STAFF_SESSION, fail, render
from conversations.flows.handover import HandoverNotHeld
from storage import NotFound
from storage.domain import Handover
from storage.repositories.handovers import ACTIVE

routes = web.RouteTableDef()
MAX_REPLY = 4000
POLL_BATCH = 200
REPLY_OUTCOMES = {"delivered", "undeliverable", "failed", "empty"}  # shown on the handover page
CLOSE_OUTCOMES = {"closed", "closed_undeliverable"}  # shown in the queue


REFUSALS = {403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}


def _refuse(request: web.Request, status: int, key: str) -> web.HTTPException:
    return REFUSALS[status](text=fail(request, status, key).text, content_type="text/html")


async def _audit(request: web.Request, action: str, handover: Handover, **detail: object) -> None:
    await request.app[DB].audit.record(action, staff_id=request[STAFF_SESSION].staff.id,
                                       subject_user_id=handover.user_id, detail={"handover": handover.id, **detail})


async def _handover(request: web.Request) -> Handover:
    try:
        return await request.app[DB].handovers.get_handover(int(request.match_info["handover"]))
    except (ValueError, NotFound):
        raise _refuse(request, 404, "error.not_found") from None


def _visible(request: web.Request, handover: Handover) -> bool:
    return handover.status in ACTIVE or may_browse(request[STAFF_SESSION].staff)


async def _names(request: web.Request) -> dict[int, str]:
    return {account.id: account.username for account in await request.app[DB].staff.list_staff()}


@routes.get("/handovers")
async def queue(request: web.Request, *, error: str | None = None, status: int = 200,
                holder: str | None = None) -> web.Response:
    db = request.app[DB]
    queued = await db.handovers.list_active()
    await db.audit.record("console.list_handovers", staff_id=request[STAFF_SESSION].staff.id,
                          detail={"shown": len(queued)})
    outcome = request.query.get("outcome")
    return render(request, "handovers.html", status=status, queued=queued, names=await _names(request),
                  error=error, holder=holder, me=request[STAFF_SESSION].staff.id,
                  closed=request.query.get("closed", "")[:12], outcome=outcome if outcome in CLOSE_OUTCOMES else None)


@routes.post("/handovers/{handover}/take")
async def take(request: web.Request) -> web.Response:
    db, handover = request.app[DB], await _handover(request)
    if await db.handovers.take(handover.id, request[STAFF_SESSION].staff.id):
        raise web.HTTPSeeOther(f"/handovers/{handover.id}")
    now = await db.handovers.get_handover(handover.id)
    if now.status == "taken" and now.taken_by is not None:
        holder = (await _names(request)).get(now.taken_by, f"#{now.taken_by}")
        return await queue(request, error="handovers.already_taken", status=409, holder=holder)
    return await queue(request, error="handovers.already_closed", status=409)


@routes.get("/handovers/{handover}")
async def page(request: web.Request) -> web.Response:
    db, handover = request.app[DB], await _handover(request)
    if not _visible(request, handover):
        raise _refuse(request, 403, "error.forbidden")
    user = await db.users.get_user(handover.user_id)
    await _audit(request, "console.view_handover", handover)
    messages = await db.messages.list_messages(user.id, limit=POLL_BATCH)
    assessments = await db.assessments.list_assessments(user.id)
    staff = request[STAFF_SESSION].staff
    outcome = request.query.get("outcome")
    return render(request, "handover.html", handover=handover, user=user, messages=messages,
                  last=assessments[-1] if assessments else None, names=await _names(request),
                  outcome=outcome if outcome in REPLY_OUTCOMES else None,
                  may_reply=handover.status == "taken" and handover.taken_by == staff.id,
                  may_close=handover.status in ACTIVE and (handover.taken_by == staff.id or staff.role == "admin"),
                  can_deliver=HANDOVERS in request.app)


@routes.get("/handovers/{handover}/messages")
async def messages(request: web.Request) -> web.Response:
    """The patient's messages after ?after=<message id>, and the handover's status, for static/handover.js."""
    db, handover = request.app[DB], await _handover(request)
    names = await _names(request)
    state = {"status": handover.status, "taken_by": names.get(handover.taken_by) if handover.taken_by else None}
    if not _visible(request, handover):
        return web.json_response({**state, "messages": []})
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        after = 0
    fresh = [m for m in await db.messages.list_messages(handover.user_id, limit=POLL_BATCH) if m.id > after]
    if fresh:
        await _audit(request, "console.view_handover_messages", handover, shown=len(fresh))
    return web.json_response({**state, "messages": [
        {"id": m.id, "direction": m.direction, "kind": m.kind, "text": m.text, "photo": m.photo_id,
         "at": m.created_at.strftime("%Y-%m-%d %H:%M")} for m in fresh]})


@routes.post("/handovers/{handover}/reply")
async def reply(request: web.Request) -> web.Response:
    handover = await _handover(request)
    text = str((await request.post()).get("text", "")).strip()[:MAX_REPLY]
    if not text:
        raise web.HTTPSeeOther(f"/handovers/{handover.id}?outcome=empty")
    if HANDOVERS not in request.app:
        raise _refuse(request, 409, "handover.no_delivery")
    try:
        delivery = await request.app[HANDOVERS].reply(handover.user_id, request[STAFF_SESSION].staff.id, text)
    except HandoverNotHeld:
        raise _refuse(request, 403, "handover.not_yours") from None
    raise web.HTTPSeeOther(f"/handovers/{handover.id}?outcome={_outcome(delivery)}")


@routes.post("/handovers/{handover}/close")
async def close(request: web.Request) -> web.Response:
    handover, staff = await _handover(request), request[STAFF_SESSION].staff
    if handover.status not in ACTIVE:
        raise web.HTTPSeeOther(f"/handovers?closed={handover.id}")
    if handover.taken_by != staff.id and staff.role != "admin":
        raise _refuse(request, 403, "handover.not_yours")
    if HANDOVERS not in request.app:
        raise _refuse(request, 409, "handover.no_delivery")
    delivery = await request.app[HANDOVERS].close(handover.id, staff.id)
    told = "closed" if delivery.delivered else "closed_undeliverable"
    raise web.HTTPSeeOther(f"/handovers?closed={handover.id}&outcome={told}")


def _outcome(delivery: Delivery) -> str:
    if delivery.delivered:
        return "delivered"
    return "undeliverable" if delivery.problem == CANNOT_BE_DELIVERED else "failed"
