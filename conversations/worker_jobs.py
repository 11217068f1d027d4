"""What an assessment worker process runs (conversations/assessor.py starts the processes and sends them jobs).

Everything heavy (MediaPipe, onnxruntime, OpenCV, the models) lives in these processes only; the chat process
imports this module for the functions' names and never calls them itself. A worker keeps the photos it
prepared last (face mesh, regions, quality): the quality check of a photo and the assessment that follows it
usually run in the same worker (the assessor's affinity), so the face is found once.
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Imported by the worker processes' fork server before any worker starts (conversations/assessor.py): each new
# worker then starts in milliseconds, with the libraries already in memory, and loads its models itself.
PRELOAD = ["conversations.worker_lifeline", "pipeline.assess", "pipeline.render", "pipeline.report", "pipeline.pose",
           "conversations.pictures", "conversations.export"]
# Workers run at a lower CPU priority than the chat process: on a full machine its event loop otherwise waits
# for CPU while photos are assessed (bench/bench_conversations.py measures the other patients' turns).
WORKER_NICENESS = 10
CACHE_SIZE = 8

_prepared: OrderedDict[tuple[str, str | None], Any] = OrderedDict()


@dataclass(frozen=True)
class PhotoVerdict:
    """The immediate quality check of one photo. codes: quality codes, or "intake.<code>" for unreadable files;
    pose: pipeline.pose.Pose.to_dict() of a usable full-face photo, else None."""

    ok: bool
    codes: tuple[str, ...] = ()
    rotated: int = 0
    pose: dict[str, float] | None = None


@dataclass(frozen=True)
class Outcome:
    """One visit assessed: the stable JSON (pipeline.report.assessment_json) and an annotated JPEG per photo."""

    result: dict[str, Any]
    annotated: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return bool(self.result.get("quality", {}).get("ok"))


def start(model_threads: int) -> None:
    """A worker process's first step: die with the fork server (which dies with the chat process), lower its
    priority (threads it starts later, onnxruntime's among them, inherit it; where that is not allowed it stays
    as it is), and give the models its share of the cores unless ACNEBOT_MODEL_THREADS says otherwise (every
    worker's onnxruntime would otherwise start a thread per core, and the workers would fight over them)."""
    from conversations.worker_lifeline import die_with_parent

    die_with_parent()
    lower_priority()
    os.environ.setdefault("ACNEBOT_MODEL_THREADS", str(model_threads))


def lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS))
    except (AttributeError, OSError):
        pass


def warm() -> str | None:
    """Loads the models now rather than at the first photo; the reason when they cannot be loaded."""
    from pipeline.assess import load_models
    from pipeline.classifier import ModelError

    try:
        load_models()
    except ModelError as error:
        return str(error)
    return None


def process_info() -> tuple[int, int]:
    """(pid, niceness) of the worker that runs it: what the tests and the benchmark look at."""
    return os.getpid(), os.getpriority(os.PRIO_PROCESS, 0)


def prepared(data: bytes, region: str | None):
    from pipeline.assess import prepare

    key = (hashlib.sha256(data).hexdigest(), region)
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    photo = _prepared[key] = prepare(data, region)
    while len(_prepared) > CACHE_SIZE:
        _prepared.popitem(last=False)
    return photo


def check_photo(data: bytes, region: str | None) -> PhotoVerdict:
    from pipeline.intake import IntakeError
    from pipeline.pose import pose_of

    try:
        photo = prepared(data, region)
    except IntakeError as error:
        return PhotoVerdict(False, (f"intake.{error.code}",))
    pose = pose_of(photo) if photo.quality.ok and region is None else None
    return PhotoVerdict(photo.quality.ok, tuple(r.code for r in photo.quality.reasons), photo.rotated,
                        pose.to_dict() if pose is not None else None)


def assess_visit(photos: Sequence[tuple[bytes, str | None]], metadata, locale: str) -> Outcome:
    from pipeline.assess import assess
    from pipeline.render import annotate
    from pipeline.report import assessment_json

    ready = [prepared(data, region) for data, region in photos]
    result = assess(ready, metadata, locale=locale)
    if not result.ok:
        return Outcome(assessment_json(result))
    pictures = tuple(annotate(p.photo.pixels, p.view, [l for l in result.lesions if l.photo == i])
                     for i, p in enumerate(ready))
    return Outcome(assessment_json(result), pictures)


def trend_chart(points):
    from pipeline.render import trend_chart as chart

    return chart(points)
