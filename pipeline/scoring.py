"""Severity scores from per-region lesion counts (CLINICAL.md, "Severity score").

Pure functions over counts; no images here. The main scale is the Acne-RegNet score (paper eq. 1) and its grade;
Hayashi, face-only GAGS and the NICE category are computed from the same counts for staff. Where an image-level
grade of the whole face is given (CLINICAL.md, "The grade from the whole image"), Hayashi reports it with the
count beside it, and the grade the patient is told is the higher of it and the eq. 1 band, never lower.

A region that was not photographed is "not assessed", never clear: it is left out of the mapping (or marked
``assessed=False``), contributes nothing, and is listed in ``Scores.not_assessed`` so the reply can say so.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.types import ACNE_TYPES, CLASSES, GRADES, INFLAMMATORY, REGIONS, RegionResult

REGION_WEIGHTS: Mapping[str, int] = {"forehead": 2, "left_cheek": 2, "right_cheek": 2, "nose": 1, "chin": 1}
# Points per counted lesion; comedones are scored as present/absent instead (too many to count reliably).
LESION_POINTS: Mapping[str, int] = {"papule": 2, "pustule": 3, "nodule": 4}
COMEDONE_POINTS = 1
GAGS_RANK: Mapping[str, int] = {"comedone": 1, "papule": 2, "pustule": 3, "nodule": 4}

# (upper bound inclusive, grade); the last band is open-ended.
SCORE_BANDS: tuple[tuple[float, str], ...] = ((1, "clear"), (40, "mild"), (90, "moderate"), (160, "severe"))
HAYASHI_BANDS: tuple[tuple[float, str], ...] = ((5, "mild"), (20, "moderate"), (50, "severe"))
GAGS_BANDS: tuple[tuple[float, str], ...] = ((0, "clear"), (18, "mild"), (30, "moderate"), (38, "severe"))
NICE_INFLAMMATORY_MIN = 35
NICE_NODULES_MIN = 3


def _band(value: float, bands: tuple[tuple[float, str], ...]) -> str:
    for upper, grade in bands:
        if value <= upper:
            return grade
    return "very severe"


def _checked(region: str, counts: Mapping[str, int]) -> Mapping[str, int]:
    if region not in REGION_WEIGHTS:
        raise ValueError(f"unknown region {region!r}; expected one of {REGIONS}")
    for lesion_type, n in counts.items():
        if lesion_type not in CLASSES:
            raise ValueError(f"unknown lesion type {lesion_type!r} in {region}")
        if n < 0:
            raise ValueError(f"negative count {n} for {lesion_type} in {region}")
    return counts


def severity_score(region_counts: Mapping[str, Mapping[str, int]]) -> int:
    """Paper eq. 1 over the assessed regions; spots, scars and moles never count."""
    total = 0
    for region, counts in region_counts.items():
        counts = _checked(region, counts)
        points = COMEDONE_POINTS if counts.get("comedone", 0) > 0 else 0
        points += sum(LESION_POINTS[t] * counts.get(t, 0) for t in LESION_POINTS)
        total += REGION_WEIGHTS[region] * points
    return total


def grade_for_score(score: float) -> str:
    """clear <= 1 < mild <= 40 < moderate <= 90 < severe <= 160 < very severe."""
    return _band(score, SCORE_BANDS)


@dataclass(frozen=True)
class HayashiResult:
    count: int  # inflammatory lesions (papules + pustules) on the half that was graded
    grade: str  # mild / moderate / severe / very severe (Hayashi has no "clear"): the image-level one if given
    count_grade: str = ""  # the grade the count alone gives
    image_grade: str | None = None  # the image-level grade of the whole face, where one was made


def _check_image_grade(image_grade: str | None) -> None:
    if image_grade is not None and image_grade not in GRADES[1:]:
        raise ValueError(f"unknown image-level grade {image_grade!r}")


def hayashi(inflammatory_left: int | None, inflammatory_right: int | None,
            image_grade: str | None = None) -> HayashiResult | None:
    """Hayashi grades one half of the face: the worse half of a full face, else the visible half."""
    visible = [n for n in (inflammatory_left, inflammatory_right) if n is not None]
    if not visible:
        return None
    if min(visible) < 0:
        raise ValueError("inflammatory counts must be >= 0")
    _check_image_grade(image_grade)
    count = max(visible)
    by_count = _band(count, HAYASHI_BANDS)
    return HayashiResult(count=count, grade=image_grade or by_count, count_grade=by_count, image_grade=image_grade)


def higher_grade(a: str, b: str | None) -> str:
    return a if b is None or GRADES.index(a) >= GRADES.index(b) else b


@dataclass(frozen=True)
class GagsResult:
    score: int
    grade: str
    note: str = "face-only GAGS"  # chest and back (weight 3) are never photographed; the face tops out at 32


def gags_face(region_counts: Mapping[str, Mapping[str, int]]) -> GagsResult:
    total = 0
    for region, counts in region_counts.items():
        counts = _checked(region, counts)
        worst = max((GAGS_RANK[t] for t in ACNE_TYPES if counts.get(t, 0) > 0), default=0)
        total += REGION_WEIGHTS[region] * worst
    return GagsResult(score=total, grade=_band(total, GAGS_BANDS))


def nice_category(inflammatory_total: int, nodules: int) -> str:
    """NICE NG198 split, for staff."""
    if inflammatory_total >= NICE_INFLAMMATORY_MIN or nodules >= NICE_NODULES_MIN:
        return "moderate-to-severe"
    return "mild-to-moderate"


@dataclass(frozen=True)
class Scores:
    score: int
    grade: str  # one of GRADES: the one told (advice and doctor notice follow it), over the assessed regions
    hayashi: HayashiResult | None
    gags: GagsResult
    nice: str
    not_assessed: list[str] = field(default_factory=list)  # in REGIONS order
    score_grade: str = ""  # the eq. 1 band of `score`, as the paper gives it
    image_grade: str | None = None  # the image-level grade of the whole face, where one was made

    @property
    def raised_by_image(self) -> bool:
        """The image-level grade is above the eq. 1 band, so the told grade follows it."""
        return self.image_grade is not None and self.grade != self.score_grade


def score_all(
    region_results: list[RegionResult],
    inflammatory_left: int | None,
    inflammatory_right: int | None,
    image_grade: str | None = None,
) -> Scores:
    """Every scale from one set of region results.

    A region whose result is missing or has ``assessed=False`` is "not assessed", never clear: it adds nothing
    to any score and is named in ``not_assessed``. With regions missing, the grade is therefore a lower bound
    and the reply must say which regions were not seen. Raises ValueError if a region appears twice (the
    caller merges photos first). `image_grade` (mild / moderate / severe / very severe) can only raise the grade.
    """
    seen: set[str] = set()
    assessed: dict[str, Mapping[str, int]] = {}
    for result in region_results:
        if result.region in seen:
            raise ValueError(f"region {result.region!r} given twice; merge photos before scoring")
        seen.add(result.region)
        if result.assessed:
            assessed[result.region] = result.counts
    score = severity_score(assessed)
    inflammatory = sum(c.get(t, 0) for c in assessed.values() for t in INFLAMMATORY)
    nodules = sum(c.get("nodule", 0) for c in assessed.values())
    _check_image_grade(image_grade)
    by_score = grade_for_score(score)
    # ACNE04's mildest level spans 0-5 lesions, so an image-level "mild" cannot tell clear from mild: it
    # raises nothing, and only moderate and above lift the told grade.
    return Scores(
        score=score,
        grade=higher_grade(by_score, image_grade if image_grade != "mild" else None),
        hayashi=hayashi(inflammatory_left, inflammatory_right, image_grade),
        gags=gags_face(assessed),
        nice=nice_category(inflammatory, nodules),
        not_assessed=[r for r in REGIONS if r not in assessed],
        score_grade=by_score,
        image_grade=image_grade,
    )
