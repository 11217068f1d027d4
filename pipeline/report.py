"""Assessment and Advice -> their results (pipeline/result.py: the JSON contract of `acnebot assess/advise --json`
and what a check-in stores), and plain text."""
from __future__ import annotations

from dataclasses import replace

from pipeline.advice import Advice
from pipeline.assess import Assessment
from pipeline.result import (AdviceResult, AssessmentResult, ImageScale, Model, PersonalisedGrade, Quality,
                             Referral, Scales)
from pipeline.types import IMAGE_LEVELS, REGIONS


def advice_result(advice: Advice) -> AdviceResult:
    return AdviceResult(tuple(advice.advice), tuple(advice.avoid),
                        Referral(advice.refer, advice.urgent, tuple(advice.refer_reasons), tuple(advice.refer_codes)),
                        PersonalisedGrade(advice.grade_personalised, tuple(advice.personalised_reasons),
                                          tuple(advice.personalised_codes)),
                        advice.notice)


def assessment_result(result: Assessment) -> AssessmentResult:
    quality = Quality(result.quality.ok, tuple(result.quality.reasons))
    model = Model(**result.model)
    if not result.ok:
        return AssessmentResult(quality, model)
    s = result.scores
    return AssessmentResult(
        quality, model,
        regions={r: replace(result.regions[r], counts=dict(result.regions[r].counts)) for r in REGIONS},
        lesions=tuple(replace(l, side=None) for l in result.lesions),
        score=s.score,
        grade=s.grade,
        not_assessed=tuple(s.not_assessed),
        scales=Scales(s.hayashi, s.gags, s.nice, _image_scale(result)),
        advice=advice_result(result.advice),
        several_photos=len(result.photos) > 1 and bool(result.lesions),  # without lesions the JSON cannot tell
    )


def _image_scale(result: Assessment) -> ImageScale | None:
    """The image-level grade of the whole face, and whether it raised the grade told (CLINICAL.md)."""
    image = result.image_grade
    if image is None:
        return None
    return ImageScale(image.grade, dict(zip(IMAGE_LEVELS, image.probabilities)), round(image.count, 1),
                      result.scores.score_grade, result.scores.raised_by_image)


def advice_text(advice: Advice) -> str:
    lines = []
    if advice.refer:
        lines.append(("SEE A DOCTOR TODAY:" if advice.urgent else "Please see a doctor:"))
        lines += [f"  ! {r}" for r in advice.refer_reasons]
    if advice.grade_personalised != advice.grade_image:
        lines.append(f"Treatment step: {advice.grade_personalised} ({'; '.join(advice.personalised_reasons)})")
    lines.append("Suggestions:")
    lines += [f"  - {a}" for a in advice.advice]
    if advice.avoid:
        lines.append("Avoid:")
        lines += [f"  - {a}" for a in advice.avoid]
    lines.append(advice.notice)
    return "\n".join(lines)


def assessment_text(result: Assessment) -> str:
    if not result.ok:
        return "Photo not usable:\n" + "\n".join(f"- {r.message}" for r in result.quality.reasons)
    s = result.scores
    lines = [f"Grade: {s.grade} (score {s.score})"]
    for region in REGIONS:
        rr = result.regions[region]
        if not rr.assessed:
            lines.append(f"  {region:12s} not assessed" + (f" ({rr.why.replace('_', ' ')})" if rr.why else ""))
            continue
        found = ", ".join(f"{n} {t}" for t, n in rr.counts.items() if n) or "no findings"
        lines.append(f"  {region:12s} {found}")
    if s.hayashi:
        lines.append(f"Hayashi: {s.hayashi.grade} ({s.hayashi.count} inflammatory lesions on the worse half)")
    if s.raised_by_image:
        lines.append(f"The whole-face grade ({s.image_grade}) is above the lesion score's ({s.score_grade}): "
                     "the advice follows it.")
    lines.append(f"{s.gags.note}: {s.gags.score} ({s.gags.grade})")
    lines.append(advice_text(result.advice))
    return "\n".join(lines)
