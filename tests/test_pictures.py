"""Pictures of stored check-ins show the photo the way the pipeline saw it, even when it arrived turned."""
import numpy as np
import pytest

from tests.conftest import encode


@pytest.mark.parametrize("quarters", [1, 2])
def test_a_photo_sent_turned_is_stored_as_sent_and_pictured_upright(quarters, portrait_rgb):
    from work import jobs, pictures

    turned = encode(np.ascontiguousarray(np.rot90(portrait_rgb, k=quarters)))  # counter-clockwise, no EXIF
    verdict = jobs.check_photo(turned, None)
    assert verdict.ok and verdict.rotated == 90 * quarters
    visit = pictures.VisitPhoto(turned, (), verdict.rotated, "2026-12-05")
    upright = pictures.upright_pixels(visit)
    assert upright.shape == portrait_rgb.shape
    assert np.abs(upright.astype(int) - portrait_rgb.astype(int)).mean() < 3


def test_first_vs_latest_cuts_a_whole_face_sent_as_a_region_to_that_region(portrait_rgb):
    """The region's picture for the comparison: from a whole face sent as the forehead, the forehead; from a
    close-up, all of it."""
    from work import pictures

    pixels, box = pictures.region_box(encode(portrait_rgb), "forehead", "forehead")
    assert box is not None
    x0, y0, x1, y1 = box
    assert 0 <= x0 < x1 <= pixels.shape[1] and 0 <= y0 < y1 <= pixels.shape[0]
    assert (x1 - x0) * (y1 - y0) < 0.5 * pixels.shape[0] * pixels.shape[1]
    whole, _ = pictures.region_box(encode(portrait_rgb), None, "forehead")
    assert box == pictures.region_box(encode(portrait_rgb), None, "forehead")[1] and whole.shape == pixels.shape
    h, w = portrait_rgb.shape[:2]
    closeup = np.ascontiguousarray(portrait_rgb[int(0.35 * h):int(0.65 * h), int(0.2 * w):int(0.45 * w)])
    assert pictures.region_box(encode(closeup), "left_cheek", "left_cheek")[1] is None
