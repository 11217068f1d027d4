"""Pictures: the annotated JPEG carries outlines, markers and a legend, and no metadata; the trend chart."""
import io
from datetime import date

import numpy as np
from PIL import Image

from pipeline.assess import prepare
from pipeline.render import TYPE_COLOURS, annotate, trend_chart
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
