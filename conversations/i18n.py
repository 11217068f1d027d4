"""Every text the patient reads, from the locale catalogues in locales/<locale>.json (en and Simplified Chinese).

Keys are dotted names (`menu.checkin`, `quality.too_dark`); values are str.format templates. A key missing
from a catalogue falls back to English; a key missing from English is a bug (KeyError; a test checks that
every key the code uses exists in both catalogues).
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pipeline.types import CLASSES, GRADES, REGIONS

LOCALES: tuple[str, ...] = ("en", "zh")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "zh": "中文"}
_FOLDER = Path(__file__).resolve().parent / "locales"


def resolve_locale(hint: str | None) -> str:
    """'zh', 'zh-hans', 'zh-CN', 'zh_TW' -> 'zh' (we have Simplified Chinese only); anything else -> 'en'."""
    if not hint:
        return DEFAULT_LOCALE
    language = re.split(r"[-_]", hint.strip().lower())[0]
    return language if language in LOCALES else DEFAULT_LOCALE


@lru_cache(maxsize=None)
def catalogue(locale: str) -> dict[str, str]:
    with open(_FOLDER / f"{locale}.json", encoding="utf-8") as fh:
        return json.load(fh)


def t(locale: str, key: str, **values: object) -> str:
    text = catalogue(resolve_locale(locale)).get(key)
    if text is None:
        text = catalogue(DEFAULT_LOCALE)[key]
    return text.format(**values) if values else text


def picture_labels(locale: str) -> dict[str, str]:
    """The words pipeline.render draws into the pictures, in this locale: the lesion types of the annotated photo's
    legend, the grade bands, title and axis of the trend chart, the region over the first-and-latest picture."""
    labels = {name: t(locale, f"lesion.{name}") for name in CLASSES[1:]}
    labels.update({region: t(locale, f"region.{region}") for region in REGIONS})
    labels.update({grade: t(locale, f"grade.{grade.replace(' ', '_')}") for grade in GRADES})
    labels.update(title=t(locale, "export.chart"), score=t(locale, "export.col_score"))
    return labels
