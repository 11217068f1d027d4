"""`acnebot assess/advise`: the JSON contract, exit codes 0/1/2, and no traceback for any bad input."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bot.cli import main
from tests.conftest import SAMPLE, encode

ASSESS_KEYS = {"quality", "regions", "lesions", "score", "grade", "scales", "advice", "avoid", "refer",
               "grade_personalised", "model", "notice", "not_assessed"}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _write(tmp_path, name, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_assess_json_contract(capsys, tmp_path, portrait_rgb):
    photo = _write(tmp_path, "face.jpg", encode(portrait_rgb))
    code, out, _ = run(capsys, "assess", photo, "--json", "--annotated", tmp_path / "out.jpg")
    assert code == 0
    result = json.loads(out)
    assert ASSESS_KEYS <= set(result)
    assert result["quality"] == {"ok": True, "reasons": []}
    assert set(result["regions"]) == {"forehead", "nose", "left_cheek", "right_cheek", "chin"}
    for region in result["regions"].values():
        assert set(region) == {"assessed", "counts"}
    assert result["grade"] in ("clear", "mild", "moderate", "severe", "very severe")
    assert set(result["scales"]) >= {"hayashi", "gags", "image"}
    image = result["scales"]["image"]  # the image-level grade of the whole face (CLINICAL.md)
    assert image["grade"] in ("mild", "moderate", "severe") and set(image["probabilities"]) == {
        "mild", "moderate", "severe"}
    assert image["raised_grade"] == (result["grade"] != image["score_grade"])
    assert result["scales"]["hayashi"]["grade"] == image["grade"]
    assert set(result["refer"]) >= {"needed", "reasons"}
    h, w = portrait_rgb.shape[:2]
    for lesion in result["lesions"]:
        assert set(lesion) == {"region", "type", "x", "y", "w", "h", "confidence"}
        assert 0 <= lesion["x"] < w and 0 <= lesion["y"] < h
    assert set(result["model"]) == {"name", "version"}
    assert Image.open(tmp_path / "out.jpg").format == "JPEG"


def test_full_face_and_closeup_count_each_region_from_one_photo(capsys, tmp_path, portrait_rgb):
    face = _write(tmp_path, "face.jpg", encode(portrait_rgb))
    h, w = portrait_rgb.shape[:2]
    forehead = cv2.resize(np.ascontiguousarray(portrait_rgb[h // 10: h // 3, w // 4: 3 * w // 4]), None, fx=3, fy=3)
    close = _write(tmp_path, "forehead.jpg", encode(forehead))
    code, out, _ = run(capsys, "assess", face, close, "--region", "face", "--region", "forehead", "--json")
    assert code == 0, out
    result = json.loads(out)
    for lesion in result["lesions"]:
        # the forehead comes from the declared close-up only, every other region from the full face
        assert lesion["photo"] == (1 if lesion["region"] == "forehead" else 0)


def test_pregnant_patient_never_gets_isotretinoin(capsys, tmp_path):
    meta = _write(tmp_path, "m.json", json.dumps({"pregnancy": "yes", "sex": "female", "age": 25}).encode())
    code, out, _ = run(capsys, "advise", "--grade", "very-severe", "--metadata", meta, "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) >= {"advice", "avoid", "refer", "grade_personalised"}
    assert not any("isotretinoin" in a.lower() for a in result["advice"])
    assert any("isotretinoin" in a.lower() for a in result["avoid"])
    assert result["refer"]["needed"]


def test_advise_flags_override_file(capsys):
    code, out, _ = run(capsys, "advise", "--grade", "mild", "--age", "30", "--sex", "m", "--json")
    assert code == 0 and json.loads(out)["grade_personalised"]["grade"] == "mild"


BAD_INPUT = [
    ("text file", b"just some words", "not_an_image"),
    ("empty file", b"", "empty"),
    ("truncated jpeg", None, "corrupt"),
    ("black frame", "black", "no_face"),
    ("coffee cup", "coffee", "no_face"),
]


@pytest.mark.parametrize("name,content,code_expected", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_unusable_photo_exits_2_with_reason(capsys, tmp_path, portrait_rgb, name, content, code_expected):
    if content is None:
        content = encode(portrait_rgb)[:2000]
    elif content == "black":
        content = encode(np.zeros((600, 600, 3), np.uint8))
    elif content == "coffee":
        from skimage import data

        content = encode(data.coffee())
    photo = _write(tmp_path, "p.jpg", content)
    code, out, err = run(capsys, "assess", photo, "--json")
    assert code == 2
    result = json.loads(out)
    assert result["quality"]["ok"] is False
    assert [r["code"] for r in result["quality"]["reasons"]] == [code_expected]
    assert "Traceback" not in out + err


USAGE_ERRORS = [
    ("missing file", ["assess", "/nonexistent/photo.jpg"]),
    ("bad region", ["assess", str(SAMPLE), "--region", "ear"]),
    ("no photo", ["assess"]),
    ("bad grade", ["advise", "--grade", "terrible"]),
    ("region count mismatch", ["assess", str(SAMPLE), str(SAMPLE), str(SAMPLE), "--region", "nose", "--region", "chin"]),
    ("unknown command", ["frobnicate"]),
]


@pytest.mark.parametrize("name,argv", USAGE_ERRORS, ids=[u[0] for u in USAGE_ERRORS])
def test_usage_errors_exit_1(capsys, name, argv):
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(argv))
    assert exit_info.value.code == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("meta", ['{"age": "old"}', '{"sex": "x"}', '{"allergies": ["peanut"]}', "not json",
                                  '{"favourite_colour": "blue"}', "[1, 2]"])
def test_bad_metadata_is_a_usage_error(capsys, tmp_path, meta):
    path = _write(tmp_path, "m.json", meta.encode())
    code, _, err = run(capsys, "advise", "--grade", "mild", "--metadata", path)
    assert code == 1 and "error" in err


def test_console_script_runs_end_to_end(tmp_path):
    """The installed `acnebot` entry point, as a user runs it."""
    script = Path(sys.executable).with_name("acnebot")
    assert script.exists(), "set-up must install the acnebot console script into .venv/bin"
    done = subprocess.run([str(script), "assess", str(SAMPLE), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["quality"]["ok"] is True
    assert "Traceback" not in done.stderr
