"""The exported lesion-type classifier in int8 for the service's CPUs, checked against its float source.

    python -m models.quantize_types models/weights/lesion_types.onnx models/weights/lesion_types.int8.onnx

On a severe face the type classifier is the assessment's slowest step (one 64 px patch per lesion, enlarged x2
inside the network: about 4 ms a lesion at one thread in float). Calibrated (min-max) on what the service feeds
it: the patches around the acne lesions it finds on ACNE04 training faces and whole training close-ups at their
own size. The enlargement, the stem, the first block and the final layer stay in float. The check is
agreement, not accuracy: the type the service would name (`pipeline.lesions.acne_type` on faces, the likeliest
on whole close-ups) from each file, on the ACNE04 training and tune faces and the training close-ups (never the
held-out ones). Held-out accuracy is `models.evaluate_closeups`' and `models.evaluate_detector`'s to measure.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

KEEP_FLOAT = ("/0/", "/1/backbone/stem", "/1/backbone/blocks.0/", "/1/fc")  # node name prefixes left in float
FACE_EVERY, CLOSEUP_EVERY = 3, 10  # one ACNE04 training face, one training close-up in this many
CALIBRATION_EVERY = 4  # of those, one in this many calibrates
BATCH = 32


def face_patches(root: Path, names: list[str]) -> np.ndarray:
    """The patches the service types: one around each acne lesion it finds on these ACNE04 photos."""
    from pipeline import detector
    from pipeline.assess import prepare
    from pipeline.lesions import detect_on_skin, lesion_patches

    found = []
    for name in names:
        view = prepare((root / "acne04" / name).read_bytes()).view
        if view is not None:
            acne = [d for d in detect_on_skin(detector.load(), view) if d.kind == 0]
            found.append(lesion_patches(view, acne, view.type_window))
    return np.concatenate(found)


def whole_closeups(root: Path, every: int, size: int) -> np.ndarray:
    """Training close-ups (models.evaluate_closeups' training groups) as the service shows them whole."""
    from models.evaluate_closeups import closeup_photos
    from models.sources import read_rgb
    from pipeline.lesions import whole_closeup
    from pipeline.patches import closeup_view

    return np.stack([whole_closeup(closeup_view(read_rgb(path), "forehead"), size)
                     for path, _ in closeup_photos(root, "train")[::every]])


def _batches(images: np.ndarray) -> list[np.ndarray]:
    from pipeline.preprocess import to_model_input

    return [to_model_input(images[i:i + BATCH]) for i in range(0, len(images), BATCH)]


def agreement(fp32: Path, int8: Path, faces: np.ndarray, wholes: np.ndarray, threads: int = 2) -> dict:
    """Types named alike from each file, the largest probability difference, and each file's time per patch."""
    from pipeline.classifier import LesionClassifier
    from pipeline.lesions import acne_type
    from pipeline.types import ACNE_TYPES

    on_faces, on_wholes, report = [], [], {}
    for label, path in (("fp32", fp32), ("int8", int8)):
        model = LesionClassifier(path, threads, classes=ACNE_TYPES)  # as the service loads and runs it
        started = time.perf_counter()
        on_faces.append(model.predict(faces))
        report[f"{label}_ms_per_patch"] = round(1000 * (time.perf_counter() - started) / len(faces), 2)
        on_wholes.append(model.predict(wholes))
    named = [[acne_type(p) for p in probs] for probs in on_faces]
    return {"face_patches": len(faces), "whole_closeups": len(wholes),
            "same_type_on_faces": round(float(np.mean([a == b for a, b in zip(*named)])), 4),
            "same_type_on_closeups": round(float((on_wholes[0].argmax(1) == on_wholes[1].argmax(1)).mean()), 4),
            "max_probability_difference": round(float(max(np.abs(on_faces[0] - on_faces[1]).max(),
                                                          np.abs(on_wholes[0] - on_wholes[1]).max())), 4),
            **report}


def main(argv: list[str] | None = None) -> None:
    from models import detset
    from models.export import quantized_copy
    from models.sources import data_dir
    from pipeline.classifier import LesionClassifier
    from pipeline.types import ACNE_TYPES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fp32", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    root = data_dir(args.data)
    split = detset.acne04_split(root)
    size = LesionClassifier(args.fp32, classes=ACNE_TYPES).whole_closeup_size
    train_faces = face_patches(root, split["train"][::FACE_EVERY])
    wholes = whole_closeups(root, CLOSEUP_EVERY, size)
    # Patches and whole close-ups differ in size: each calibration batch holds one kind.
    calibration = [train_faces[::CALIBRATION_EVERY], wholes[::CALIBRATION_EVERY]]
    written = quantized_copy(args.fp32, args.out, ({"input": x} for kind in calibration for x in _batches(kind)),
                             KEEP_FLOAT, f"{len(calibration[0])} lesion patches of ACNE04 training faces and "
                             f"{len(calibration[1])} whole training close-ups")
    faces = np.concatenate([train_faces, face_patches(root, split["tune"])])
    print(json.dumps({"metadata": written, **agreement(args.fp32, args.out, faces, wholes)}), flush=True)


if __name__ == "__main__":
    main()
