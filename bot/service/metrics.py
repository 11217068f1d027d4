"""Prometheus metrics (text format) and a health check, for the console port.

    engine = Engine(db, pool, observer=metrics.EngineMetrics(pool))
    metrics.setup(console_app, db)            # GET /metrics and GET /healthz on that application

The collectors live in this module's own registry (not prometheus_client's global one), so every Engine of a
process feeds one set of series; the queue depth is read from the pools when /metrics is scraped.
"""
from __future__ import annotations

import weakref

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.service.health import database_problem
from work.pool import WorkerPool
from conversations.observer import Observer
from storage import Database

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

UPDATES = Counter("acnebot_updates_handled", "Inbound events answered, by channel and kind",
                  ["channel", "kind"], registry=REGISTRY)
ASSESSMENTS = Counter("acnebot_assessments", "Assessments run, by outcome (ok, unusable, failed)",
                      ["outcome"], registry=REGISTRY)
TURN_SECONDS = Histogram("acnebot_turn_seconds", "Time to answer one inbound event (slow work included)",
                         ["kind"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
ASSESSMENT_SECONDS = Histogram("acnebot_assessment_seconds", "Time of one assessment, queueing included",
                               buckets=LATENCY_BUCKETS, registry=REGISTRY)
QUEUE_DEPTH = Gauge("acnebot_assessment_queue_depth", "Assessments and photo checks waiting for a worker",
                    registry=REGISTRY)
_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
QUEUE_DEPTH.set_function(lambda: sum(a.waiting for a in list(_POOLS)))


class EngineMetrics(Observer):
    """The engine's hooks, counted; the pool's queue is watched from now on."""

    def __init__(self, pool: WorkerPool | None = None):
        if pool is not None:
            _POOLS.add(pool)

    def turn_handled(self, channel: str, kind: str, seconds: float) -> None:
        UPDATES.labels(channel, kind).inc()
        TURN_SECONDS.labels(kind).observe(seconds)

    def job_done(self, job: str, outcome: str, seconds: float) -> None:
        if job == "assess":
            ASSESSMENTS.labels(outcome).inc()
            ASSESSMENT_SECONDS.observe(seconds)


def setup(app: web.Application, db: Database | None = None) -> None:
    """Adds GET /metrics and GET /healthz (200, or 503 when `db` does not answer) to `app`."""

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def healthz(request: web.Request) -> web.Response:
        problem = await database_problem(db) if db is not None else None
        if problem:
            return web.json_response({"status": "error", "database": problem}, status=503)
        return web.json_response({"status": "ok", "database": "ok" if db is not None else "unchecked"})

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
