"""The patient's data export: one ZIP with checkins.csv, the annotated photos and summary.html.

    zip_bytes = await make_export(db, pool, user_id, "en")

checkins.csv: one row per check-in (date, score, grades, referral, counts per region and lesion type, blank where
an area was not assessed, and the questionnaire answers given at that visit). photos/: each stored photo
re-annotated from its stored result (photos past their retention are gone and so are not in it). summary.html:
self-contained (the trend chart is a data: PNG), in the patient's language. Built in memory: the CPU work in the
pool's threads, the photos newest first until the size bound (a Telegram bot may send 50 MB), so an export
always fits and nothing is written to disk.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from conversations.i18n import picture_labels, t
from conversations.questionnaire import PROFILE_QUESTIONS, QUESTIONS
from conversations.summaries import (answer_label, checkin_photos, comparison_text, date_label, grade_label,
                                     visit_of)
from pipeline.result import AssessmentResult
from pipeline.types import ACNE_TYPES, NON_ACNE_TYPES, REGIONS
from storage import Database, NotFound, PhotoKeyError, StoredAssessment
from storage.columns import utcnow
from work.pictures import annotated, stored_photo
from work.pool import WorkerPool

MAX_EXPORT_BYTES = 45 * 1024 * 1024  # under Telegram's 50 MB for a bot's documents
TEXT_RESERVE = 5 * 1024 * 1024  # kept for the CSV and the summary (its chart included)
MAX_PHOTOS = 300
LESION_TYPES = ACNE_TYPES + NON_ACNE_TYPES


@dataclass(frozen=True)
class ExportPhoto:
    name: str  # path inside the ZIP
    jpeg: bytes = field(repr=False)


@dataclass(frozen=True)
class ExportData:
    locale: str
    exported_at: datetime
    assessments: tuple[StoredAssessment, ...]  # oldest first
    profile: dict[str, Any]
    photos: tuple[ExportPhoto, ...] = ()
    photos_left_out: int = 0


async def make_export(db: Database, pool: WorkerPool, user_id: int, locale: str) -> bytes:
    """The ZIP for one patient (CPU work in the pool's threads)."""
    assessments = tuple(await db.assessments.list_assessments(user_id))
    profile = await db.profiles.load_profile(user_id)
    photos: list[ExportPhoto] = []
    left_out, budget = 0, MAX_EXPORT_BYTES - TEXT_RESERVE
    for number in range(len(assessments), 0, -1):  # newest first: the oldest are left out when it gets large
        assessment = assessments[number - 1]
        result = AssessmentResult.from_json(assessment.result)
        for name, photo_id, index in _visit_photos(number, assessment):
            if len(photos) >= MAX_PHOTOS or budget <= 0:
                left_out += 1
                continue
            try:
                data = await db.photos.load_photo(photo_id, user_id)
            except (NotFound, PhotoKeyError):  # deleted by retention, or sealed with a key we no longer have
                continue
            jpeg = await pool.run(annotated, stored_photo(data, result, index, date_label(assessment)))
            if len(jpeg) > budget:
                left_out += 1
                continue
            budget -= len(jpeg)
            photos.append(ExportPhoto(name, jpeg))
    data = ExportData(locale, utcnow(), assessments, profile.answers if profile else {}, tuple(reversed(photos)),
                      left_out)
    return await pool.run(build_export, data)


def _visit_photos(number: int, assessment: StoredAssessment) -> list[tuple[str, int, int]]:
    """(name in the ZIP, photo id, index in the result) for each photo of a check-in."""
    return [(f"photos/{date_label(assessment)}_checkin{number}_{index + 1}_{photo.region or 'face'}.jpg",
             photo.id, index) for index, photo in enumerate(checkin_photos(assessment))]


# -- the ZIP (pure: runs in a worker thread) ------------------------------------------------------------------------
def build_export(data: ExportData) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("checkins.csv", checkins_csv(data.assessments))
        archive.writestr("summary.html", summary_html(data))
        for photo in data.photos:  # JPEGs do not deflate: stored as they are
            archive.writestr(photo.name, photo.jpeg, compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def checkins_csv(assessments: tuple[StoredAssessment, ...]) -> str:
    answer_ids = list(QUESTIONS)
    header = (["checkin", "date", "score", "grade", "grade_personalised", "referral"]
              + [f"{region}.{kind}" for region in REGIONS for kind in LESION_TYPES]
              + [f"answer.{q}" for q in answer_ids])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for number, a in enumerate(assessments, 1):
        counts = [("" if a.counts.get(region) is None else a.counts[region].get(kind, 0))
                  for region in REGIONS for kind in LESION_TYPES]
        answers = visit_of(a).answers or {}
        writer.writerow([number, a.created_at.isoformat(timespec="seconds"), a.score, a.grade,
                         a.grade_personalised or "", "yes" if a.referral else "no", *counts,
                         *(_csv_answer(answers.get(q)) for q in answer_ids)])
    return out.getvalue()


def _csv_answer(value: Any) -> str:
    if value is None:
        return ""
    return ";".join(map(str, value)) if isinstance(value, list) else str(value)


def summary_html(data: ExportData) -> str:
    """Runs in a worker process, with build_export (work/pool.py)."""
    from pipeline.render import trend_chart

    locale, rows = data.locale, data.assessments

    def tr(key: str, **values: object) -> str:
        return html.escape(t(locale, key, **values))

    chart = ""
    if rows:
        png = trend_chart([(a.created_at, a.score) for a in rows], labels=picture_labels(locale))
        title = tr("export.chart")
        chart = (f'<h2>{title}</h2><img alt="{title}" '
                 f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
    table = "".join(
        f"<tr><td>{html.escape(date_label(a))}</td><td>{a.score}</td>"
        f"<td>{html.escape(grade_label(locale, a.grade))}</td><td>{html.escape(_counts_label(locale, a))}</td></tr>"
        for a in rows)
    change = ""
    if len(rows) >= 2:
        since = tr("history.since_first")
        lines = html.escape(comparison_text(locale, rows[0], rows[-1])).replace("\n", "<br>")
        change = f"<h2>{since}</h2><p>{lines}</p>"
    shim = SimpleNamespace(t=lambda key, **values: t(locale, key, **values))  # answer_label reads turn.t only
    profile = "".join(
        f"<li>{html.escape(t(locale, f'field.{q.id}'))}: {html.escape(answer_label(shim, q, data.profile.get(q.id)))}"
        "</li>" for q in PROFILE_QUESTIONS)
    photos = "<p>" + tr("export.photos", n=len(data.photos)) + "</p>"
    if data.photos_left_out:
        photos += "<p>" + tr("export.photos_left_out", n=data.photos_left_out) + "</p>"
    return f"""<!doctype html>
<html lang="{'zh-Hans' if locale == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{tr("export.title")}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}}
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.35rem;text-align:left}}
img{{max-width:100%}}.notice{{color:#666;font-size:.9rem}}</style></head><body>
<h1>{tr("export.title")}</h1>
<p>{tr("export.generated", date=data.exported_at.date().isoformat(), n=len(rows))}</p>
{chart}
<h2>{tr("export.table")}</h2>
<table><thead><tr><th>{tr("export.col_date")}</th><th>{tr("export.col_score")}</th><th>{tr("export.col_grade")}</th>
<th>{tr("export.col_counts")}</th></tr></thead><tbody>{table}</tbody></table>
{change}
<h2>{tr("export.profile")}</h2><ul>{profile}</ul>
{photos}
<p class="notice">{tr("export.notice")}</p>
</body></html>
"""


def _counts_label(locale: str, assessment: StoredAssessment) -> str:
    totals = {kind: sum((c or {}).get(kind, 0) for c in assessment.counts.values()) for kind in ACNE_TYPES}
    return ", ".join(f"{t(locale, f'lesion.{kind}')} {n}" for kind, n in totals.items() if n) or "—"
