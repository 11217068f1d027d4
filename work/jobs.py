"""What runs inside a worker process (work/pool.py sends it there): the photo check, the assessment, the chart.

Everything heavy (MediaPipe, onnxruntime, OpenCV, the models) lives in these processes only; the chat process
imports this module for the functions' names and never calls them itself. A worker keeps the photos it
prepared last (face mesh, regions, quality): the quality check of a photo and the assessment that follows it
usually run in the same worker (the pool's affinity), so the face is found once.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.result import AssessmentResult

CACHE_SIZE = 8

_prepared: OrderedDict[tuple[str, str | None], Any] = OrderedDict()


@dataclass(frozen=True)
class PhotoVerdict:
    """The immediate quality check of one photo. codes: quality codes, or "intake.<code>" for unreadable files;
    pose: pipeline.pose.Pose.to_dict() of a usable full-face photo, else None; closeup: a photo sent as the whole
    face, in which no face was found, would pass as a close-up of one region (which region does not change a
    close-up's check); face_regions: a photo sent as one region that shows the whole face, usable as a full-face
    photo: the regions it shows."""

    ok: bool
    codes: tuple[str, ...] = ()
    rotated: int = 0
    pose: dict[str, float] | None = None
    closeup: bool = False
    face_regions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One visit assessed: its result and an annotated JPEG per photo."""

    result: AssessmentResult
    annotated: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.result.ok


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
    from pipeline.assess import passes_as_closeup
    from pipeline.intake import IntakeError
    from pipeline.pose import pose_of

    try:
        photo = prepared(data, region)
    except IntakeError as error:
        return PhotoVerdict(False, (f"intake.{error.code}",))
    pose = pose_of(photo) if photo.quality.ok and region is None else None
    whole = _as_whole_face(data, photo)
    # A whole face sent as a region becomes a full-face photo (conversations), turned as a full-face photo is.
    return PhotoVerdict(photo.quality.ok, tuple(r.code for r in photo.quality.reasons),
                        whole.rotated if whole else photo.rotated, pose.to_dict() if pose is not None else None,
                        passes_as_closeup(photo), tuple(r for r, shown in whole.view.assessed.items() if shown)
                        if whole else ())


def _as_whole_face(data: bytes, photo):
    """A photo sent as one region that shows the whole face (pipeline.assess reads the region from its landmarks),
    prepared as a full-face photo, if it passes as one; else None."""
    if photo.region is None or not photo.quality.ok or photo.view.landmarks is None:
        return None
    whole = prepared(data, None)
    return whole if whole.quality.ok else None


def assess(photos: Sequence[tuple[bytes, str | None]], metadata, locale: str,
           labels: Mapping[str, str] | None = None) -> Outcome:
    """The visit's assessment and its annotated pictures (`labels`: the legend's words, pipeline.render)."""
    from pipeline.assess import assess as assess_photos
    from pipeline.render import annotate
    from pipeline.report import assessment_result

    ready = [prepared(data, region) for data, region in photos]
    result = assess_photos(ready, metadata, locale=locale)
    if not result.ok:
        return Outcome(assessment_result(result))
    pictures = tuple(annotate(p.photo.pixels, p.view, [l for l in result.lesions if l.photo == i], labels=labels)
                     for i, p in enumerate(ready))
    return Outcome(assessment_result(result), pictures)


def trend_chart(points, labels: Mapping[str, str] | None = None):
    from pipeline.render import trend_chart as chart

    return chart(points, labels=labels)
