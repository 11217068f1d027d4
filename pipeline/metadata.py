"""Questionnaire answers as a plain dict (CLI --metadata file, stored profiles) -> Metadata, validated."""
from __future__ import annotations

from typing import Any

from pipeline.types import Metadata

ALLERGIES = ("penicillin", "cephalosporin", "sulfa", "nitroimidazole")
SYMPTOMS = ("hardening", "bleeding", "increasing_in_size", "itching", "burning", "fever", "joint_pain")
_CHOICES = {
    "sex": ("female", "male"),
    "pregnancy": ("yes", "no", "unknown", "breastfeeding"),
    "condition_after_treatment": ("improved", "worsened", "unchanged", "unknown"),
    "distress": ("yes", "no", "prefer_not_to_say"),
}
_LISTS = {"allergies": ALLERGIES, "symptoms": SYMPTOMS, "current_medication": None}
_TEXT = ("duration", "frequency")
_BOOLS = ("scars", "sudden_onset")


class MetadataError(ValueError):
    pass


def parse_metadata(raw: dict[str, Any]) -> Metadata:
    if not isinstance(raw, dict):
        raise MetadataError("metadata must be a JSON object")
    unknown = set(raw) - {"age", *_CHOICES, *_LISTS, *_TEXT, *_BOOLS}
    if unknown:
        raise MetadataError(f"unknown metadata keys: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    if raw.get("age") is not None:
        age = raw["age"]
        if isinstance(age, bool) or not isinstance(age, (int, float)) or not 0 <= age <= 120:
            raise MetadataError("age must be a number of years between 0 and 120")
        values["age"] = float(age)
    for key, allowed in _CHOICES.items():
        value = raw.get(key)
        if value is None:
            continue
        if value not in allowed:
            raise MetadataError(f"{key} must be one of {', '.join(allowed)}")
        values[key] = "yes" if value == "breastfeeding" else value
    for key, allowed in _LISTS.items():
        items = raw.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise MetadataError(f"{key} must be a list of strings")
        bad = [i for i in items if allowed is not None and i not in allowed]
        if bad:
            raise MetadataError(f"{key}: unknown {', '.join(bad)}; allowed: {', '.join(allowed)}")
        values[key] = tuple(items)
    for key in _TEXT:
        if raw.get(key) is not None:
            values[key] = str(raw[key])
    for key in _BOOLS:
        if raw.get(key) is not None:
            if not isinstance(raw[key], bool):
                raise MetadataError(f"{key} must be true or false")
            values[key] = raw[key]
    return Metadata(**values)
