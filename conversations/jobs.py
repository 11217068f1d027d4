"""The slow work a step can ask for (flows.turn.Work), by name: each reads what its job needs from the database and
runs the job in the worker pool (work/jobs.py, work/pictures.py), outside any transaction."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from conversations.i18n import picture_labels
from conversations.messages import InboundEvent
from conversations.questionnaire import to_metadata
from pipeline.result import AssessmentResult
from storage import Database, NotFound, PhotoKeyError
from work import jobs, pictures
from work.jobs import Outcome, PhotoVerdict
from work.pool import OnQueued, WorkerPool


@dataclass(frozen=True)
class JobContext:
    db: Database
    pool: WorkerPool
    user_id: int
    event: InboundEvent | None
    on_queued: OnQueued


async def check_photo(ctx: JobContext, args: dict) -> PhotoVerdict:
    data, region = ctx.event.photo, args["region"]
    return await ctx.pool.run(jobs.check_photo, data, region, on_queued=ctx.on_queued, photo=(data, region))


async def assess(ctx: JobContext, args: dict) -> Outcome:
    photos = [(await ctx.db.photos.load_photo(photo_id, ctx.user_id), region) for photo_id, region in args["photos"]]
    return await ctx.pool.run(jobs.assess, photos, to_metadata(args["answers"]), args["locale"],
                              picture_labels(args["locale"]), on_queued=ctx.on_queued, bounded=True,
                              photo=photos[0] if photos else None)


async def trend(ctx: JobContext, args: dict) -> bytes:
    # "locale": since the chart speaks the patient's language; a job stored before then gets English
    return await ctx.pool.run(jobs.trend_chart, list(args["points"]), picture_labels(args.get("locale", "en")))


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
        visits.append(pictures.stored_photo(data, AssessmentResult.from_json(visit["result"]), 0, visit["label"]))
    return await ctx.pool.run(pictures.side_by_side, *visits)


async def first_and_latest(ctx: JobContext, args: dict) -> bytes | None:
    shots = []
    for visit in (args["first"], args["latest"]):
        data = await _stored_photo(ctx, visit)
        if data is None:
            return None
        shots.append(pictures.RegionPhoto(data, visit["declared"], date.fromisoformat(visit["day"])))
    return await ctx.pool.run(pictures.first_vs_latest, *shots, args["region"],
                              picture_labels(args.get("locale", "en")))


async def export(ctx: JobContext, args: dict) -> bytes:
    from conversations.export import make_export  # flows import this module; the export imports a flow

    return await make_export(ctx.db, ctx.pool, ctx.user_id, args["locale"])


JOBS: dict[str, Callable[[JobContext, dict], Awaitable[Any]]] = {
    "check_photo": check_photo,
    "assess": assess,
    "trend": trend,
    "side_by_side": side_by_side,
    "first_vs_latest": first_and_latest,
    "export": export,
}
