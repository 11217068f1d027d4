"""Pictures: the annotated JPEG carries outlines, markers and a legend, and no metadata; the trend chart; both in
the patient's language."""
import io
from datetime import date

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw

from conversations.i18n import LOCALES, picture_labels
from pipeline.assess import prepare
from pipeline.render import BEFORE_AFTER_HEADER, CJK_FONT, TYPE_COLOURS, _font, annotate, before_after, trend_chart
from pipeline.types import Lesion
from tests.conftest import encode


def test_annotated_photo_has_markers_legend_and_no_exif(portrait_rgb):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    p = prepare(encode(portrait_rgb, exif=exif.tobytes()))
    lesion = Lesion("left_cheek", "papule", 300, 300, 20, 20, 0.9)
    jpeg = annotate(p.photo.pixels, p.view, [lesion])
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and len(image.getexif()) == 0
    h, w = portrait_rgb.shape[:2]
    assert image.width == w and image.height > h  # legend below the photo
    pixels = np.asarray(image.convert("RGB")).astype(int)
    ring = pixels[300 - 2: 322, 300 - 2: 322]
    red = np.abs(ring - np.array(TYPE_COLOURS["papule"])).sum(axis=2) < 90
    assert red.sum() > 20
    # region outlines are white lines on the face
    face = pixels[: h]
    assert ((face > 245).all(axis=2)).sum() > 100


def test_large_photos_are_shrunk_for_sending(portrait_rgb):
    big = np.tile(portrait_rgb, (6, 6, 1))
    jpeg = annotate(big, None, [])
    assert max(Image.open(io.BytesIO(jpeg)).size) <= 1280 + 200


def test_trend_chart_is_a_png():
    png = trend_chart([(date(2026, 9, 1), 55), (date(2026, 10, 1), 38), (date(2026, 11, 1), 12)])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (640, 360)


def test_trend_chart_with_one_point():
    assert Image.open(io.BytesIO(trend_chart([(date(2026, 11, 1), 12)]))).format == "PNG"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_character_the_pictures_draw_has_a_glyph(locale):
    """A word drawn with no glyph comes out as empty boxes: after changing a picture's Chinese words, rerun
    scripts/subset_cjk_font.py."""
    drawn = {c for word in picture_labels(locale).values() for c in word if not c.isspace()}
    assert drawn <= set(map(chr, TTFont(CJK_FONT).getBestCmap())), "run scripts/subset_cjk_font.py again"


def _drawn(word: str) -> np.ndarray:
    canvas = Image.new("L", (160, 40), 0)
    ImageDraw.Draw(canvas).text((4, 4), word, fill=255, font=_font(24, word))
    return np.asarray(canvas) > 127


def test_chinese_words_are_drawn_as_their_own_characters():
    labels = picture_labels("zh")
    comedone, papule = _drawn(labels["comedone"]), _drawn(labels["papule"])
    assert comedone.sum() > 50 and papule.sum() > 50
    assert (comedone != papule).sum() > 50  # not the same missing-glyph boxes


def test_a_chinese_patients_pictures_speak_chinese(portrait_rgb):
    p = prepare(encode(portrait_rgb))
    lesions = [Lesion("left_cheek", "papule", 300, 300, 20, 20, 0.9)]
    english, chinese = (np.asarray(Image.open(io.BytesIO(annotate(p.photo.pixels, p.view, lesions,
                                                                  labels=picture_labels(locale)))).convert("L"))
                        for locale in ("en", "zh"))
    h = portrait_rgb.shape[0]
    assert np.abs(english[:h].astype(int) - chinese[:h]).mean() < 1  # the same photo and marks
    assert np.abs(english[h:].astype(int) - chinese[h:]).mean() > 3  # another legend
    charts = [trend_chart([(date(2026, 9, 1), 55), (date(2026, 11, 1), 12)], labels=picture_labels(locale))
              for locale in ("en", "zh")]
    assert charts[0] != charts[1] and all(Image.open(io.BytesIO(c)).size == (640, 360) for c in charts)
    pairs = [np.asarray(Image.open(io.BytesIO(before_after(portrait_rgb, portrait_rgb, "left_cheek", date(2026, 9, 1),
                                                            date(2026, 11, 1), labels=picture_labels(locale))
                                               )).convert("L")).astype(int) for locale in ("en", "zh")]
    header = BEFORE_AFTER_HEADER
    assert np.abs(pairs[0][header:] - pairs[1][header:]).mean() < 1
    assert np.abs(pairs[0][:header] - pairs[1][:header]).mean() > 1  # the region's name above each side
