"""End-to-end seconds per photo, split by stage, for the ways of assessing the same photo:

  detector     this service: FaceMesh regions, canonical view, the lesion detector (int8 ONNX) over the face,
               lesion-centred type classification, in onnxruntime
  detector-fp32  the same with the float detector the int8 one was quantized from
  types-fp32   the shipped int8 detector with the float type classifier the int8 one was quantized from
  tiles        the pipeline before the detector: the Acne-RegNet student on 64 px grid tiles (stride 32) and a
               blob search per finding tile (models/tile_baseline.py)
  microsoft    the Microsoft/Nestle selfie approach: landmark skin patches (2-4, here our forehead, cheeks and
               chin masks' boxes) resized to 224 px, each through a ResNet-152 (random weights: timing only)

on a 512 px portrait, on a 12 MP (4000x3000) photo made from it and, where ../shared/data is, on a severe
clinical face (an ACNE04 training photo on which the service finds about a hundred lesions, each typed). Every
configuration runs in its own subprocess so its peak memory (max RSS) is its own; all run here, now, on the same
CPU, and the ratios are printed side by side.

    .venv/bin/python bench/bench_pipeline.py [--repeat 5] [--threads 2] [--previous OLD.onnx] [--only detector]

`--previous` adds the detector in OLD.onnx (say, the one before a model change, from git) as "previous", so the
new detector's time is measured side by side with the old one's; `--only` keeps the named configurations.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PORTRAIT = REPO.parent / "shared" / "data" / "acne-lesions" / "valid" / "images" / \
    "31887_png_jpg.rf.6eecb0777416a7e6124c33afde771d4b.jpg"
SAMPLE = REPO / "pipeline" / "samples" / "astronaut.jpg"
SEVERE = REPO.parent / "shared" / "data" / "acne04" / "images" / "levle2_110.jpg"


def _photo_bytes(size: str) -> bytes:
    import cv2

    source = PORTRAIT if PORTRAIT.exists() else SAMPLE
    if size == "severe":
        return SEVERE.read_bytes()
    if size == "512":
        return source.read_bytes()
    rgb = cv2.imread(str(source))
    h, w = rgb.shape[:2]
    canvas = cv2.resize(rgb, (3000, 3000 * h // w), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(canvas, 0, max(0, 3000 - canvas.shape[0]), 500, 500, cv2.BORDER_REFLECT)
    ok, data = cv2.imencode(".jpg", big[:3000, :4000], [cv2.IMWRITE_JPEG_QUALITY, 92])
    return data.tobytes()


def _run_ours(data: bytes, detector) -> dict[str, float]:
    from pipeline.assess import assess, prepare

    start = time.perf_counter()
    result = assess([prepare(data)], detector=detector)
    total = time.perf_counter() - start
    assert result.ok, result.quality.reasons
    return {**result.timings, "total": total}


def _run_tiles(data: bytes, model) -> dict[str, float]:
    from models.evaluate_detector import _assess_with_lesions
    from models.tile_baseline import baseline_lesions
    from pipeline.assess import prepare

    start = time.perf_counter()
    prepared = prepare(data)
    t_prep = time.perf_counter()
    lesions = baseline_lesions(prepared.view, model)
    t_lesions = time.perf_counter()
    _assess_with_lesions(prepared, lesions, model, None)
    end = time.perf_counter()
    return {**prepared.timings, "tiles+classifier+lesions": t_lesions - t_prep, "scoring": end - t_lesions,
            "total": end - start}


def _run_microsoft(data: bytes, net) -> dict[str, float]:
    import cv2
    import numpy as np
    import torch

    from pipeline.assess import prepare

    start = time.perf_counter()
    prepared = prepare(data)  # intake, landmarks, region masks (the paper used dlib landmarks likewise)
    t_prep = time.perf_counter()
    patches = []
    for region in ("forehead", "left_cheek", "right_cheek", "chin"):
        mask = prepared.view.masks[region]
        if prepared.view.assessed.get(region) and mask.any():
            ys, xs = np.nonzero(mask)
            (x0, y0), (x1, y1) = prepared.view.to_photo(xs.min(), ys.min()), prepared.view.to_photo(xs.max(), ys.max())
            crop = prepared.photo.pixels[int(y0):int(y1) + 1, int(x0):int(x1) + 1]
            patches.append(cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA))
    batch = torch.from_numpy(np.stack(patches).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    t_patch = time.perf_counter()
    with torch.inference_mode():
        net(batch)
    end = time.perf_counter()
    return {"intake+faces+regions": t_prep - start, "patches": t_patch - t_prep, "resnet152": end - t_patch,
            "total": end - start}


def child(config: str, size: str, repeat: int, threads: int) -> None:
    import os

    os.environ.setdefault("ACNEBOT_MODEL_THREADS", str(threads))
    data = _photo_bytes(size)
    if config == "types-fp32":
        from pipeline.classifier import FLOAT_TYPES_MODEL

        os.environ["ACNEBOT_TYPES_MODEL_PATH"] = str(FLOAT_TYPES_MODEL)
    if config.startswith(("detector", "previous", "types")):
        from pipeline.detector import DEFAULT_DETECTOR, FLOAT_DETECTOR, load

        path = FLOAT_DETECTOR if config == "detector-fp32" else DEFAULT_DETECTOR
        detector = load(config.split("=", 1)[1] if config.startswith("previous=") else str(path))
        run = lambda: _run_ours(data, detector)  # noqa: E731
    elif config == "tiles":
        from pipeline.classifier import load

        model = load()
        run = lambda: _run_tiles(data, model)  # noqa: E731
    else:
        import torch

        from bench.resnet152 import resnet152

        torch.set_num_threads(threads)
        net = resnet152()
        run = lambda: _run_microsoft(data, net)  # noqa: E731
    run()  # warm-up: model load, first-call allocations
    runs = [run() for _ in range(repeat)]
    stages = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"config": config, "size": size, "stages": stages, "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "SIZE"))
    parser.add_argument("--previous", default=None, help="another detector ONNX to time beside the shipped one")
    parser.add_argument("--only", nargs="*", default=None, help="configurations to run (default: all)")
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.repeat, args.threads)
        return
    configs = ["tiles", "detector", "detector-fp32", "types-fp32"]
    configs += ([f"previous={args.previous}"] if args.previous else []) + ["microsoft"]
    if args.only:
        configs = [c for c in configs if c.split("=")[0] in args.only]
    rows = []
    sizes = ("512", "12MP") + (("severe",) if SEVERE.exists() else ())
    for size in sizes:
        for config in configs:
            out = subprocess.run([sys.executable, __file__, "--child", config, size, "--repeat", str(args.repeat),
                                  "--threads", str(args.threads)], capture_output=True, text=True, cwd=REPO)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{config} {size} failed")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"median of {args.repeat} runs, {args.threads} threads")
    for size in sizes:
        base = next(r for r in rows if r["size"] == size)["stages"]["total"]
        print(f"\n{size} photo")
        for r in (r for r in rows if r["size"] == size):
            stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r["stages"].items() if k != "total")
            print(f"  {r['config'].split('=')[0]:13s} total {r['stages']['total']:.3f} s  "
                  f"x{r['stages']['total'] / base:5.2f} of {rows[0]['config'].split('=')[0]}  "
                  f"peak RSS {r['peak_mb']:.0f} MB   [{stages}]")


if __name__ == "__main__":
    main()
