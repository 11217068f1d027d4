"""Close-ups as a patient sends them, one photo declared as one region, through the service's whole assessment.

    python -m models.evaluate_closeups [--photos held_out|tune] [--region forehead] [--json FILE]

The held-out near-duplicate groups of the lesion-types close-ups (models.patchset.split_closeups, the same photos
models.evaluate_types scores as patches) go through intake, quality, the detector over the declared region and
the type classifier, as `acnebot assess PHOTO --region R` does. Per photo: refused (intake or quality, with the
reason's code), no acne lesion found, or the dominant acne type among the lesions found (most lesions; ties to
the higher summed confidence), against the type its folder names. Printed: how many were assessed and found anything, the
dominant-type accuracy over all held-out photos (refused and empty ones count as wrong) and over those with
findings, per-type recall and the confusion matrix (rows truth, columns dominant type, ACNE_TYPES order).
"""
from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np

from models.patchset import closeup_parts, closeup_patches
from models.sources import CLOSEUP_LABELS, closeups, data_dir
from pipeline.types import ACNE_TYPES


def closeup_photos(root: Path, part: str = "held_out") -> list[tuple[Path, str]]:
    """(path, acne type) of the close-ups in one part's groups (models.patchset.closeup_parts): patch i of
    closeup_patches is photo i."""
    items = closeups(root)
    patches = closeup_patches(root)
    groups = set(closeup_parts(patches, part).groups.tolist())
    return [item for item, group in zip(items, patches.groups) if int(group) in groups]


def dominant_type(lesions) -> str | None:
    counts, confidence = collections.Counter(), collections.Counter()
    for lesion in lesions:
        if lesion.type in ACNE_TYPES:
            counts[lesion.type] += 1
            confidence[lesion.type] += lesion.confidence
    if not counts:
        return None
    return max(counts, key=lambda t: (counts[t], confidence[t]))


def outcome(path: Path, region: str) -> tuple[str, bool]:
    """"refused: <reason code>", "none" or the dominant acne type of one close-up, and whether the service read it
    as a whole face (the declared region cut out by the landmarks) rather than as a close-up."""
    from pipeline.assess import assess, prepare
    from pipeline.intake import IntakeError

    try:
        prepared = prepare(path.read_bytes(), region)
    except IntakeError as error:
        return f"refused: {error.code}", False
    if not prepared.quality.ok:
        return f"refused: {prepared.quality.reasons[0].code}", False
    return dominant_type(assess([prepared]).lesions) or "none", prepared.view.landmarks is not None


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None)
    ap.add_argument("--region", default="forehead", help="the region every close-up is declared as")
    ap.add_argument("--photos", choices=["held_out", "tune"], default="held_out",
                    help="tune: the training groups a types model trained with --without-tune never saw")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    photos = closeup_photos(data_dir(args.data), args.photos)
    truth = [ACNE_TYPES.index(CLOSEUP_LABELS[path.parent.name]) for path, _ in photos]
    outcomes = [outcome(path, args.region) for path, _ in photos]
    got = [g for g, _ in outcomes]
    confusion = np.zeros((len(ACNE_TYPES), len(ACNE_TYPES)), int)
    for t, g in zip(truth, got):
        if g in ACNE_TYPES:
            confusion[t, ACNE_TYPES.index(g)] += 1
    per_type = collections.Counter(truth)
    found = int(confusion.sum())
    report = {
        "photos": len(photos), "refused": sum(g.startswith("refused") for g in got),
        "refused_because": dict(collections.Counter(g.split(": ")[1] for g in got if g.startswith("refused"))),
        "no_acne_found": got.count("none"),
        "read_as_a_face": sum(face for _, face in outcomes),
        "accuracy": round(float(np.trace(confusion)) / len(photos), 3),
        "accuracy_where_found": round(float(np.trace(confusion)) / max(1, found), 3),
        "recall": {t: round(float(confusion[i, i]) / per_type[i], 3) for i, t in enumerate(ACNE_TYPES) if per_type[i]},
        "confusion": confusion.tolist(),
    }
    print(json.dumps(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return report


if __name__ == "__main__":
    main()
