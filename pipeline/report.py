"""Assessment and Advice -> the stable JSON contract of `acnebot assess/advise --json`, and plain text."""
from __future__ import annotations

from dataclasses import asdict

from pipeline.advice import Advice
from pipeline.assess import Assessment
from pipeline.grade import LEVELS
from pipeline.types import REGIONS


def advice_json(advice: Advice) -> dict:
    return {
        "advice": advice.advice,
        "avoid": advice.avoid,
        "refer": {"needed": advice.refer, "urgent": advice.urgent, "reasons": advice.refer_reasons,
                  "codes": advice.refer_codes},
        "grade_personalised": {"grade": advice.grade_personalised, "reasons": advice.personalised_reasons,
                               "codes": advice.personalised_codes},
        "notice": advice.notice,
    }


def assessment_json(result: Assessment) -> dict:
    quality = {"ok": result.quality.ok, "reasons": [asdict(r) for r in result.quality.reasons]}
    if not result.ok:
        return {"quality": quality, "model": result.model}
    several = len(result.photos) > 1
    lesions = []
    for l in result.lesions:
        item = {"region": l.region, "type": l.type, "x": l.x, "y": l.y, "w": l.w, "h": l.h,
                "confidence": l.confidence}
        if several:
            item["photo"] = l.photo
        lesions.append(item)
    s = result.scores
    return {
        "quality": quality,
        "regions": {r: {"assessed": result.regions[r].assessed, "counts": result.regions[r].counts}
                    for r in REGIONS},
        "lesions": lesions,
        "score": s.score,
        "grade": s.grade,
        "not_assessed": s.not_assessed,
        "scales": {
            "hayashi": asdict(s.hayashi) if s.hayashi else None,
            "gags": asdict(s.gags),
            "nice": s.nice,
            "image": _image_json(result),
        },
        **advice_json(result.advice),
        "model": result.model,
    }


def _image_json(result: Assessment) -> dict | None:
    """The image-level grade of the whole face, and whether it raised the grade told (CLINICAL.md)."""
    image = result.image_grade
    if image is None:
        return None
    return {"grade": image.grade, "probabilities": dict(zip(LEVELS, image.probabilities)),
            "expected_count": round(image.count, 1), "score_grade": result.scores.score_grade,
            "raised_grade": result.scores.raised_by_image}


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
            lines.append(f"  {region:12s} not assessed")
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
