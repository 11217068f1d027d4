"""Better, the same or worse than last time: two check-ins compared on the counts' eq. 1 score and on the whole
face's image-level grade (CLINICAL.md), so that neither alone decides.

The same face photographed again minutes later moves both a little (the detector finds a few lesions more or
less, the grade's probabilities shift): a change within that retake's margin is "the same". The margins are
the 95th percentiles of the changes between 445 ACNE04 training and tune photos and their simulated retakes
(`python -m models.evaluate_followup --photos tune_train`; the score's absolute margin from the 201 photos
scoring under 20, its share from the others). The 90th percentiles called 19 % of those retakes a change
instead of 9 %, and got the direction between photos one Hayashi level apart no more often (0.88 against 0.89).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping

from pipeline.types import IMAGE_LEVELS
SCORE_MARGIN_ABS = 14  # eq. 1 points that are never a change ...
SCORE_MARGIN_SHARE = 0.83  # ... nor this share of the two scores' mean (the counts' noise grows with them)
LEVEL_MARGIN = 0.17  # of the expected image-level grade (0 mild .. 2 severe)

Verdict = Literal["better", "same", "worse", "mixed"]


@dataclass(frozen=True)
class Change:
    verdict: Verdict  # "mixed": the counts and the whole face moved in opposite directions
    score: int  # after - before
    level: float | None  # change of the whole face's expected level, where both check-ins have one


def expected_level(probabilities: Mapping[str, float]) -> float:
    """The image-level grade as one number: 0 mild, 1 moderate, 2 severe, weighted by its probabilities."""
    return sum(i * float(probabilities.get(level, 0.0)) for i, level in enumerate(IMAGE_LEVELS))


def compare(before_score: int, before_image: Mapping[str, float] | None, after_score: int,
            after_image: Mapping[str, float] | None) -> Change:
    """How `after` compares with `before`; the images are the image-level grade's probabilities (None without a
    full-face photo, when the score alone decides)."""
    score = after_score - before_score
    margin = max(SCORE_MARGIN_ABS, SCORE_MARGIN_SHARE * (before_score + after_score) / 2)
    moves = [_direction(score, margin)]
    level = None
    if before_image and after_image:
        level = round(expected_level(after_image) - expected_level(before_image), 3)
        moves.append(_direction(level, LEVEL_MARGIN))
    up, down = "worse" in moves, "better" in moves
    verdict: Verdict = "mixed" if up and down else "worse" if up else "better" if down else "same"
    return Change(verdict, score, level)


def _direction(change: float, margin: float) -> str:
    return "worse" if change > margin else "better" if change < -margin else "same"
