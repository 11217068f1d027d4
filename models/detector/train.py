"""Train the lesion detector: one command, resumable, bf16, data prepared in loader worker processes.

    python -m models.detector.train --run var/runs/det-lite0 [--minutes 240] [--variant lite0]

Reads the face pack (`python -m models.facepack` makes it, default var/pack). Every `--eval-every` steps the
model is scored on the tune photos (ACNE04 tune photos and the boxed selfies kept apart: never the held-out
ones), and `best.pt` keeps the best mean of the two lesion F1s. Start the same command again to resume.
"""
from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from models import detset, facepack, loop
from models.detection_metrics import match_boxes, match_circles, prf
from models.detector.data import CropSampler, decode_all
from models.detector.network import HEATMAPS, MULTIPLE, STRIDE, LesionDetector, heatmap_focal_loss, size_loss

SIZE_WEIGHT = 0.1
THRESHOLDS = np.round(np.arange(0.05, 0.8, 0.025), 3)


def parse(argv=None):
    ap = loop.arguments(__doc__, minutes=240.0, batch=16, lr=1.5e-3, eval_every=500)
    ap.add_argument("--scratch", action="store_true", help="random backbone weights (the comparison run)")
    ap.add_argument("--enhance", action="store_true", help="median filter + CLAHE before the network")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--acne04-share", type=float, default=0.5)
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="also evaluate a moving average of the weights with this decay; best.pt keeps the better")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    dev, run_dir = loop.start(args)
    pack = Path(args.pack)
    photos = facepack.load(pack, split="train")
    tune = facepack.load(pack, split="tune")
    t0 = time.perf_counter()
    pixels = decode_all(photos, args.enhance)
    tune_pixels = decode_all(tune, args.enhance)
    print(f"{len(photos)} training photos, {len(tune)} tune photos decoded in {time.perf_counter() - t0:.0f} s; "
          f"device {dev}", flush=True)

    model = LesionDetector(args.variant, args.weights, pretrained=not args.scratch).to(dev)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    average = loop.MovingAverage(model, args.ema)
    state = loop.resume(run_dir, model, opt, average)
    config = {"variant": args.variant, "enhance": args.enhance, "crop": args.crop, "batch": args.batch,
              "scratch": args.scratch, "stride": STRIDE, "acne04_share": args.acne04_share, "ema": args.ema}
    sampler = CropSampler(photos, pixels, args.crop, args.acne04_share, seed=args.seed * 7919 + state.step)
    data = loop.loader(sampler, args, dev)
    budget = loop.Budget(state, args.minutes, args.steps)
    loop.run_until_stopped(model, lambda: train_steps(args, model, average, opt, data, state, budget, dev, run_dir,
                                                      tune, tune_pixels, config))
    if state.best_step != state.step:
        evaluate_and_keep(model, average, tune, tune_pixels, dev, run_dir, state, config, not args.no_bf16)
    loop.save(run_dir, model, opt, state, config=config, average=average)
    print(f"done: {state.step} steps, {state.seconds / 60:.1f} training minutes, best step {state.best_step} "
          f"(score {state.best_score:.4f})", flush=True)


def train_steps(args, model, average, opt, data, state, budget, dev, run_dir, tune, tune_pixels, config) -> None:
    save_now = loop.PeriodicSave(run_dir, args.save_every, config)
    for image, heat, size_map, size_at, labelled in data:
        if budget.done:
            break
        lr = loop.set_lr(opt, state, args, warmup=200)
        x = image.to(dev, non_blocking=True).float().div_(255).contiguous(memory_format=torch.channels_last)
        heat, size_map, size_at = heat.to(dev), size_map.to(dev), size_at.to(dev)
        mask = labelled.to(dev)[:, :, None, None].expand_as(heat)
        with loop.autocast(dev, not args.no_bf16):
            out = model(x)
        loss = heatmap_focal_loss(out[:, :HEATMAPS], heat, mask) + \
            SIZE_WEIGHT * size_loss(out[:, HEATMAPS:], size_map, size_at[:, None].expand_as(size_map))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        average.update(model)
        state.step += 1
        budget.tick()
        if state.step % 50 == 0:
            print(f"step {state.step} loss {loss.item():.3f} lr {lr:.2e} {state.seconds:.0f}s", flush=True)
        if state.step % args.eval_every == 0 or budget.done:
            evaluate_and_keep(model, average, tune, tune_pixels, dev, run_dir, state, config, not args.no_bf16)
            model.train()
            budget.pause()
        save_now(model, opt, state, budget, average)


def evaluate_and_keep(model, average, tune, tune_pixels, dev, run_dir, state, config, bf16) -> None:
    """Scores the trained weights (and their moving average) on the tune photos; best.pt keeps the best."""
    for weights, net in [("trained", model)] + ([("average", average.model)] if average.decay else []):
        scores = tune_scores(net, tune, tune_pixels, dev, bf16)
        score = float(np.mean([scores[k]["f1"] for k in ("acne04", "selfies") if k in scores]))
        record = {"step": state.step, "weights": weights, "minutes": round(state.seconds / 60, 2),
                  "score": round(score, 4), **scores}
        if loop.keep_best(run_dir, net, state, score, config):
            record["best"] = True
        loop.log(run_dir, record)


@torch.no_grad()
def heatmaps(model, rgb: np.ndarray, factor: float, dev, bf16: bool) -> np.ndarray:
    """The model's sigmoid heatmaps over a whole photo at canonical scale: HEATMAPS x h x w (numpy)."""
    model.eval()
    h, w = rgb.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    canon = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR if factor > 1 else cv2.INTER_AREA)
    ph, pw = -canon.shape[0] % MULTIPLE, -canon.shape[1] % MULTIPLE
    canon = cv2.copyMakeBorder(canon, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
    x = torch.from_numpy(np.ascontiguousarray(canon.transpose(2, 0, 1)))[None].to(dev).float().div_(255)
    with loop.autocast(dev, bf16):
        out = model(x.contiguous(memory_format=torch.channels_last))
    return torch.sigmoid(out[0, :HEATMAPS].float()).cpu().numpy()


def peaks(heat: np.ndarray, min_score: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima over 3 x 3 cells: (N x 2 centres in input px, N scores)."""
    t = torch.from_numpy(heat)[None, None]
    is_peak = (t == F.max_pool2d(t, 3, 1, 1)) & (t >= min_score)
    iy, ix = np.nonzero(is_peak[0, 0].numpy())
    return np.stack([(ix + 0.5) * STRIDE, (iy + 0.5) * STRIDE], 1).astype(np.float64), heat[iy, ix]


def tune_curves(model, tune, tune_pixels, dev, bf16: bool, non_acne: bool = False) -> dict[str, list]:
    """Per tune photo (peak scores, which peaks hit a mark, how many marks) at the lowest threshold: acne peaks
    on ACNE04 circles ("acne04") and on the selfies' acne boxes ("selfies"), and with `non_acne` the non-acne
    peaks on the selfies' non-acne boxes. Greedy matching goes best score first, so the hits of the peaks
    above any threshold are these same flags."""
    curves: dict[str, list] = {"acne04": [], "selfies": [], **({"non_acne": []} if non_acne else {})}
    for photo, rgb in zip(tune, tune_pixels):
        heat = heatmaps(model, rgb, photo.to_canon, dev, bf16)
        for channel, kind in ((0, detset.ACNE), (1, detset.NON_ACNE))[: 2 if non_acne else 1]:
            if channel == 1 and not photo.labels_non_acne:
                continue
            centres, scores = peaks(heat[channel])
            centres = centres / photo.to_canon
            sel = photo.kinds == kind
            if not (len(centres) and sel.any()):
                hits = np.zeros(len(centres), bool)
            elif photo.source == "acne04":
                hits = match_circles(centres, scores, photo.points[sel], photo.sizes[sel, 0] / 2)
            else:
                half = photo.sizes[sel] / 2
                hits = match_boxes(centres, scores, np.concatenate([photo.points[sel] - half,
                                                                    photo.points[sel] + half], 1))
            key = "non_acne" if channel == 1 else ("acne04" if photo.source == "acne04" else "selfies")
            curves[key].append((scores, hits, int(sel.sum())))
    return curves


def at_threshold(rows: list, t: float) -> dict:
    """Precision, recall and F1 over a curve's photos, counting the peaks at or above `t`."""
    return prf(sum(int(h[s >= t].sum()) for s, h, _ in rows), sum(int((s >= t).sum()) for s, _, _ in rows),
               sum(n for _, _, n in rows))


def tune_scores(model, tune, tune_pixels, dev, bf16: bool) -> dict:
    """Best-threshold lesion F1 of the acne heatmap on the tune photos, ACNE04 and selfies apart."""
    out = {}
    for source, rows in tune_curves(model, tune, tune_pixels, dev, bf16).items():
        if rows:
            t, best = max(((float(t), at_threshold(rows, t)) for t in THRESHOLDS), key=lambda tb: tb[1]["f1"])
            out[source] = {k: best[k] for k in ("f1", "precision", "recall")} | {"threshold": t}
    return out


if __name__ == "__main__":
    main()
