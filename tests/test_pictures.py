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
