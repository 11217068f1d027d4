"""Pictures to look at: held-out ACNE04 photos and `valid` selfies with the experts' (or annotators') marks
beside the service's findings.

    python -m models.show_detections --out test-artifacts/detections [--per-level 4] [--selfies 6]

Each PNG is the service's own annotated picture (region outlines, a ring per lesion coloured by type, the
legend) with the experts' circles, or the selfie's boxes, added in thin green and a caption of both counts.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from models import acne04_split, detset
from models.sources import data_dir

EXPERT = (0, 255, 0)


def _annotated(assessment) -> tuple[np.ndarray, float]:
    from pipeline.render import annotate

    p = assessment.photos[0]
    jpeg = annotate(p.photo.pixels, p.view, assessment.lesions)
    canvas = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return canvas, canvas.shape[1] / p.photo.pixels.shape[1]


def _acne_found(assessment) -> int:
    return sum(1 for l in assessment.lesions if l.type in ("comedone", "papule", "pustule", "nodule"))


def render(path: Path, item: dict, assessment) -> np.ndarray:
    canvas, k = _annotated(assessment)
    for l in item["lesions"]:
        cv2.circle(canvas, (round(l["x"] * k), round(l["y"] * k)), max(3, round((l["r"] + 4) * k)), EXPERT, 1,
                   cv2.LINE_AA)
    s = assessment.scores
    caption = (f"{path.name}  ACNE04 level {item['level']}  experts {len(item['lesions'])} (green)  "
               f"ours {_acne_found(assessment)} acne  Hayashi {s.hayashi.grade if s and s.hayashi else '-'}  "
               f"grade {s.grade if s else '-'}")
    return _captioned(canvas, caption)


def render_selfie(path: Path, boxes: list, assessment) -> np.ndarray:
    """A `valid` selfie: the annotators' acne and pimple boxes in green (spots, scars, moles in grey)."""
    canvas, k = _annotated(assessment)
    h, w = assessment.photos[0].photo.pixels.shape[:2]
    for b in boxes:
        x0, y0 = round((b.cx - b.w / 2) * w * k), round((b.cy - b.h / 2) * h * k)
        x1, y1 = round((b.cx + b.w / 2) * w * k), round((b.cy + b.h / 2) * h * k)
        acne = b.label in ("comedone", "papule")
        cv2.rectangle(canvas, (x0, y0), (x1, y1), EXPERT if acne else (160, 160, 160), 1, cv2.LINE_AA)
    marked = sum(1 for b in boxes if b.label in ("comedone", "papule"))
    caption = f"{path.name[:40]}  annotators {marked} acne (green)  ours {_acne_found(assessment)} acne"
    return _captioned(canvas, caption)


def _captioned(canvas: np.ndarray, caption: str) -> np.ndarray:
    bar = np.full((28, canvas.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, canvas])


def main(argv: list[str] | None = None) -> list[Path]:
    import dataclasses

    from pipeline.assess import assess, prepare
    from pipeline.quality import QualityReport

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("test-artifacts/detections"))
    ap.add_argument("--per-level", type=int, default=4)
    ap.add_argument("--selfies", type=int, default=6, help="acne-lesions valid photos with the most acne boxes")
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    items = {i["file"]: i for i in acne04_split.items(root)}
    held = detset.acne04_split(root)["held_out"]
    chosen = [f for level in range(3) for f in [f for f in held if items[f]["level"] == level][: args.per_level]]
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in chosen:
        path = root / "acne04" / f
        p = prepare(path.read_bytes())
        if p.view is None:
            print(f"{f}: no face found")
            continue
        result = assess([dataclasses.replace(p, quality=QualityReport(True))])
        out = args.out / f"{Path(f).stem}.png"
        cv2.imwrite(str(out), cv2.cvtColor(render(path, items[f], result), cv2.COLOR_RGB2BGR))
        written.append(out)
        print(out)
    from models.sources import face_photos

    valid = sorted(face_photos(root, "valid"), key=lambda f: -sum(b.label in ("comedone", "papule") for b in f.boxes))
    for photo in valid[: args.selfies]:
        p = prepare(photo.path.read_bytes())
        if p.view is None:
            print(f"{photo.path.name}: no face found")
            continue
        result = assess([dataclasses.replace(p, quality=QualityReport(True))])
        out = args.out / f"selfie_{photo.path.stem[:40]}.png"
        cv2.imwrite(str(out), cv2.cvtColor(render_selfie(photo.path, list(photo.boxes), result), cv2.COLOR_RGB2BGR))
        written.append(out)
        print(out)
    return written


if __name__ == "__main__":
    main()
