"""Shared fixtures: real photos from ../shared/data, encoders for every format, the shipped model."""
from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ACNEBOT_SHARED_DATA", REPO.parent / "shared" / "data"))
VALID_IMAGES = SHARED_DATA / "acne-lesions" / "valid" / "images"
SAMPLE = REPO / "pipeline" / "samples" / "astronaut.jpg"
# A frontal portrait with acne and a three-quarter view whose patient's right cheek is turned away,
# both from the held-out valid split.
FRONTAL = "31887_png_jpg.rf.6eecb0777416a7e6124c33afde771d4b.jpg"
THREE_QUARTER = "4554_jpg.rf.9c7fa5f6e8bd08a6e3f25ec615fdc9af.jpg"
SECOND_VISIT = "00639_png_jpg.rf.642e8eeb4c01158b7ec40598a0d8a4dc.jpg"  # another frontal portrait


def shared_file(relative: str) -> Path:
    """A file under the shared data folder; skips the test without it."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data not found at {path} (set ACNEBOT_SHARED_DATA)")
    return path


def shared_image(name: str | None = None) -> np.ndarray:
    """RGB pixels of a valid-split photo (the first one if the name is absent); skips without the data."""
    if not VALID_IMAGES.is_dir():
        pytest.skip(f"shared data not found at {VALID_IMAGES} (set ACNEBOT_SHARED_DATA)")
    path = VALID_IMAGES / name if name and (VALID_IMAGES / name).exists() else sorted(VALID_IMAGES.glob("*.jpg"))[0]
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def encode(rgb: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **kwargs)
    return out.getvalue()


@pytest.fixture(scope="session")
def sample_rgb() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB"))


@pytest.fixture(scope="session")
def portrait_rgb() -> np.ndarray:
    return shared_image(FRONTAL)


@pytest.fixture(scope="session")
def model():
    from pipeline.classifier import load

    return load()


def _valid_photo(name: str) -> bytes:
    if not VALID_IMAGES.is_dir():
        pytest.skip(f"shared data not found at {VALID_IMAGES} (set ACNEBOT_SHARED_DATA)")
    return (VALID_IMAGES / name).read_bytes()


@pytest.fixture(scope="session")
def face_photo() -> bytes:
    return _valid_photo(FRONTAL)


@pytest.fixture(scope="session")
def second_face_photo() -> bytes:
    return _valid_photo(SECOND_VISIT)


@pytest.fixture(scope="session")
def closeup_photo() -> bytes:
    """A close-up of inflamed cheek skin filling the frame (lesion-types), with no face in it."""
    return shared_file("lesion-types/train/pustule/aug_183_jpg.rf.50e557e1665f6db5434a2fafe43fbb7e.jpg").read_bytes()


@pytest.fixture(scope="session")
def pool():
    """One worker for the whole session: FaceMesh starts once per thread, and prepared photos stay cached."""
    from work.pool import WorkerPool

    shared = WorkerPool(workers=1)
    yield shared
    shared.close()


@pytest.fixture(scope="session")
def shipped_model():
    """The lesion model the service ships; assessments need it."""
    from pipeline.classifier import ModelError, load

    try:
        return load()
    except ModelError as error:
        pytest.skip(f"lesion model unavailable: {error}")
