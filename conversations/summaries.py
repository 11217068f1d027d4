"""Results (pipeline.result.AssessmentResult) and stored check-ins (storage StoredAssessment) -> the patient's texts,
per locale."""
from __future__ import annotations

from typing import Any, Protocol

from conversations.i18n import t
from conversations.questionnaire import Question
from pipeline.followup import compare
from pipeline.pose import differences
from pipeline.result import AssessmentResult, CheckinPhoto, Visit
from pipeline.types import ACNE_TYPES, NON_ACNE_TYPES, REGIONS, UNSEEN_WHY
from storage import StoredAssessment


class Texts(Protocol):
    """What answer_label needs: texts in the patient's language (a flow's Turn, or a stand-in with `t`)."""

    def t(self, key: str, **values: object) -> str: ...


def answer_label(texts: Texts, q: Question, value: Any) -> str:
    """An answer as the patient reads it (the questions, My data, the export)."""
    if value is None:
        return texts.t("data.not_answered")
    if q.kind == "number":
        return f"{value:g}" if isinstance(value, float) else str(value)
    if q.kind == "single":
        return texts.t(f"q.{q.id}.{value}")
    return ", ".join(texts.t(f"q.{q.id}.{v}") for v in value) or texts.t("data.none")


def region_label(locale: str, region: str) -> str:
    """As a list item starts ("Left cheek"); Chinese has no capitals, so it is unchanged."""
    name = t(locale, f"region.{region}")
    return name[:1].upper() + name[1:]


def grade_label(locale: str, grade: str) -> str:
    return t(locale, f"grade.{grade.replace(' ', '_')}")


def date_label(assessment: StoredAssessment) -> str:
    return assessment.created_at.date().isoformat()


def grade_text(locale: str, result: AssessmentResult) -> str:
    lines = [t(locale, "result.grade", grade=grade_label(locale, result.grade), score=result.score)]
    image = result.scales.image if result.scales else None
    if image is not None and image.raised_grade:
        lines.append(t(locale, "result.image_grade", grade=grade_label(locale, result.grade),
                       score_grade=grade_label(locale, image.score_grade)))
    unseen = [t(locale, f"region.{r}") for r, found in result.regions.items() if found.why in UNSEEN_WHY]
    if unseen:  # the score sums the regions seen: with part of the face unseen it can only be too low
        lines.append(t(locale, "result.grade_unseen", regions=", ".join(unseen)))
    personal = result.advice.grade_personalised
    if personal.grade and personal.grade != result.grade:
        lines.append(t(locale, "result.treatment_step", grade=grade_label(locale, personal.grade),
                       reasons="; ".join(personal.reasons)))
    return "\n".join(lines)


def result_text(locale: str, result: AssessmentResult, before: StoredAssessment | None,
                after: StoredAssessment | None) -> str:
    """The whole result in one message: grade and score, the change since `before`, the doctor notice, the counts
    per region (with last time's where they changed), and the not-a-diagnosis notice. Advice comes apart."""
    head = [t(locale, "result.title"), grade_text(locale, result)]
    if before is not None and after is not None:
        head.append(change_line(locale, before, after))
        if posed_differently(before, after):
            head.append(t(locale, "compare.other_pose"))
    parts = ["\n".join(head)]
    referral = referral_text(locale, result)
    if referral:
        parts.append(referral)
    parts += [findings_text(locale, result, before), result.advice.notice or t(locale, "result.notice")]
    return "\n\n".join(parts)


def _counts_label(locale: str, counts: dict[str, int]) -> str:
    return ", ".join(f"{t(locale, f'lesion.{k}')} {n}" for k in ACNE_TYPES if (n := counts.get(k)))


def findings_text(locale: str, result: AssessmentResult, before: StoredAssessment | None = None) -> str:
    lines = [t(locale, "result.findings_title")]
    for region in REGIONS:
        found = result.regions[region]
        name = region_label(locale, region)
        if not found.assessed:
            why = f"result.region_not_assessed_{found.why}" if found.why else "result.region_not_assessed"
            lines.append(t(locale, why, region=name))
            continue
        counts = _counts_label(locale, found.counts)
        line = t(locale, "result.region_counts", region=name, counts=counts or t(locale, "result.region_none"))
        old = before.counts.get(region) if before is not None else None
        if old is not None and any(old.get(k, 0) != found.counts.get(k, 0) for k in ACNE_TYPES):
            was = _counts_label(locale, old) or t(locale, "result.region_none")
            line += " " + t(locale, "result.region_was", counts=was)
        lines.append(line)
    other = {k: sum(r.counts.get(k, 0) for r in result.regions.values() if r.assessed) for k in NON_ACNE_TYPES}
    if any(other.values()):
        lines.append(t(locale, "result.not_acne", items=", ".join(
            f"{t(locale, f'lesion.{k}')} {n}" for k, n in other.items() if n)))
    return "\n".join(lines)


def referral_text(locale: str, result: AssessmentResult) -> str | None:
    refer = result.advice.refer
    if not refer.needed:
        return None
    title = t(locale, "result.refer_urgent" if refer.urgent else "result.refer")
    return "\n".join([title] + [f"• {reason}" for reason in refer.reasons])


def advice_text(locale: str, result: AssessmentResult) -> str:
    """What the patient can do and must avoid (the not-a-diagnosis notice is in the result message)."""
    lines = [t(locale, "result.advice_title")] + [f"• {a}" for a in result.advice.advice]
    if result.advice.avoid:
        lines += ["", t(locale, "result.avoid_title")] + [f"• {a}" for a in result.advice.avoid]
    return "\n".join(lines)


def change_line(locale: str, before: StoredAssessment, after: StoredAssessment) -> str:
    """"Change since <date> (to <date>): score 20 → 12 (-8), mild → mild" and, on a line of its own, whether that
    is better, the same or worse, from the score and the whole face's grade together (pipeline.followup)."""
    header = t(locale, "compare.header", before=date_label(before), after=date_label(after),
               score_before=before.score, score_after=after.score, delta=f"{after.score - before.score:+d}",
               grade_before=grade_label(locale, before.grade), grade_after=grade_label(locale, after.grade))
    change = compare(before.score, _image_probabilities(before), after.score, _image_probabilities(after))
    return header + "\n" + t(locale, f"compare.verdict.{change.verdict}")


def _image_probabilities(assessment: StoredAssessment) -> dict[str, float] | None:
    scales = AssessmentResult.from_json(assessment.result).scales
    return scales.image.probabilities if scales is not None and scales.image is not None else None


def comparison_text(locale: str, before: StoredAssessment, after: StoredAssessment) -> str:
    """The change per region and lesion type from `before` to `after`."""
    lines = [change_line(locale, before, after)]
    if posed_differently(before, after):
        lines.append(t(locale, "compare.other_pose"))
    for region in REGIONS:
        old, new = before.counts.get(region), after.counts.get(region)
        name = region_label(locale, region)
        if old is None and new is None:
            continue
        if old is None or new is None:
            lines.append(t(locale, "compare.not_assessed_before" if old is None else "compare.not_assessed_now",
                           region=name))
            continue
        changes = [f"{t(locale, f'lesion.{k}')} {old.get(k, 0)} → {new.get(k, 0)}"
                   for k in ACNE_TYPES + NON_ACNE_TYPES if old.get(k, 0) != new.get(k, 0)]
        lines.append(t(locale, "compare.region", region=name,
                       changes=", ".join(changes) or t(locale, "compare.no_change")))
    return "\n".join(lines)


def visit_of(assessment: StoredAssessment) -> Visit:
    """What a stored check-in kept beside its assessment (empty for results stored without it)."""
    return AssessmentResult.from_json(assessment.result).visit or Visit()


def checkin_photos(assessment: StoredAssessment) -> tuple[CheckinPhoto, ...]:
    """A stored check-in's photos; one stored before results listed them has its photo ids, taken as full-face."""
    return visit_of(assessment).photos or tuple(CheckinPhoto(p) for p in assessment.photo_ids)


def posed_differently(before: StoredAssessment, after: StoredAssessment) -> bool:
    """Whether the two check-ins' full-face photos differ in pose, distance or light (pipeline/pose.py)."""
    old, new = visit_of(before).pose, visit_of(after).pose
    return old is not None and new is not None and bool(differences(old, new))


def history_line(locale: str, number: int, assessment: StoredAssessment) -> str:
    """One check-in; marked when its photo was posed unlike the full-face check-in before it."""
    line = t(locale, "history.line", n=number, date=date_label(assessment),
             grade=grade_label(locale, assessment.grade), score=assessment.score)
    check = visit_of(assessment).pose_check
    if check is not None and check.differences:
        line += " " + t(locale, "history.other_pose")
    return line
