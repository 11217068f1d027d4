"""Train the image-level grade: one command, resumable, bf16, the views jittered on the training device.

    python -m models.grade.train --run var/runs/grade-lite0 [--minutes 60] [--steps N]
    python -m models.grade.train --run var/runs/grade-final --all --steps 1500 --stop 900
    python -m models.grade.train --run var/runs/grade-cv/f0 --folds 5 --fold 0 --steps 1500

By default the ACNE04 training photos train and the 40 tune photos choose the checkpoint (balanced accuracy +
half the accuracy). `--all` trains on the training and tune photos together and stops at a fixed step (the one
cross-validation chose: models.grade.crossval) and keeps the last weights. `--folds K --fold k` deals the
training and tune photos into K folds by near-duplicate group and measures fold k. The weights evaluated and
kept are an exponential moving average of the trained ones (`--ema`). The held-out fifth is never read here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models import facepack, loop
from models.detector.data import decode_all
from models.grade.data import FaceBank, face_crop
from models.grade.network import LEVELS, GradeNet

WARMUP = 100  # of 10,000 schedule units (1 % of the run)
_pixels: dict[Path, np.ndarray] = {}  # decoded once per process: cross-validation trains many runs in one


def decoded(photos: list[facepack.PackedPhoto]) -> list[np.ndarray]:
    missing = [p for p in photos if p.image not in _pixels]
    _pixels.update(zip([p.image for p in missing], decode_all(missing)))
    return [_pixels[p.image] for p in photos]


def parse(argv=None):
    ap = loop.arguments(__doc__, minutes=60.0, batch=32, lr=5e-4, eval_every=100)
    ap.add_argument("--count-weight", type=float, default=0.3, help="weight of the log-count regression")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--ema", type=float, default=0.998, help="decay of the weights' moving average (0: none)")
    ap.add_argument("--all", action="store_true", help="train on training and tune photos, keep the last")
    ap.add_argument("--stop", type=int, default=0, help="stop at this step; the schedule still spans --steps")
    ap.add_argument("--folds", type=int, default=0)
    ap.add_argument("--fold", type=int, default=0)
    return ap.parse_args(argv)


def photos_of(args) -> tuple[list[facepack.PackedPhoto], list[facepack.PackedPhoto]]:
    """(training photos, photos that measure the run)."""
    pack = Path(args.pack)
    train = facepack.load(pack, source="acne04", split="train")
    tune = facepack.load(pack, source="acne04", split="tune")
    if args.all:
        return train + tune, []
    if args.folds:
        pool = train + tune
        if any(p.group is None for p in pool):
            raise SystemExit("this face pack has no near-duplicate groups: pack it again (python -m models.facepack)")
        groups = sorted({p.group for p in pool})
        fold_of = dict(zip(groups, np.random.default_rng(2026).permutation(len(groups)) % args.folds))
        return ([p for p in pool if fold_of[p.group] != args.fold], [p for p in pool if fold_of[p.group] == args.fold])
    return train, tune


def main(argv=None) -> loop.RunState:
    args = parse(argv)
    dev, run_dir = loop.start(args)
    photos, measured = photos_of(args)
    bank = FaceBank(photos, decoded(photos), dev)
    measured_x = torch.from_numpy(np.stack([face_crop(p, px) for p, px in zip(measured, decoded(measured))])
                                  .transpose(0, 3, 1, 2)) if measured else None
    measured_y = np.array([p.level for p in measured])
    model = GradeNet(args.variant, args.weights).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    average = loop.MovingAverage(model, args.ema)
    state = loop.resume(run_dir, model, opt, average)
    config = {"variant": args.variant, "photos": len(photos), **{k: getattr(args, k) for k in (
        "lr", "batch", "count_weight", "label_smoothing", "ema", "all", "folds", "fold")}}
    gen = torch.Generator(device=dev)
    gen.manual_seed(args.seed * 7919 + state.step)
    budget = loop.Budget(state, args.minutes, min(args.steps, args.stop or args.steps))
    loop.run_until_stopped(model, lambda: train_steps(args, model, average, opt, bank, gen, state, budget, dev,
                                                      run_dir, measured_x, measured_y, config))
    if args.all:
        loop.save(run_dir, average.model, None, state, "best.pt", config)
    loop.save(run_dir, model, opt, state, config=config, average=average)
    print(f"done: {state.step} steps, {state.seconds / 60:.1f} minutes, best step {state.best_step}", flush=True)
    return state


def train_steps(args, model, average, opt, bank, gen, state, budget, dev, run_dir, measured_x, measured_y,
                config) -> None:
    save_now = loop.PeriodicSave(run_dir, args.save_every, config)
    while not budget.done:
        loop.set_lr(opt, state, args, warmup=WARMUP)
        image, level, log_count = bank.batch(args.batch, gen)
        with loop.autocast(dev):
            out = model(image.contiguous(memory_format=torch.channels_last)).float()
        loss = F.cross_entropy(out[:, :LEVELS], level, label_smoothing=args.label_smoothing) + \
            args.count_weight * F.smooth_l1_loss(out[:, LEVELS], log_count)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        average.update(model)
        state.step += 1
        budget.tick()
        if measured_x is not None and (state.step % args.eval_every == 0 or budget.done):
            record = accuracy(average.model, measured_x, measured_y, dev)
            score = record["balanced_accuracy"] + 0.5 * record["accuracy"]
            record.update(step=state.step, minutes=round(state.seconds / 60, 2), loss=round(loss.item(), 4))
            if loop.keep_best(run_dir, average.model, state, score, config):
                record["best"] = True
            loop.log(run_dir, record, hide=("levels", "probabilities"))
            model.train()
            budget.pause()
        save_now(model, opt, state, budget, average)


@torch.no_grad()
def predict(model, x: torch.Tensor, dev, batch: int = 32) -> np.ndarray:
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(dev).float().div_(255).contiguous(memory_format=torch.channels_last)
        with loop.autocast(dev):
            outs.append(model(xb).float().cpu())
    return torch.cat(outs).numpy()


def accuracy(model, x, y, dev) -> dict:
    """Accuracy, balanced accuracy and confusion on the measured photos, with each photo's level and level
    probabilities (in the measured photos' order): cross-validation pools them into out-of-fold predictions."""
    logits = predict(model, x, dev)[:, :LEVELS]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    pred = logits.argmax(1)
    recalls = [float((pred[y == c] == c).mean()) for c in range(LEVELS) if (y == c).any()]
    confusion = np.zeros((LEVELS, LEVELS), int)
    for t, p in zip(y, pred):
        confusion[t, p] += 1
    return {"accuracy": round(float((pred == y).mean()), 4), "balanced_accuracy": round(float(np.mean(recalls)), 4),
            "confusion": confusion.tolist(), "levels": [int(v) for v in y],
            "probabilities": np.round(probs, 4).tolist()}


if __name__ == "__main__":
    main()
