"""The result of an assessment as one value: what `acnebot assess --json` prints and what a check-in stores.

    result.to_json()                  the JSON contract (README, "Assess photos from the command line") with its
                                      "version"; a stored check-in's result also holds its visit (photos, answers)
    AssessmentResult.from_json(data)  the value again, from JSON of this version or an older one
    AdviceResult                      the advice keys alone (`acnebot advise --json`)

pipeline/report.py makes one from the pipeline's Assessment; conversations/flows/result.py adds the visit before
it is stored. Nothing here imports OpenCV, MediaPipe or onnxruntime: the chat process reads stored results.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.pose import Pose
from pipeline.scoring import GagsResult, HayashiResult
from pipeline.types import Lesion, Reason, RegionResult

VERSION = 2
# Version 1 is every result written before the JSON named its version (they have no "version" key).
VISIT_KEYS = ("photos", "answers", "asked", "pose", "pose_check")


class UnreadableResult(ValueError):
    """JSON that is no assessment result this code reads: from a newer version of it, or not a result at all."""


@dataclass(frozen=True)
class Quality:
    ok: bool
    reasons: tuple[Reason, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reasons": [asdict(r) for r in self.reasons]}


@dataclass(frozen=True)
class ImageScale:
    """The whole face's image-level grade (pipeline/grade.py) and whether it raised the grade told (CLINICAL.md)."""

    grade: str
    probabilities: dict[str, float]  # per level of pipeline.types.IMAGE_LEVELS
    expected_count: float  # the lesion count the grader expects on the face
    score_grade: str  # the eq. 1 band of the score
    raised_grade: bool


@dataclass(frozen=True)
class Scales:
    hayashi: HayashiResult | None
    gags: GagsResult
    nice: str
    image: ImageScale | None = None  # None without a full face

    def to_json(self) -> dict[str, Any]:
        return {"hayashi": asdict(self.hayashi) if self.hayashi else None, "gags": asdict(self.gags),
                "nice": self.nice, "image": asdict(self.image) if self.image else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scales:
        return cls(HayashiResult(**data["hayashi"]) if data["hayashi"] else None, GagsResult(**data["gags"]),
                   data["nice"], ImageScale(**data["image"]) if data["image"] else None)


@dataclass(frozen=True)
class Referral:
    needed: bool = False
    urgent: bool = False
    reasons: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PersonalisedGrade:
    """The treatment step once the patient's answers are taken into account (pipeline.advice.personalise)."""

    grade: str | None = None
    reasons: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdviceResult:
    """The advice as told: recommendations, what this patient must avoid and why, the referral, the notice."""

    advice: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    refer: Referral = Referral()
    grade_personalised: PersonalisedGrade = PersonalisedGrade()
    notice: str | None = None

    def to_json(self) -> dict[str, Any]:
        refer, personal = self.refer, self.grade_personalised
        return {
            "advice": list(self.advice),
            "avoid": list(self.avoid),
            "refer": {"needed": refer.needed, "urgent": refer.urgent, "reasons": list(refer.reasons),
                      "codes": list(refer.codes)},
            "grade_personalised": {"grade": personal.grade, "reasons": list(personal.reasons),
                                   "codes": list(personal.codes)},
            "notice": self.notice,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AdviceResult:
        refer, personal = data["refer"], data["grade_personalised"]
        return cls(tuple(data["advice"]), tuple(data["avoid"]),
                   Referral(refer.get("needed", False), refer.get("urgent", False), tuple(refer.get("reasons", ())),
                            tuple(refer.get("codes", ()))),
                   PersonalisedGrade(personal.get("grade"), tuple(personal.get("reasons", ())),
                                     tuple(personal.get("codes", ()))),
                   data["notice"])


@dataclass(frozen=True)
class Model:
    name: str = ""
    version: str = ""


@dataclass(frozen=True)
class CheckinPhoto:
    """A photo of a stored check-in: its id in the photo store, the region it was sent as (None: the whole face),
    the turn the pipeline gave it to find the face (its lesion boxes are in that frame) and its pose."""

    id: int
    region: str | None = None
    rotated: int = 0  # degrees clockwise
    pose: Pose | None = None


@dataclass(frozen=True)
class PoseCheck:
    """How a full-face check-in's pose compared with the previous full-face check-in's (pipeline/pose.py)."""

    since: str  # the ISO date of that check-in
    differences: tuple[str, ...]  # e.g. ("turn_left",); empty when the two are comparable


@dataclass(frozen=True)
class Visit:
    """What a stored check-in keeps beside the assessment (conversations/flows/result.py)."""

    photos: tuple[CheckinPhoto, ...] = ()
    answers: dict[str, Any] | None = None  # the questionnaire's answers this visit was assessed with
    asked: dict[str, str] = field(default_factory=dict)  # question id -> ISO date it was last answered
    pose: Pose | None = None  # of a full-face check-in, for the next one to be compared with
    pose_check: PoseCheck | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"answers": self.answers, "asked": dict(self.asked),
               "photos": [{"id": p.id, "region": p.region, "rotated": p.rotated,
                           "pose": p.pose.to_dict() if p.pose else None} for p in self.photos]}
        if self.pose is not None:
            out["pose"] = self.pose.to_dict()
        if self.pose_check is not None:
            out["pose_check"] = {"since": self.pose_check.since, "differences": list(self.pose_check.differences)}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Visit:
        check = data.get("pose_check")
        return cls(tuple(CheckinPhoto(int(p["id"]), p.get("region"), int(p.get("rotated", 0)),
                                      Pose.from_dict(p.get("pose"))) for p in data.get("photos") or ()),
                   data.get("answers"), dict(data.get("asked") or {}), Pose.from_dict(data.get("pose")),
                   PoseCheck(check["since"], tuple(check["differences"])) if check else None)


@dataclass(frozen=True)
class AssessmentResult:
    """One assessment's result: the quality alone when no photo could be read; the quality and the model when the
    photos failed their quality check; everything else too when they passed (the visit only once stored)."""

    quality: Quality
    model: Model | None = None  # None when no photo could even be read
    regions: dict[str, RegionResult] = field(default_factory=dict)  # in REGIONS order
    lesions: tuple[Lesion, ...] = ()  # without their side, which only scoring uses
    score: int | None = None
    grade: str | None = None  # the grade told
    not_assessed: tuple[str, ...] = ()
    scales: Scales | None = None
    advice: AdviceResult = AdviceResult()
    # Each lesion names its photo in the JSON when several photos were assessed (read back from whether they do).
    several_photos: bool = False
    visit: Visit | None = None  # a stored check-in's

    @property
    def ok(self) -> bool:
        return self.quality.ok

    @property
    def counts(self) -> dict[str, dict[str, int] | None]:
        """Lesions per region and type; None for a region not assessed."""
        return {name: dict(r.counts) if r.assessed else None for name, r in self.regions.items()}

    @property
    def personalised_grade(self) -> str | None:
        return self.advice.grade_personalised.grade

    @property
    def referral(self) -> bool:
        return self.advice.refer.needed

    @property
    def model_version(self) -> str | None:
        """"<name>@<version>" of the models that made it."""
        named = [part for part in (self.model.name, self.model.version) if part] if self.model else []
        return "@".join(named) or None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": VERSION, "quality": self.quality.to_json()}
        if self.ok:
            out.update(_assessed_json(self))
        if self.model is not None:
            out["model"] = asdict(self.model)
        if self.visit is not None:
            out.update(self.visit.to_json())
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AssessmentResult:
        """Raises UnreadableResult for a version newer than VERSION (written by a newer acnebot: reading it as
        this version could misread a patient's result) and for JSON that is no result."""
        if not isinstance(data, Mapping):
            raise UnreadableResult(f"an assessment result is a JSON object, not {type(data).__name__}")
        version = data.get("version", 1)
        if type(version) is not int or version < 1:
            raise UnreadableResult(f"an assessment result's version is a whole number from 1, not {version!r}")
        if version > VERSION:
            raise UnreadableResult(f"this assessment result is of version {version}, written by a newer acnebot; "
                                   f"this one reads versions 1 to {VERSION}")
        try:
            return _read(_version_1_as_2(data) if version == 1 else data)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UnreadableResult(f"not an assessment result of version {version}: "
                                   f"{type(error).__name__} {error}") from error


def _assessed_json(result: AssessmentResult) -> dict[str, Any]:
    """The keys of a result whose photos were usable, in the contract's order."""
    lesions = []
    for l in result.lesions:
        item = {"region": l.region, "type": l.type, "x": l.x, "y": l.y, "w": l.w, "h": l.h,
                "confidence": l.confidence}
        if result.several_photos:
            item["photo"] = l.photo
        lesions.append(item)
    return {
        "regions": {name: {"assessed": r.assessed, "counts": r.counts, **({"why": r.why} if r.why else {})}
                    for name, r in result.regions.items()},
        "lesions": lesions,
        "score": result.score,
        "grade": result.grade,
        "not_assessed": list(result.not_assessed),
        "scales": result.scales.to_json() if result.scales else None,
        **result.advice.to_json(),
    }


def _read(data: Mapping[str, Any]) -> AssessmentResult:
    """A result of the current version."""
    quality = Quality(bool(data["quality"]["ok"]), tuple(Reason(r["code"], r["message"])
                                                         for r in data["quality"]["reasons"]))
    model = Model(**data["model"]) if data.get("model") is not None else None
    visit = Visit.from_json(data) if any(key in data for key in VISIT_KEYS) else None
    if not quality.ok:
        return AssessmentResult(quality, model, visit=visit)
    lesions = tuple(Lesion(l["region"], l["type"], l["x"], l["y"], l["w"], l["h"], l["confidence"],
                           photo=l.get("photo", 0)) for l in data["lesions"])
    return AssessmentResult(
        quality, model,
        regions={name: RegionResult(name, bool(r["assessed"]), dict(r["counts"]), r.get("why"))
                 for name, r in data["regions"].items()},
        lesions=lesions,
        score=int(data["score"]),
        grade=data["grade"],
        not_assessed=tuple(data["not_assessed"]),
        scales=Scales.from_json(data["scales"]) if data["scales"] else None,
        advice=AdviceResult.from_json(data),
        several_photos=any("photo" in l for l in data["lesions"]),
        visit=visit)


def _version_1_as_2(old: Mapping[str, Any]) -> dict[str, Any]:
    """Version 1 has version 2's keys, but a row stored before a key existed lacks it (the whole-face grade in the
    scales, a lesion's confidence, the advice keys in early test rows): such a key reads as empty, as the readers
    of that time read it."""
    data = {"quality": {}, "regions": {}, "lesions": [], "not_assessed": [], "scales": None, "advice": [],
            "avoid": [], "refer": {}, "grade_personalised": {}, "notice": None, **old}
    data["quality"] = {"reasons": [], **data["quality"]}
    data["lesions"] = [{"confidence": 1.0, **l} for l in data["lesions"]]
    if data["scales"]:
        data["scales"] = {"hayashi": None, "image": None, **data["scales"]}
    return data
