"""CLINICAL.md's questionnaire (paper Appendix A) as data, and its answers -> pipeline Metadata.

Profile questions are asked once and kept in the profile (editable from "My data"): what cannot change from one
week to the next. Visit questions are what can change (symptoms and red flags, treatment and how it goes,
pregnancy, mood): asked on the first check-in, then carried over from the previous check-in unless the patient
updates them (conversations/flows/questions.py). Every question can be skipped with one tap (the answer is then
None). Texts: `q.<id>` for
the question, `q.<id>.<option>` for each option (i18n catalogues).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pipeline.metadata import parse_metadata
from pipeline.types import Metadata

Kind = Literal["single", "multi", "number"]
Part = Literal["profile", "visit"]

MEDICATIONS = ("doxycycline", "minocycline", "isotretinoin", "topical_retinoid", "benzoyl_peroxide",
               "contraceptive_pill", "other")
# The names advice.py matches (tetracyclines by substring); codes not listed pass through with "_" -> " ".
_DRUG_NAMES = {"topical_retinoid": "topical retinoid", "benzoyl_peroxide": "benzoyl peroxide",
               "contraceptive_pill": "combined oral contraceptive"}
# Duration options -> phrases advice.longer_than_a_year() reads; only "over a year" counts as long.
_DURATIONS = {"under_1_month": "under 1 month", "1_to_3_months": "3 months", "3_to_12_months": "12 months",
              "over_1_year": "more than 1 year"}


@dataclass(frozen=True)
class Question:
    id: str
    kind: Kind
    part: Part
    options: tuple[str, ...] = ()
    asked_if: Callable[[Mapping[str, Any]], bool] | None = None  # on the answers so far (profile + visit)
    low: float = 0  # number questions: accepted range
    high: float = 120

    def asked(self, answers: Mapping[str, Any]) -> bool:
        return self.asked_if is None or self.asked_if(answers)

    def accepts(self, value: Any) -> bool:
        if value is None:
            return True
        if self.kind == "single":
            return value in self.options
        if self.kind == "multi":
            return isinstance(value, list) and all(v in self.options for v in value)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high


def _female(answers: Mapping[str, Any]) -> bool:
    return answers.get("sex") == "female"


# Only what the advice or the doctor notice uses (pipeline/advice.py, CLINICAL.md): age (under 12), sex (hormonal
# options, the pregnancy question), allergies (antibiotics), duration (a year or more raises the treatment step);
# then per visit: symptoms (red flags), current medication (tetracycline + isotretinoin), pregnancy,
# how it is going since treatment (failure refers), mood (distress refers). Skin type, skin and family history,
# biopsy, how often it appears, other medical problems and past medication changed nothing and are not asked
# (answers given before stay in the profile).
PROFILE_QUESTIONS: tuple[Question, ...] = (
    Question("age", "number", "profile", low=1, high=120),
    Question("sex", "single", "profile", ("female", "male")),
    Question("allergies", "multi", "profile", ("penicillin", "cephalosporin", "sulfa", "nitroimidazole")),
    Question("duration", "single", "profile", tuple(_DURATIONS)),
)
VISIT_QUESTIONS: tuple[Question, ...] = (
    Question("symptoms", "multi", "visit",
             ("hardening", "bleeding", "increasing_in_size", "itching", "burning", "fever", "joint_pain")),
    Question("current_medication", "multi", "visit", MEDICATIONS),
    Question("pregnancy", "single", "visit", ("yes", "no", "unknown", "breastfeeding"), asked_if=_female),
    Question("condition_after_treatment", "single", "visit", ("improved", "worsened", "unchanged", "unknown")),
    Question("distress", "single", "visit", ("yes", "no", "prefer_not_to_say")),
)
# Red flags (bleeding, growing, fever, joint pain) live in these answers: carried over from an earlier check-in
# for at most RED_FLAGS_KEPT_DAYS, then asked again even when the patient says nothing changed.
RED_FLAG_QUESTIONS: tuple[str, ...] = ("symptoms",)
RED_FLAGS_KEPT_DAYS = 28
QUESTIONS: dict[str, Question] = {q.id: q for q in PROFILE_QUESTIONS + VISIT_QUESTIONS}


def parse_number(text: str, question: Question) -> float | None:
    """The first number in the text ("25", "25 years", "25岁"), if it is in range; None otherwise."""
    digits = ""
    for ch in text.strip():
        if ch.isdigit() or (ch == "." and digits and "." not in digits):
            digits += ch
        elif digits:
            break
    try:
        value = float(digits.rstrip("."))
    except ValueError:
        return None
    return value if question.low <= value <= question.high else None


def to_metadata(answers: Mapping[str, Any]) -> Metadata:
    """Profile and visit answers (skipped ones None) -> the pipeline's Metadata; unknown answers are dropped."""
    raw: dict[str, Any] = {}
    for key in ("age", "sex", "pregnancy", "condition_after_treatment", "distress", "frequency"):
        if answers.get(key) is not None:
            raw[key] = answers[key]
    if answers.get("allergies"):
        raw["allergies"] = list(answers["allergies"])
    if answers.get("symptoms"):
        raw["symptoms"] = list(answers["symptoms"])
    if answers.get("current_medication"):
        raw["current_medication"] = [_DRUG_NAMES.get(m, m.replace("_", " ")) for m in answers["current_medication"]
                                     if m != "other"]
    if answers.get("duration") in _DURATIONS:
        raw["duration"] = _DURATIONS[answers["duration"]]
    if answers.get("sex") != "female":
        raw.pop("pregnancy", None)  # an answer left over from before the sex was changed
    return parse_metadata(raw)
