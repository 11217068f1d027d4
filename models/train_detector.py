"""Train the lesion detector on ACNE04 circles and acne-lesions boxes together; resumable; exports ONNX.

    python -m models.train_detector --run-dir var/runs/detector --steps 1500 \
        --export models/weights/lesion_detector.onnx

Each step draws a batch of canonical-face crops: mostly around marked lesions (the face, not the background),
the rest anywhere on the face crop; scale, rotation, flip, colour jitter and the Microsoft paper's rolling.
A checkpoint is written every --checkpoint-every steps; rerunning the same command resumes from the last one.
The acne heatmap's F1 on the ACNE04 tune photos (never the held-out fifth) picks the best checkpoint.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from models import detset
from models.detector import (HEATMAPS, STRIDE, LesionDetector, freeze_backbone_bn, heatmap_focal_loss,
                             load_classifier_weights)
from models.sources import REPO_ROOT

CLASSIFIER_ONNX = REPO_ROOT / "models" / "weights" / "acne_regnet_student.onnx"
ROLL_P = 0.3
LESION_CENTRED_P = 0.7
SIZE_LOSS_WEIGHT = 0.1


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=str(REPO_ROOT / "var" / "runs" / "detector"))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--crop", type=int, default=192, help="canonical px, a multiple of 32")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--acne04-share", type=float, default=0.6, help="fraction of crops from ACNE04")
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--export", default=None, help="write the best checkpoint as ONNX here when done")
    return ap.parse_args(argv)


class CropSampler:
    """Random augmented crops with their heatmap, size and label-mask targets."""

    def __init__(self, photos: list[detset.DetPhoto], crop: int, rng: np.random.Generator):
        self.photos = [p for p in photos if p.shape[0] >= 64 and p.shape[1] >= 64]
        self.crop, self.rng = crop, rng

    def sample(self):
        rng, c = self.rng, self.crop
        photo = self.photos[int(rng.integers(len(self.photos)))]
        h, w = photo.shape
        if len(photo.points) and rng.random() < LESION_CENTRED_P:
            centre = photo.points[int(rng.integers(len(photo.points)))] + rng.uniform(-c / 3, c / 3, 2)
        else:
            centre = np.array([rng.uniform(0, w), rng.uniform(0, h)])
        scale = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        angle = float(rng.uniform(-15, 15))
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
        m[:, 2] += np.array([c / 2, c / 2]) - centre
        flip = rng.random() < 0.5
        if flip:
            m = np.array([[-1, 0, c - 1], [0, 1, 0]], np.float64) @ np.vstack([m, [0, 0, 1]])
        pixels = cv2.warpAffine(np.asarray(photo.pixels()), m, (c, c), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
        points = photo.points @ m[:, :2].T + m[:, 2] if len(photo.points) else photo.points
        sizes = photo.sizes * scale
        if rng.random() < ROLL_P:
            axis = int(rng.integers(2))
            shift = int(rng.integers(1, c // STRIDE)) * STRIDE  # whole heatmap cells, so targets stay exact
            pixels = np.roll(pixels, shift, axis=axis)
            if len(points):
                points = points.copy()
                points[:, 1 - axis] = (points[:, 1 - axis] + shift) % c
        heat, size, size_mask = targets(points, sizes, photo.kinds, c)
        label_mask = np.ones((HEATMAPS, 1, 1), np.float32)
        if not photo.labels_non_acne:
            label_mask[1] = 0.0
        return pixels, heat, size, size_mask, label_mask

    def batch(self, n: int):
        items = [self.sample() for _ in range(n)]
        pixels = np.stack([i[0] for i in items]).astype(np.float32) / 255.0
        pixels = colour_jitter(pixels, self.rng)
        return (torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()),
                *(torch.from_numpy(np.stack([i[k] for i in items])) for k in range(1, 5)))


def targets(points: np.ndarray, sizes: np.ndarray, kinds: np.ndarray, crop: int):
    g = crop // STRIDE
    heat = np.zeros((HEATMAPS, g, g), np.float32)
    size = np.zeros((2, g, g), np.float32)
    size_mask = np.zeros((1, g, g), np.float32)
    yy, xx = np.mgrid[0:g, 0:g]
    for (x, y), (bw, bh), kind in zip(points, sizes, kinds):
        cx, cy = x / STRIDE, y / STRIDE
        ix, iy = int(cx), int(cy)
        if not (0 <= ix < g and 0 <= iy < g):
            continue
        sigma = max(0.7, (bw + bh) / 2 / STRIDE / 3)
        bump = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma ** 2))
        np.maximum(heat[kind], bump, out=heat[kind])
        heat[kind, iy, ix] = 1.0
        size[:, iy, ix] = np.log(np.maximum([bw, bh], 2.0))
        size_mask[0, iy, ix] = 1.0
    return heat, size, size_mask


def colour_jitter(batch: np.ndarray, rng: np.random.Generator, j: float = 0.15) -> np.ndarray:
    n = len(batch)
    bright = 1 + rng.uniform(-j, j, (n, 1, 1, 1))
    contrast = 1 + rng.uniform(-j, j, (n, 1, 1, 1))
    gain = 1 + rng.uniform(-j / 2, j / 2, (n, 1, 1, 3))
    mean = batch.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(((batch - mean) * contrast + mean) * bright * gain, 0.0, 1.0).astype(np.float32)


class MixedSampler:
    def __init__(self, parts: list[tuple[CropSampler, float]], rng: np.random.Generator):
        self.parts, self.rng = parts, rng

    def batch(self, n: int):
        shares = np.array([s for _, s in self.parts])
        counts = self.rng.multinomial(n, shares / shares.sum())
        pieces = [sampler.batch(k) for (sampler, _), k in zip(self.parts, counts) if k]
        return tuple(torch.cat([p[i] for p in pieces]) for i in range(5))


def loss_fn(out: torch.Tensor, heat, size, size_mask, label_mask) -> tuple[torch.Tensor, dict]:
    mask = label_mask.expand_as(heat)
    l_heat = heatmap_focal_loss(out[:, :HEATMAPS], heat, mask)
    l_size = (torch.abs(out[:, HEATMAPS:] - size) * size_mask).sum() / size_mask.sum().clamp(min=1.0)
    return l_heat + SIZE_LOSS_WEIGHT * l_size, {"heat": float(l_heat), "size": float(l_size)}


def lr_at(step: int, total: int, base: float, warmup: int = 50) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def tune_f1(model: LesionDetector, photos: list[detset.DetPhoto], device) -> dict:
    """Acne-centre F1 on the tune photos at the best of a few thresholds (canonical px, circle + 4 px)."""
    from models.detection_metrics import best_threshold, match_circles
    from pipeline.detector import decode, pad_to_stride

    was = model.training
    model.eval()
    per_photo = []
    with torch.no_grad():
        for p in photos:
            x, _ = pad_to_stride(np.asarray(p.pixels()))
            out = model(torch.from_numpy(x).to(device)).cpu().numpy()[0]
            dets = decode(out, min_score=0.05)
            acne = [d for d in dets if d.kind == 0]
            radii = p.sizes[:, 0] / 2
            per_photo.append((np.array([[d.x, d.y] for d in acne]).reshape(-1, 2),
                              np.array([d.score for d in acne]), p.points, radii))
    model.train(was)
    freeze_backbone_bn(model)
    return best_threshold(per_photo, match_circles)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    run = Path(args.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    acne04 = detset.load("acne04_train")
    lesions = detset.load("lesions_train")
    tune = detset.load("acne04_tune")
    sampler = MixedSampler([(CropSampler(acne04, args.crop, rng), args.acne04_share),
                            (CropSampler(lesions, args.crop, rng), 1 - args.acne04_share)], rng)

    model = LesionDetector().to(device)
    ckpt_file = run / "last.pt"
    history: list[dict] = []
    start = 0
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    if ckpt_file.exists():
        state = torch.load(ckpt_file, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        start, history = state["step"], state["history"]
        print(f"resumed at step {start}", flush=True)
    else:
        n = load_classifier_weights(model, CLASSIFIER_ONNX)
        print(f"backbone: {n} convolutions from {CLASSIFIER_ONNX.name}", flush=True)
    model.train()
    freeze_backbone_bn(model)
    began, running = time.time(), []
    for step in range(start, args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        batch = [t.to(device) for t in sampler.batch(args.batch_size)]
        out = model(batch[0])
        loss, parts = loss_fn(out, *batch[1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        running.append(parts)
        done = step + 1
        if done % 20 == 0:
            mean = {k: float(np.mean([r[k] for r in running])) for k in running[0]}
            print(f"step {done}/{args.steps} heat {mean['heat']:.3f} size {mean['size']:.3f} "
                  f"{(time.time() - began) / (done - start):.2f} s/step", flush=True)
            running = []
        if done % args.checkpoint_every == 0 or done == args.steps:
            score = tune_f1(model, tune, device)
            history.append({"step": done, **score, "seconds": time.time() - began})
            print("tune", json.dumps(history[-1]), flush=True)
            if score["f1"] >= max((h["f1"] for h in history), default=0.0):
                torch.save(model.state_dict(), run / "best.pt")
            torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                        "step": done, "history": history, "args": vars(args)}, run / "last.tmp")
            (run / "last.tmp").replace(ckpt_file)
            (run / "history.json").write_text(json.dumps(history, indent=1))
    summary = {"steps": args.steps, "best": max(history, key=lambda h: h["f1"]) if history else None}
    (run / "summary.json").write_text(json.dumps(summary, indent=1))
    if args.export:
        from models.export_detector import export

        model.load_state_dict(torch.load(run / "best.pt", map_location="cpu"))
        export(model.cpu(), Path(args.export), summary)
    return summary


if __name__ == "__main__":
    main()
