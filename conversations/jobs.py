"""The slow work a step can ask for (flows.turn.Work), run by the engine outside any transaction."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from conversations.assessor import Assessor, OnQueued, Outcome, PhotoVerdict
from conversations.messages import InboundEvent
from conversations.pictures import VisitPhoto
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


async def side_by_side(ctx: JobContext, args: dict) -> bytes | None:
    """None when a visit has no photo any more (deleted by retention, or a key that changed)."""
    visits = []
    for visit in args["visits"]:
        if visit is None:
            return None
        try:
            data = await ctx.db.photos.load_photo(visit["photo_id"], ctx.user_id)
        except (NotFound, PhotoKeyError):
            return None
        visits.append(VisitPhoto(data, tuple(visit["lesions"]), visit["rotated"], visit["label"]))
    return await ctx.assessor.side_by_side(*visits)


JOBS: dict[str, Callable[[JobContext, dict], Awaitable[Any]]] = {
    "check_photo": check_photo,
    "assess": assess,
    "trend": trend,
    "side_by_side": side_by_side,
}
