"""One visit's photos -> Assessment: the whole pipeline, top to bottom.

    prepare(bytes, region)  intake -> faces -> quality -> canonical view     (immediate verdict per photo)
    assess([prepared], metadata)  detector -> lesion-centred types -> lesions -> merge regions -> scores -> advice
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pipeline import classifier as classifier_module
from pipeline import detector as detector_module
from pipeline import grade as grade_module
from pipeline.advice import Advice, Findings, advise
from pipeline.intake import load_photo
from pipeline.lesions import classify, detect_on_skin, to_lesions
from pipeline.patches import CanonicalView, closeup_view, face_view, one_region_of, shows_skin_plainly, side_view
from pipeline.quality import QualityReport, check_size, check_skin
from pipeline.faces import detect_faces, detect_side_face, upside_down
from pipeline.faces import load as load_face_graphs
from pipeline.scoring import Scores, score_all
from pipeline.types import (CLASSES, IMAGE_LEVELS, INFLAMMATORY, NOT_ASSESSED_WHY, REGIONS, Lesion, Metadata, Photo,
                            Reason, RegionResult)


@dataclass
class PreparedPhoto:
    """A photo that passed intake; `quality.ok` says whether it can be assessed."""

    photo: Photo
    quality: QualityReport
    region: str | None = None  # declared by the patient for a close-up
    view: CanonicalView | None = None
    rotated: int = 0  # degrees clockwise we turned it to find the face
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Assessment:
    quality: QualityReport
    photos: list[PreparedPhoto]
    regions: dict[str, RegionResult]
    lesions: list[Lesion]
    scores: Scores | None
    advice: Advice | None
    model: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    image_grade: grade_module.ImageGrade | None = None  # of the whole face (CLINICAL.md)

    @property
    def ok(self) -> bool:
        return self.quality.ok


class _Clock:
    def __init__(self, timings: dict[str, float]):
        self.timings, self.last = timings, time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


def prepare(data: bytes | Photo, region: str | None = None) -> PreparedPhoto:
    """Intake and quality for one photo. Raises IntakeError for files that are not usable photos."""
    if region is not None and region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; expected one of {REGIONS}")
    timings: dict[str, float] = {}
    clock = _Clock(timings)
    photo = data if isinstance(data, Photo) else load_photo(data)
    clock.lap("intake")
    too_small = check_size(photo.width, photo.height)
    if too_small:
        return PreparedPhoto(photo, QualityReport.failed(*too_small), region, timings=timings)
    if region is not None:
        faces = detect_faces(photo.pixels)
        clock.lap("faces")
        if len(faces) > 1:  # no close-up of the 3,248 shared ones shows FaceMesh two faces
            return PreparedPhoto(photo, QualityReport.failed("several_faces"), region, timings=timings)
        view = _declared_region_view(photo, region, faces)
        clock.lap("regions")
        if view is None:
            return PreparedPhoto(photo, QualityReport.failed("region_not_shown"), region, timings=timings)
        quality = check_skin(view.raw, view.masks[region], view.factor)
        clock.lap("quality")
        return PreparedPhoto(photo, quality, region, view, timings=timings)

    photo, faces, rotated = _find_faces_any_orientation(photo)
    clock.lap("faces")
    if not faces:
        return _prepare_side_view(photo, clock, timings)
    if len(faces) > 1:
        return PreparedPhoto(photo, QualityReport.failed("several_faces"), rotated=rotated, timings=timings)
    face = faces[0]
    too_small = check_size(photo.width, photo.height, face.height)
    if too_small:
        return PreparedPhoto(photo, QualityReport.failed(*too_small), rotated=rotated, timings=timings)
    view = face_view(photo.pixels, face)
    clock.lap("regions")
    return _skin_checked(photo, view, rotated, clock, timings)


def _declared_region_view(photo: Photo, region: str, faces: list) -> CanonicalView | None:
    """A photo the patient declared as one region: a close-up of it, or a whole face in the frame (the same selfie
    sent for each region, say), whose region the landmarks then cut out instead of every lesion of the face being
    counted for the declared one; None for a whole face that does not show the region (a hidden cheek). The photo
    is not turned to look for a face: turned, a forehead close-up can pass for an upside-down face. `faces`:
    FaceMesh's in the photo."""
    if len(faces) == 1 and _a_whole_face(faces[0], photo):
        view = face_view(photo.pixels, faces[0])
        return one_region_of(view, region) if view.assessed[region] else None
    return closeup_view(photo.pixels, region)


def _a_whole_face(face, photo: Photo) -> bool:
    """Whether FaceMesh's face is a whole, upright face in the frame: FaceMesh fits one even to part of a face (its
    landmarks then run off the photo), to a nose filling the frame, which the face detector does not take for a
    face, and to an upside-down face as if upright."""
    x0, y0, x1, y1 = face.box()
    if x0 < 0 or y0 < 0 or x1 > photo.width or y1 > photo.height or check_size(photo.width, photo.height,
                                                                               face.height):
        return False
    seen = detect_side_face(photo.pixels)
    if seen is None or upside_down(photo.pixels):
        return False
    cx, cy = (seen.box[0] + seen.box[2]) / 2, (seen.box[1] + seen.box[3]) / 2
    return x0 <= cx <= x1 and y0 <= cy <= y1


def passes_as_closeup(p: PreparedPhoto) -> bool:
    """Whether a photo sent as the whole face, in which no face was found, would pass as a close-up of one region
    (the close-up check is the same for every region), its middle being plainly skin: the patient may then say
    which part of the face it shows instead of sending it again."""
    if p.region is not None or p.quality.ok or "no_face" not in [r.code for r in p.quality.reasons]:
        return False
    return shows_skin_plainly(p.photo.pixels) and prepare(p.photo, REGIONS[0]).quality.ok


def _skin_checked(photo: Photo, view: CanonicalView, rotated: int, clock: "_Clock",
                  timings: dict[str, float]) -> PreparedPhoto:
    """A face view's photo with the quality of its regions' skin."""
    skin = np.logical_or.reduce([view.masks[r] for r in REGIONS])
    quality = check_skin(view.raw, skin, view.factor)
    clock.lap("quality")
    return PreparedPhoto(photo, quality, None, view, rotated, timings)


def _prepare_side_view(photo: Photo, clock: "_Clock", timings: dict[str, float]) -> PreparedPhoto:
    """No face FaceMesh can fit: a profile or a strongly turned head still shows one side, found by the face
    detector; only when that finds nothing either is the patient told there is no face."""
    side = detect_side_face(photo.pixels)
    if side is None:
        return PreparedPhoto(photo, QualityReport.failed("no_face"), timings=timings)
    too_small = check_size(photo.width, photo.height, side.height)
    if too_small:
        return PreparedPhoto(photo, QualityReport.failed(*too_small), timings=timings)
    view = side_view(photo.pixels, side)
    clock.lap("regions")
    if not any(view.assessed.values()):
        return PreparedPhoto(photo, QualityReport.failed("no_face"), timings=timings)
    return _skin_checked(photo, view, 0, clock, timings)


def load_models() -> None:
    """Load every model an assessment needs (raises ModelError naming the file that is missing or broken), in the
    thread that will assess (MediaPipe's graphs are per thread)."""
    load_face_graphs()
    classifier_module.load()
    classifier_module.load_types()
    detector_module.load()
    grade_module.load()


def _find_faces_any_orientation(photo: Photo):
    """Faces, with the photo turned upright by quarter turns when it lies on its side or upside down (phones that
    drop the EXIF orientation)."""
    faces = detect_faces(photo.pixels)
    if faces:
        return _righted(photo, 0, photo, faces)
    for quarter in (1, 3, 2):
        turned, turned_faces = _turned(photo, quarter)
        if turned_faces:
            return _righted(photo, quarter, turned, turned_faces)
    return photo, faces, 0


def _righted(photo: Photo, quarter: int, turned: Photo, faces: list):
    """`turned` (the photo turned clockwise by `quarter` turns, with its faces) turned on until the face is upright.
    FaceMesh follows a sideways face, so its landmarks tell the turn, but it fits an upside-down face as if upright
    or sideways: after its turns (the second one finishes what a sideways fit began) the face detector says
    whether to turn half round."""
    for _ in range(2):
        more = _quarter_turns_to_upright(faces[0])
        if more == 0:
            break
        again, again_faces = _turned(photo, (quarter + more) % 4)
        if not again_faces:
            break
        quarter, turned, faces = (quarter + more) % 4, again, again_faces
    if upside_down(turned.pixels):
        again, again_faces = _turned(photo, (quarter + 2) % 4)
        if again_faces:
            return again, again_faces, 90 * ((quarter + 2) % 4)
    return turned, faces, 90 * quarter


def _turned(photo: Photo, quarter: int) -> tuple[Photo, list]:
    """The photo turned clockwise by quarter turns, and the faces FaceMesh finds in it."""
    turned = Photo(np.ascontiguousarray(np.rot90(photo.pixels, k=-quarter)), photo.source_format)
    return turned, detect_faces(turned.pixels)


def _quarter_turns_to_upright(face) -> int:
    """Clockwise quarter turns that make the nose-bridge-to-chin direction point down the image."""
    dx, dy = face.points[152] - face.points[168]
    return int(round(np.degrees(np.arctan2(dx, dy)) / 90.0)) % 4


def assess(prepared: list[PreparedPhoto], metadata: Metadata | None = None, *, locale: str = "en",
           model: classifier_module.LesionClassifier | None = None,
           detector: detector_module.LesionDetector | None = None,
           types: classifier_module.LesionClassifier | None = None,
           grader: grade_module.ImageGrader | None = None) -> Assessment:
    """Assess one visit. Photos that failed quality make the whole visit unusable (the bot asks a retake).

    `detector` finds the lesions; `types` names each acne lesion's type and `model` (the 8-class Acne-RegNet
    classifier) each non-acne mark's, from a patch centred on it.
    """
    metadata = metadata or Metadata()
    model = model or classifier_module.load()
    detector = detector or detector_module.load()
    types = types or classifier_module.load_types()
    grader = grader or grade_module.load()
    model_info = {"name": f"{detector.name} + {types.name} + {model.name} + {grader.name}",
                  "version": f"{detector.version} + {types.version} + {model.version} + {grader.version}"}
    failed = [(i, r) for i, p in enumerate(prepared) for r in p.quality.reasons if not p.quality.ok]
    if not prepared or failed:
        reasons = [Reason(r.code, r.message if len(prepared) == 1 else f"Photo {i + 1}: {r.message}")
                   for i, r in failed] or [Reason("no_photo", "No photo was sent.")]
        return Assessment(QualityReport(False, reasons), prepared, {}, [], None, None, model_info)

    timings: dict[str, float] = {}
    clock = _Clock(timings)
    per_photo: list[list[Lesion]] = []
    for index, p in enumerate(prepared):
        detections = detect_on_skin(detector, p.view, marks_model=model)
        clock.lap("detector")
        names = classify(p.view, detections, types, model)
        clock.lap("classifier")
        per_photo.append(to_lesions(p.view, detections, names, photo=index))
        clock.lap("lesions")

    source = _choose_source_per_region(prepared)
    lesions = [l for i, found in enumerate(per_photo) for l in found if source.get(l.region) == i]
    regions = region_results(prepared, source, lesions)
    left = _inflammatory_on(lesions, "left") if _side_seen(regions, "left") else None
    right = _inflammatory_on(lesions, "right") if _side_seen(regions, "right") else None
    image = _image_grade(prepared, grader)
    clock.lap("image grade")
    scores = score_all(list(regions.values()), left, right, image.grade if image else None)
    totals = {c: sum(rr.counts.get(c, 0) for rr in regions.values()) for c in CLASSES[1:]}
    advice = advise(scores.grade, metadata, Findings.from_counts(totals), locale, score=scores.score)
    clock.lap("scoring")
    for p in prepared:
        for stage, seconds in p.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    return Assessment(QualityReport(True), prepared, regions, lesions, scores, advice, model_info, timings, image)


def _image_grade(prepared: list[PreparedPhoto], grader) -> grade_module.ImageGrade | None:
    """The image-level grade of the visit: the highest over its full-face photos (close-ups show no face)."""
    found = [grader.grade(p.view.raw, p.view.landmarks.box()) for p in prepared
             if p.view is not None and p.view.landmarks is not None and p.view.raw is not None]
    return max(found, key=lambda g: IMAGE_LEVELS.index(g.grade), default=None)


def _choose_source_per_region(prepared: list[PreparedPhoto]) -> dict[str, int]:
    """Each region is taken from one photo only, so a visit's close-up and full-face photo never double count.

    A close-up declared for the region wins over a full-face photo; otherwise the photo showing it largest.
    """
    source: dict[str, int] = {}
    for region in REGIONS:
        candidates = [(p.region == region, _skin_area(p.view, region), -i) for i, p in enumerate(prepared)
                      if p.view is not None and p.view.assessed.get(region) and _skin_area(p.view, region) > 0]
        if candidates:
            source[region] = -max(candidates)[2]
    return source


def region_results(prepared: list[PreparedPhoto], source: dict[str, int],
                   lesions: list[Lesion]) -> dict[str, RegionResult]:
    """Each region's counts where a photo (`source`) assessed it, and why not elsewhere."""
    return {r: RegionResult(r, True, _counts(lesions, r)) if r in source else
            RegionResult(r, False, why=_why_not_assessed(prepared, r)) for r in REGIONS}


def _why_not_assessed(prepared: list[PreparedPhoto], region: str) -> str:
    """Why no photo of the visit showed the region: the first of NOT_ASSESSED_WHY that any of them gives."""
    found = {p.view.why_not.get(region, "not_visible") for p in prepared if p.view is not None}
    return next((why for why in NOT_ASSESSED_WHY if why in found), "no_photo")


def _skin_area(view: CanonicalView, region: str) -> float:
    """The region's skin in photo pixels (canonical views of one visit differ in scale)."""
    return float(view.masks[region].sum()) / view.factor ** 2


def _counts(lesions: list[Lesion], region: str) -> dict[str, int]:
    return {c: sum(1 for l in lesions if l.region == region and l.type == c) for c in CLASSES[1:]}


def _side_seen(regions: dict[str, RegionResult], side: str) -> bool:
    return regions[f"{side}_cheek"].assessed


def _inflammatory_on(lesions: list[Lesion], side: str) -> int:
    return sum(1 for l in lesions if l.side == side and l.type in INFLAMMATORY)

