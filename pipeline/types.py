"""The dataclasses one photo travels through: Photo -> Face -> Patches -> Lesions -> Assessment."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

REGIONS: tuple[str, ...] = ("forehead", "nose", "left_cheek", "right_cheek", "chin")
ACNE_TYPES: tuple[str, ...] = ("comedone", "papule", "pustule", "nodule")
NON_ACNE_TYPES: tuple[str, ...] = ("spot", "scar", "mole")
# The classifier's output order; the ONNX model's metadata repeats it and the loader checks they agree.
CLASSES: tuple[str, ...] = ("normal",) + ACNE_TYPES + NON_ACNE_TYPES
INFLAMMATORY: tuple[str, ...] = ("papule", "pustule")
GRADES: tuple[str, ...] = ("clear", "mild", "moderate", "severe", "very severe")
IMAGE_LEVELS: tuple[str, ...] = ("mild", "moderate", "severe")  # the whole-face grade's: ACNE04's Hayashi levels 0-2

Region = Literal["forehead", "nose", "left_cheek", "right_cheek", "chin"]
Grade = Literal["clear", "mild", "moderate", "severe", "very severe"]


@dataclass(frozen=True)
class Photo:
    """A decoded, upright, metadata-free RGB photo."""

    pixels: np.ndarray  # HxWx3 uint8 RGB
    source_format: str  # "JPEG", "PNG", "WEBP", "HEIF"

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True)
class Reason:
    """Why a photo is not usable: a stable code and the message for the patient (pipeline/quality.py)."""

    code: str
    message: str


@dataclass(frozen=True)
class Lesion:
    region: str
    type: str  # one of CLASSES other than "normal"
    x: int  # box in the input photo's pixel coordinates
    y: int
    w: int
    h: int
    confidence: float
    side: Literal["left", "right"] | None = None  # patient's side of the face, for Hayashi
    photo: int = 0

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


# Why a region was not assessed, the first that applies to any of the visit's photos: a cheek turned away from
# the camera (or the far side of a profile), too little of its skin showing (hair, shadow, the photo's edge), or
# no photo showing it (close-ups of other regions only).
NOT_ASSESSED_WHY = ("turned_away", "not_visible", "no_photo")
# Of those, where the patient showed the face but part of it could not be seen: the grade, which sums the regions
# seen, may then be too low (a region with no photo is one the patient skipped as having no acne).
UNSEEN_WHY = ("turned_away", "not_visible")


@dataclass
class RegionResult:
    region: str
    assessed: bool
    counts: dict[str, int] = field(default_factory=dict)  # lesion type -> count (all non-normal classes)
    why: str | None = None  # one of NOT_ASSESSED_WHY when not assessed


@dataclass(frozen=True)
class Metadata:
    """Questionnaire answers (CLINICAL.md); every field optional."""

    age: float | None = None
    sex: Literal["female", "male"] | None = None
    pregnancy: Literal["yes", "no", "unknown"] | None = None  # breastfeeding counts as yes
    allergies: tuple[str, ...] = ()  # penicillin, cephalosporin, sulfa, nitroimidazole
    current_medication: tuple[str, ...] = ()  # free drug names, e.g. "doxycycline"
    symptoms: tuple[str, ...] = ()  # hardening, bleeding, increasing_in_size, itching, burning, fever, joint_pain
    duration: str | None = None
    frequency: str | None = None
    condition_after_treatment: Literal["improved", "worsened", "unchanged", "unknown"] | None = None
    scars: bool | None = None
    sudden_onset: bool | None = None
    distress: Literal["yes", "no", "prefer_not_to_say"] | None = None
