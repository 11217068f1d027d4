"""Pictures for the patient: the annotated photo (JPEG) and the trend chart of past scores (PNG)."""
from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.patches import CanonicalView
from pipeline.types import CLASSES, REGIONS, Lesion

MAX_SIDE = 1280
TYPE_COLOURS = {  # RGB; acne types warm, non-acne marks cool
    "comedone": (255, 215, 0), "papule": (255, 64, 64), "pustule": (255, 140, 0), "nodule": (200, 0, 200),
    "spot": (120, 170, 255), "scar": (160, 160, 160), "mole": (0, 200, 170),
}
REGION_COLOUR = (255, 255, 255)
REGION_LABELS = {"forehead": "forehead", "nose": "nose", "left_cheek": "left cheek",
                 "right_cheek": "right cheek", "chin": "chin"}
# Score axis bands from CLINICAL.md, drawn behind the trend line.
GRADE_BANDS = (("clear", 0, 1, "#e8f5e9"), ("mild", 1, 40, "#fffde7"), ("moderate", 40, 90, "#fff3e0"),
               ("severe", 90, 160, "#ffebee"), ("very severe", 160, 220, "#fce4ec"))


# Pillow's and matplotlib's own fonts have Latin letters only. The Chinese words the pictures show come with their
# glyphs cut from Noto Sans CJK SC (SIL Open Font License 1.1, fonts/OFL.txt; scripts/subset_cjk_font.py).
CJK_FONT = Path(__file__).resolve().parent / "fonts" / "cjk-subset.otf"
Labels = Mapping[str, str]  # a lesion type, grade band, region, "title" or "score" -> the words to draw


def _latin(text: str) -> bool:
    return all(ord(c) < 0x2000 for c in text)


def _font(size: int, text: str = "") -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size) if _latin(text) else ImageFont.truetype(str(CJK_FONT), size)


def annotate(pixels: np.ndarray, view: CanonicalView | None, lesions: Sequence[Lesion], *,
             quality: int = 85, labels: Labels | None = None) -> bytes:
    """JPEG of the photo with region outlines, a ring per lesion coloured by type, and a legend (type names from
    `labels`, in the patient's language)."""
    h, w = pixels.shape[:2]
    k = min(1.0, MAX_SIDE / max(h, w))
    canvas = cv2.resize(pixels, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA) if k < 1 else pixels.copy()
    thick = max(1, round(max(canvas.shape[:2]) / 500))
    if view is not None:
        for region in REGIONS:
            if view.assessed.get(region) and view.masks[region].any():
                for contour in _outline(view, region, k):
                    cv2.polylines(canvas, [contour], True, REGION_COLOUR, thick, cv2.LINE_AA)
    for lesion in lesions:
        cx, cy = lesion.center
        radius = max(4, round(max(lesion.w, lesion.h) * k / 2))
        cv2.circle(canvas, (round(cx * k), round(cy * k)), radius, TYPE_COLOURS[lesion.type], thick + 1, cv2.LINE_AA)
    image = Image.fromarray(_with_legend(canvas, lesions, labels or {}))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)  # a fresh JPEG: no EXIF or GPS from the original
    return out.getvalue()


def _outline(view: CanonicalView, region: str, k: float) -> list[np.ndarray]:
    mask = cv2.morphologyEx(view.masks[region].astype(np.uint8), cv2.MORPH_OPEN, np.ones((9, 9), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        if cv2.contourArea(c) < 400:
            continue
        pts = c.reshape(-1, 2).astype(np.float64) / view.factor + np.array(view.offset)
        out.append(np.round(pts * k).astype(np.int32))
    return out


def _with_legend(canvas: np.ndarray, lesions: Sequence[Lesion], labels: Labels) -> np.ndarray:
    counts = {t: sum(1 for l in lesions if l.type == t) for t in CLASSES[1:]}
    size = max(12, canvas.shape[1] // 45)
    font = _font(size, "".join(labels.get(name, name) for name in CLASSES[1:]))
    row = size + 8
    legend = Image.new("RGB", (canvas.shape[1], row * 2 + 8), (24, 24, 24))
    draw = ImageDraw.Draw(legend)
    x, y = 8, 6
    for name in CLASSES[1:]:
        label = f"{labels.get(name, name)} {counts[name]}"
        width = int(draw.textlength(label, font=font)) + size + 18
        if x + width > legend.width:
            x, y = 8, y + row
        draw.ellipse((x, y + 2, x + size - 2, y + size), outline=TYPE_COLOURS[name], width=3)
        draw.text((x + size + 4, y), label, fill=(240, 240, 240), font=font)
        x += width
    return np.vstack([canvas, np.asarray(legend)])


def trend_chart(points: Sequence[tuple[date | datetime, float]], *, labels: Labels | None = None) -> bytes:
    """PNG line chart of scores over time on the grade bands; a single point is drawn as a dot. Title, axis and
    band names from `labels`, in the patient's language."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    labels = labels or {}
    title, score = labels.get("title", "Acne severity score"), labels.get("score", "score")
    bands = [(labels.get(name, name), lo, hi, colour) for name, lo, hi, colour in GRADE_BANDS]
    words = title + score + "".join(name for name, *_ in bands)
    font = {} if _latin(words) else {"fontproperties": FontProperties(fname=CJK_FONT)}
    points = sorted(points)
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    top = max([220.0] + [s * 1.1 for _, s in points])
    for i, (name, lo, hi, colour) in enumerate(bands):
        ax.axhspan(lo, hi if i < len(bands) - 1 else top, color=colour, zorder=0)
        ax.text(1.01, (lo + min(hi, top)) / 2, name, transform=ax.get_yaxis_transform(), fontsize=7, va="center",
                **font)
    if points:
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", color="#c62828", zorder=2)
    ax.set_ylim(0, top)
    ax.set_ylabel(score, **font)
    ax.set_title(title, **font)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


BEFORE_AFTER_PANEL = 480  # each side: the region's crop fitted into a square of this many pixels
BEFORE_AFTER_HEADER = 44  # the date strip above each panel
BEFORE_AFTER_GAP = 12
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in the photo's pixels


def before_after(first: np.ndarray, latest: np.ndarray, region: str | None, first_date: date, latest_date: date,
                 *, first_box: Box | None = None, latest_box: Box | None = None, labels: Labels | None = None) -> bytes:
    """JPEG: the same area of two photos side by side (first on the left), each under its date.

    first/latest: RGB pixels; *_box: the area to show in each (None: the whole photo), widened by a margin and
    fitted, aspect kept, into equal squares, so the output is always (2 * panel + gap) x (header + panel)."""
    label = (labels or {}).get(region or "", REGION_LABELS.get(region or "", ""))
    panels = [_before_after_panel(pixels, box, f"{day.isoformat()}  {label}".strip())
              for pixels, box, day in ((first, first_box, first_date), (latest, latest_box, latest_date))]
    size = BEFORE_AFTER_PANEL
    canvas = Image.new("RGB", (2 * size + BEFORE_AFTER_GAP, BEFORE_AFTER_HEADER + size), (255, 255, 255))
    canvas.paste(panels[0], (0, 0))
    canvas.paste(panels[1], (size + BEFORE_AFTER_GAP, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=85)
    return out.getvalue()


def _before_after_panel(pixels: np.ndarray, box: Box | None, label: str) -> Image.Image:
    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = box or (0, 0, w, h)
    margin = round(0.15 * max(x1 - x0, y1 - y0))
    x0, y0, x1, y1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
    crop = Image.fromarray(np.ascontiguousarray(pixels[y0:y1, x0:x1]))
    size = BEFORE_AFTER_PANEL
    k = size / max(crop.width, crop.height)
    crop = crop.resize((max(1, round(crop.width * k)), max(1, round(crop.height * k))))
    panel = Image.new("RGB", (size, BEFORE_AFTER_HEADER + size), (255, 255, 255))
    panel.paste(crop, ((size - crop.width) // 2, BEFORE_AFTER_HEADER + (size - crop.height) // 2))
    ImageDraw.Draw(panel).text((8, 10), label, fill=(0, 0, 0), font=_font(22, label))
    return panel
