"""Treatment advice, contraindications and red flags (CLINICAL.md, "Treatment ladder" onwards).

Rule decisions, explicit because they are clinical:

* Personalised grade. The image grade is kept as measured; the personalised grade (the treatment step) starts
  from it. Scarring (a scar finding or ``metadata.scars``), treatment failure (condition after treatment
  worsened or unchanged) and long duration (more than a year) each justify a step up, but raises do NOT
  stack: any number of them raises by exactly one step, capped at "very severe", and every reason that applied
  is named. A clear face is never raised: there is no active acne to treat (scars and failure still refer).
  Reasons are named only when the step actually rose.
* A fitted adjustment model (``load_adjustment_model``), when given, replaces those rules: it adds a score
  delta, and the grade of the adjusted score is used, but never below the image grade and never from clear.
* Hormonal therapy is offered only when sex is "female"; when sex is unknown it is left out silently, when male
  it is named in ``avoid``.
* ``avoid`` lists only what this patient's answers rule out. Pregnancy, allergy, age and the tetracycline
  interaction are always listed (these are drugs the patient could be given or already has); the male rule is
  listed only when the ladder at this step would have offered hormonal therapy.
* Younger than 12: oral options are dropped (topical care only) and the patient is referred.
* Fever or joint pain with acne is same-day urgent (possible acne fulminans) unless the onset is reported as
  not sudden, in which case it is still referred, not urgently.
* Red flags and the pregnancy rule use the personalised grade.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.advice_texts import TEXTS
from pipeline.scoring import grade_for_score
from pipeline.types import GRADES, Metadata

TETRACYCLINES: tuple[str, ...] = ("doxycycline", "minocycline", "sarecycline", "tetracycline", "lymecycline")
SYMPTOMS: tuple[str, ...] = ("hardening", "bleeding", "increasing_in_size", "itching", "burning")


@dataclass(frozen=True)
class Findings:
    """What the photos showed that matters for advice, built by the caller from lesion counts."""

    nodules: int = 0
    scars: int = 0

    @classmethod
    def from_counts(cls, counts: Mapping[str, int]) -> Findings:
        return cls(nodules=counts.get("nodule", 0), scars=counts.get("scar", 0))


@dataclass(frozen=True)
class Option:
    code: str
    prescription: bool
    oral: bool
    drugs: tuple[str, ...]  # identities checked against contraindications; any banned drug removes the option
    females_only: bool = False


OPTIONS: Mapping[str, Option] = {
    o.code: o
    for o in (
        # code, prescription, oral, drugs
        Option("gentle_skin_care", False, False, ()),
        Option("topical_retinoid", True, False, ("topical_retinoids",)),
        Option("fixed_combination_retinoid", True, False, ("topical_retinoids", "benzoyl_peroxide")),
        Option("fixed_combination_bpo", True, False, ("benzoyl_peroxide", "topical_clindamycin")),
        Option("salicylic_acid", False, False, ("salicylic_acid",)),
        Option("azelaic_acid", True, False, ("azelaic_acid",)),
        Option("benzoyl_peroxide", False, False, ("benzoyl_peroxide",)),
        Option("hormonal_therapy", True, True, ("hormonal_therapy",), females_only=True),
        Option("oral_antibiotic", True, True, ("oral_tetracyclines", "benzoyl_peroxide")),
        Option("oral_isotretinoin", True, True, ("oral_isotretinoin",)),
    )
}


@dataclass(frozen=True)
class Step:
    option: str
    preferred: bool = False
    addon: bool = False  # taken together with the topical, not instead of it


# Paper Table 1. "A fixed combination" is split into its retinoid and non-retinoid forms so that pregnancy
# can drop the retinoid one and keep clindamycin + benzoyl peroxide.
LADDER: Mapping[str, tuple[Step, ...]] = {
    "clear": (Step("gentle_skin_care"),),
    "mild": (
        Step("topical_retinoid"),
        Step("fixed_combination_retinoid"),
        Step("fixed_combination_bpo"),
        Step("salicylic_acid"),
        Step("azelaic_acid"),
    ),
    "moderate": (
        Step("fixed_combination_retinoid"),
        Step("fixed_combination_bpo"),
        Step("benzoyl_peroxide"),
        Step("topical_retinoid"),
        Step("azelaic_acid"),
    ),
    "severe": (
        Step("fixed_combination_retinoid", preferred=True),
        Step("fixed_combination_bpo", preferred=True),
        Step("hormonal_therapy", addon=True),
        Step("oral_antibiotic", addon=True),
    ),
    "very severe": (
        Step("fixed_combination_retinoid", preferred=True),
        Step("fixed_combination_bpo", preferred=True),
        Step("oral_antibiotic", preferred=True, addon=True),
        Step("oral_isotretinoin"),
        Step("hormonal_therapy"),
    ),
}


def _norm(words: tuple[str, ...]) -> set[str]:
    return {re.sub(r"[\s-]+", "_", w.strip().lower()) for w in words}


def _pregnant(m: Metadata) -> bool:
    return m.pregnancy in ("yes", "unknown")  # "unknown" is "possibly pregnant"; breastfeeding is "yes"


def _under_12(m: Metadata) -> bool:
    return m.age is not None and m.age < 12


def _allergic(*names: str) -> Callable[[Metadata], bool]:
    return lambda m: any(n in a.lower() for a in m.allergies for n in names)


def _taking_tetracycline(m: Metadata) -> bool:
    return any(t in med.lower() for med in m.current_medication for t in TETRACYCLINES)


def _scarred(m: Metadata, f: Findings) -> bool:
    return f.scars > 0 or m.scars is True


def _treatment_failed(m: Metadata) -> bool:
    return m.condition_after_treatment in ("worsened", "unchanged")


@dataclass(frozen=True)
class Contraindication:
    reason: str
    drugs: tuple[str, ...]
    applies: Callable[[Metadata], bool]
    always_listed: bool = True  # False: named in avoid only when it removed an option at this step


CONTRAINDICATIONS: tuple[Contraindication, ...] = (
    Contraindication(
        "pregnancy",
        ("oral_isotretinoin", "oral_tetracyclines", "trimethoprim_sulfamethoxazole", "topical_tazarotene",
         "hormonal_therapy", "topical_retinoids"),
        _pregnant,
    ),
    Contraindication("under_12", ("oral_tetracyclines", "oral_isotretinoin"), _under_12),
    Contraindication("male", ("hormonal_therapy",), lambda m: m.sex == "male", always_listed=False),
    Contraindication("sulfa_allergy", ("trimethoprim_sulfamethoxazole", "dapsone"),
                     _allergic("sulfa", "sulpha", "sulfonamide")),
    # Amoxicillin and cefadroxil share a side chain, so either allergy rules out both.
    Contraindication("penicillin_allergy", ("amoxicillin", "cefadroxil"), _allergic("penicillin")),
    Contraindication("cephalosporin_allergy", ("amoxicillin", "cefadroxil"), _allergic("cephalosporin")),
    Contraindication("nitroimidazole_allergy", ("metronidazole",), _allergic("nitroimidazole")),
    Contraindication("taking_tetracycline", ("oral_isotretinoin",), _taking_tetracycline),
)

_DURATION = re.compile(
    r"^(?P<more>>|more than|over)?\s*(?P<n>\d+(?:\.\d+)?|a|one)\s*"
    r"(?P<unit>y|yr|year|m|mo|month|w|wk|week|d|day)s?$"
)
_UNIT_YEARS = {"y": 1, "yr": 1, "year": 1, "m": 1 / 12, "mo": 1 / 12, "month": 1 / 12,
               "w": 1 / 52, "wk": 1 / 52, "week": 1 / 52, "d": 1 / 365, "day": 1 / 365}


def longer_than_a_year(duration: str | None) -> bool:
    """'more_than_1_year', '>1y', 'over 1 year', '18 months', '2 years' -> True; unparseable -> False."""
    if not duration:
        return False
    match = _DURATION.match(re.sub(r"[\s_]+", " ", duration.strip().lower()))
    if not match:
        return False
    n = 1.0 if match["n"] in ("a", "one") else float(match["n"])
    years = n * _UNIT_YEARS[match["unit"]]
    return years > 1 or (years == 1 and match["more"] is not None)


RAISE_RULES: tuple[tuple[str, Callable[[Metadata, Findings], bool]], ...] = (
    ("scarring", _scarred),
    ("treatment_failure", lambda m, f: _treatment_failed(m)),
    ("long_duration", lambda m, f: longer_than_a_year(m.duration)),
)

# Features a fitted adjustment model may use; a missing answer contributes 0.
FEATURES: Mapping[str, Callable[[Metadata, Findings], float]] = {
    "scars": lambda m, f: float(_scarred(m, f)),
    "treatment_failure": lambda m, f: float(_treatment_failed(m)),
    "long_duration": lambda m, f: float(longer_than_a_year(m.duration)),
    "age": lambda m, f: float(m.age or 0.0),
    "female": lambda m, f: float(m.sex == "female"),
    "distress": lambda m, f: float(m.distress == "yes"),
    "nodules": lambda m, f: float(f.nodules),
    **{f"symptom_{s}": (lambda m, f, s=s: float(s in _norm(m.symptoms))) for s in SYMPTOMS},
}


@dataclass(frozen=True)
class AdjustmentModel:
    """A fitted linear score adjustment: delta = intercept + sum(coefficient * feature)."""

    coefficients: Mapping[str, float]
    intercept: float = 0.0

    def delta(self, metadata: Metadata, findings: Findings) -> float:
        return self.intercept + sum(c * FEATURES[name](metadata, findings) for name, c in self.coefficients.items())


def load_adjustment_model(path: str | os.PathLike[str]) -> AdjustmentModel:
    """Load ``{"intercept": 0.0, "coefficients": {"scars": 20.0, ...}}``; feature names are FEATURES' keys."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    coefficients = data.get("coefficients", {})
    unknown = set(coefficients) - set(FEATURES)
    if unknown:
        raise ValueError(f"unknown features in {path}: {sorted(unknown)}; known: {sorted(FEATURES)}")
    return AdjustmentModel(
        coefficients={k: float(v) for k, v in coefficients.items()},
        intercept=float(data.get("intercept", 0.0)),
    )


def _rank(grade: str) -> int:
    return GRADES.index(grade)


def personalise(
    grade: str,
    metadata: Metadata,
    findings: Findings,
    score: float | None = None,
    adjustment: AdjustmentModel | None = None,
) -> tuple[str, list[str]]:
    """(personalised grade, raise codes); see the module docstring for the rules."""
    if grade == "clear":
        return grade, []
    if adjustment is not None:
        if score is None:
            raise ValueError("an adjustment model needs the image score")
        adjusted = grade_for_score(score + adjustment.delta(metadata, findings))
        return (adjusted, ["adjustment_model"]) if _rank(adjusted) > _rank(grade) else (grade, [])
    reasons = [code for code, hit in RAISE_RULES if hit(metadata, findings)]
    if not reasons or grade == GRADES[-1]:
        return grade, []
    return GRADES[_rank(grade) + 1], reasons


REFER_CODES: tuple[str, ...] = (
    "fulminans", "systemic_symptoms", "nodule", "scars", "grade_severe", "bleeding", "growing",
    "treatment_failure", "under_12", "pregnancy_above_mild", "distress",
)


def red_flags(grade: str, metadata: Metadata, findings: Findings) -> list[str]:
    """Referral codes, the urgent one first."""
    symptoms = _norm(metadata.symptoms)
    systemic = bool(symptoms & {"fever", "joint_pain"})
    flags = (
        ("fulminans", systemic and metadata.sudden_onset is not False),
        ("systemic_symptoms", systemic and metadata.sudden_onset is False),
        ("nodule", findings.nodules > 0),
        ("scars", _scarred(metadata, findings)),
        ("grade_severe", _rank(grade) >= _rank("severe")),
        ("bleeding", "bleeding" in symptoms),
        ("growing", "increasing_in_size" in symptoms),
        ("treatment_failure", _treatment_failed(metadata)),
        ("under_12", _under_12(metadata)),
        ("pregnancy_above_mild", _pregnant(metadata) and _rank(grade) > _rank("mild")),
        ("distress", metadata.distress == "yes"),
    )
    return [code for code, hit in flags if hit]


def _allowed(option: Option, banned: set[str], metadata: Metadata) -> bool:
    if banned.intersection(option.drugs):
        return False
    if option.oral and _under_12(metadata):
        return False
    return not (option.females_only and metadata.sex != "female")


def text(code: str, locale: str = "en") -> str:
    """Catalogue lookup; 'zh', 'zh-CN', 'zh_Hans' -> zh, anything unknown -> en."""
    language = re.split(r"[-_]", locale.lower())[0]
    return TEXTS.get(language, TEXTS["en"]).get(code) or TEXTS["en"][code]


@dataclass(frozen=True)
class Advice:
    grade_image: str
    grade_personalised: str
    personalised_reasons: list[str]
    personalised_codes: list[str]
    advice: list[str]  # recommendations only, contraindicated options removed
    advice_codes: list[str]  # option codes, parallel to advice
    avoid: list[str]  # "<drug> — <why>"
    avoid_codes: list[str]  # "<drug>:<reason>", parallel to avoid
    refer: bool
    refer_reasons: list[str]
    refer_codes: list[str]
    urgent: bool  # same-day care (possible acne fulminans)
    notice: str
    locale: str = "en"


def _render_step(step: Step, locale: str) -> str:
    option = OPTIONS[step.option]
    if not option.prescription:
        template = "tpl.suggest"
    else:
        template = "tpl.ask_doctor_addon" if step.addon else "tpl.ask_doctor"
    line = text(template, locale).format(name=text(f"option.{option.code}", locale))
    return text("tpl.preferred", locale).format(line=line) if step.preferred else line


def _capitalised(s: str) -> str:
    return s[:1].upper() + s[1:]


def advise(
    grade: str,
    metadata: Metadata,
    findings: Findings,
    locale: str = "en",
    *,
    score: float | None = None,
    adjustment: AdjustmentModel | None = None,
) -> Advice:
    """Advice for an image grade, personalised by the questionnaire; ``score`` is needed only with a model."""
    if grade not in GRADES:
        raise ValueError(f"unknown grade {grade!r}; expected one of {GRADES}")
    personal, raises = personalise(grade, metadata, findings, score, adjustment)

    active = [c for c in CONTRAINDICATIONS if c.applies(metadata)]
    banned = {drug for c in active for drug in c.drugs}
    ladder = LADDER[personal]
    kept = [s for s in ladder if _allowed(OPTIONS[s.option], banned, metadata)]
    dropped_drugs = {d for s in ladder if s not in kept for d in OPTIONS[s.option].drugs}
    avoid_pairs = [
        (drug, c.reason) for c in active for drug in c.drugs if c.always_listed or drug in dropped_drugs
    ]
    refer_codes = red_flags(personal, metadata, findings)

    def avoid_line(drug: str, reason: str) -> str:
        line = text("tpl.avoid", locale).format(name=text(f"drug.{drug}", locale), why=text(f"why.{reason}", locale))
        return _capitalised(line)

    return Advice(
        grade_image=grade,
        grade_personalised=personal,
        personalised_reasons=[text(f"raise.{c}", locale) for c in raises],
        personalised_codes=raises,
        advice=[_render_step(s, locale) for s in kept],
        advice_codes=[s.option for s in kept],
        avoid=[avoid_line(d, r) for d, r in avoid_pairs],
        avoid_codes=[f"{d}:{r}" for d, r in avoid_pairs],
        refer=bool(refer_codes),
        refer_reasons=[text(f"refer.{c}", locale) for c in refer_codes],
        refer_codes=refer_codes,
        urgent="fulminans" in refer_codes,
        notice=text("notice", locale),
        locale=locale,
    )
