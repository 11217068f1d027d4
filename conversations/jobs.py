"""The slow work a step can ask for (flows.turn.Work), run by the engine outside any transaction."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from conversations.assessor import Assessor, OnQueued, Outcome, PhotoVerdict
from conversations.messages import InboundEvent
from conversations.pictures import RegionPhoto, VisitPhoto, first_vs_latest
from conversations.questionnaire import to_metadata
from storage import Database, NotFound, PhotoKeyError


@dataclass(frozen=True)
class JobContext:
    db: Database
    assessor: Assessor
    user_id: int
    event: InboundEvent | None
    on_queued: OnQueued


async def check_photo(ctx: JobContext, args: dict) -> PhotoVerdict:
    return await ctx.assessor.check_photo(ctx.event.photo, args["region"], ctx.on_queued)


async def assess(ctx: JobContext, args: dict) -> Outcome:
    photos = [(await ctx.db.photos.load_photo(photo_id, ctx.user_id), region) for photo_id, region in args["photos"]]
    return await ctx.assessor.assess(photos, to_metadata(args["answers"]), args["locale"], ctx.on_queued)


async def trend(ctx: JobContext, args: dict) -> bytes:
    return await ctx.assessor.trend_chart(args["points"])


async def _stored_photo(ctx: JobContext, visit: dict | None) -> bytes | None:
    """None when a visit has no photo any more (deleted by retention, or a key that changed)."""
    if visit is None:
        return None
    try:
        return await ctx.db.photos.load_photo(visit["photo_id"], ctx.user_id)
    except (NotFound, PhotoKeyError):
        return None


async def side_by_side(ctx: JobContext, args: dict) -> bytes | None:
    visits = []
    for visit in args["visits"]:
        data = await _stored_photo(ctx, visit)
        if data is None:
            return None
        visits.append(VisitPhoto(data, tuple(visit["lesions"]), visit["rotated"], visit["label"]))
    return await ctx.assessor.side_by_side(*visits)


async def first_and_latest(ctx: JobContext, args: dict) -> bytes | None:
    shots = []
    for visit in (args["first"], args["latest"]):
        data = await _stored_photo(ctx, visit)
        if data is None:
            return None
        shots.append(RegionPhoto(data, visit["declared"], date.fromisoformat(visit["day"])))
    return await ctx.assessor.run(first_vs_latest, *shots, args["region"])


async def export(ctx: JobContext, args: dict) -> bytes:
    from conversations.export import make_export  # flows import this module; the export imports a flow

    return await make_export(ctx.db, ctx.assessor, ctx.user_id, args["locale"])


JOBS: dict[str, Callable[[JobContext, dict], Awaitable[Any]]] = {
    "check_photo": check_photo,
    "assess": assess,
    "trend": trend,
    "side_by_side": side_by_side,
    "first_vs_latest": first_and_latest,
    "export": export,
}
