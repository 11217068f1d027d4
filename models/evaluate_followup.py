"""Is a follow-up fair? The same face photographed again minutes later should not come out better or worse.

    python -m models.evaluate_followup [--photos held_out|tune_train] [--json FILE]

ACNE04 has no photos of one visit taken twice (its near-duplicate groups mostly hold other visits: their levels
differ in 68 of 126 pairs), so each photo is retaken here: the same photo a little closer or further, shifted,
turned, lit a little differently and saved again as JPEG, seeded per photo (`retake`). Both go through the
service's whole assessment. Printed: how often the told grade, the eq. 1 band and the whole-face grade of the
two differ, the spread of the score's and the whole face's expected level's changes (which set
pipeline.followup's "no real change" margins, chosen on the training and tune photos), and how often the
follow-up verdict calls the retake anything but "same"; and, as its sensitivity, how often the verdict between
two different photos one Hayashi level apart points the way their levels do.
"""
from __future__ import annotations

import argparse
import itertools
import json
import zlib
from pathlib import Path

import cv2
import numpy as np

from models import acne04_split, detset
from models.sources import data_dir
from pipeline.types import GRADES, IMAGE_LEVELS


def retake(rgb: np.ndarray, rng: np.random.Generator) -> bytes:
    """The same face photographed again: zoom 0.92-1.08, shift up to 3 % of the side, turn up to 3 degrees,
    exposure 0.9-1.1, JPEG quality 80-92."""
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), float(rng.uniform(-3, 3)), float(rng.uniform(0.92, 1.08)))
    m[:, 2] += rng.uniform(-0.03, 0.03, 2) * (w, h)
    moved = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    lit = np.clip(moved.astype(np.float32) * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", lit[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 93))])
    assert ok
    return jpeg.tobytes()


def measured(data: bytes) -> dict | None:
    """What a follow-up compares, from the service's assessment of one photo (None: refused)."""
    from pipeline.assess import assess, prepare

    prepared = prepare(data)
    if not prepared.quality.ok:
        return None
    result = assess([prepared])
    image = result.image_grade
    return {"score": result.scores.score, "grade": result.scores.grade, "score_grade": result.scores.score_grade,
            "image_grade": image.grade if image else None,
            "image": dict(zip(IMAGE_LEVELS, image.probabilities)) if image else None}


def pairs(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        data = path.read_bytes()
        rgb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
        rng = np.random.default_rng(zlib.crc32(path.name.encode()))
        first, again = measured(data), measured(retake(np.ascontiguousarray(rgb), rng))
        if first is not None and again is not None:
            out.append({"photo": path.name, "first": first, "again": again})
    return out


def summary(rows: list[dict], levels: dict[str, int]) -> dict:
    from pipeline.followup import compare, expected_level

    def apart(key: str) -> int:
        return sum(r["first"][key] != r["again"][key] for r in rows)

    def bands(key: str) -> int:
        return sum(abs(GRADES.index(r["first"][key]) - GRADES.index(r["again"][key])) for r in rows)

    score = np.array([r["again"]["score"] - r["first"]["score"] for r in rows], float)
    mean = np.array([(r["again"]["score"] + r["first"]["score"]) / 2 for r in rows], float)
    both = [r for r in rows if r["first"]["image"] and r["again"]["image"]]
    level = np.array([expected_level(r["again"]["image"]) - expected_level(r["first"]["image"]) for r in both])
    verdicts = [compare(r["first"]["score"], r["first"]["image"], r["again"]["score"], r["again"]["image"]).verdict
                for r in rows]
    firsts = [(levels[r["photo"]], r["first"]) for r in rows]
    apart_one = [(a, b, lb - la) for (la, a), (lb, b) in itertools.combinations(firsts, 2) if abs(la - lb) == 1]
    pointed = [compare(a["score"], a["image"], b["score"], b["image"]).verdict for a, b, _ in apart_one]
    right = sum(v == ("worse" if up > 0 else "better") for v, (_, _, up) in zip(pointed, apart_one))
    return {
        "pairs": len(rows),
        "told_grade_differs": apart("grade"), "told_grade_bands_moved": bands("grade"),
        "score_band_differs": apart("score_grade"), "image_grade_differs": apart("image_grade"),
        "score_change_abs_percentiles_50_90_95": np.percentile(np.abs(score), [50, 90, 95]).round(1).tolist(),
        "score_change_relative_percentiles_50_90_95":
            np.percentile(np.abs(score) / np.maximum(mean, 1), [50, 90, 95]).round(3).tolist(),
        "expected_level_change_abs_percentiles_50_90_95":
            np.percentile(np.abs(level), [50, 90, 95]).round(3).tolist() if len(level) else None,
        "verdicts": {v: verdicts.count(v) for v in ("same", "better", "worse", "mixed")},
        "one_level_apart": {"pairs": len(apart_one), "right_direction": round(right / max(1, len(apart_one)), 3),
                            "same": round(pointed.count("same") / max(1, len(apart_one)), 3)},
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--photos", choices=("held_out", "tune_train"), default="held_out",
                    help="tune_train: the photos pipeline.followup's margins are chosen on")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write every pair's figures here")
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    split = detset.acne04_split(root)
    names = split["held_out"] if args.photos == "held_out" else split["tune"] + split["train"]
    rows = pairs([root / "acne04" / f for f in names][: args.limit])
    report = summary(rows, {Path(i["file"]).name: int(i["level"]) for i in acne04_split.items(root)})
    print(json.dumps(report), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": report, "pairs": rows}, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
