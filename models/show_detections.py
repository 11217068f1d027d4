"""Pictures to look at: held-out ACNE04 photos with the experts' marks and the service's findings.

    python -m models.show_detections --out test-artifacts/detections [--per-level 4]

Each PNG is the service's own annotated picture (region outlines, a ring per lesion coloured by type, the
legend) with the experts' circles added as thin green rings and a caption of both counts and grades.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from models import detset
from models.sources import data_dir

EXPERT = (0, 255, 0)


def render(path: Path, item: dict, assessment) -> np.ndarray:
    from pipeline.render import annotate

    p = assessment.photos[0]
    jpeg = annotate(p.photo.pixels, p.view, assessment.lesions)
    canvas = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    h, w = p.photo.pixels.shape[:2]
    k = canvas.shape[1] / w
    for l in item["lesions"]:
        cv2.circle(canvas, (round(l["x"] * k), round(l["y"] * k)), max(3, round((l["r"] + 4) * k)), EXPERT, 1,
                   cv2.LINE_AA)
    acne = sum(1 for l in assessment.lesions if l.type in ("comedone", "papule", "pustule", "nodule"))
    s = assessment.scores
    caption = (f"{path.name}  ACNE04 level {item['level']}  experts {len(item['lesions'])} (green)  "
               f"ours {acne} acne  Hayashi {s.hayashi.grade if s and s.hayashi else '-'}  grade {s.grade if s else '-'}")
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
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    items = {i["file"]: i for i in detset._acne04_items(root)}
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
    return written


if __name__ == "__main__":
    main()
