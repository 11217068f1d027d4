"""Train the image-level grade: one command, resumable, bf16.

    python -m models.grade.train --run var/runs/grade-lite0 [--minutes 60]

ACNE04 training photos of the face pack only; the tune photos choose the checkpoint (balanced accuracy, then
accuracy); the held-out fifth is never read here.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models import facepack, loop
from models.detector.data import decode_all
from models.grade.data import FaceSampler, face_crop
from models.grade.network import LEVELS, GradeNet

COUNT_WEIGHT = 0.3


def parse(argv=None):
    return loop.arguments(__doc__, minutes=60.0, batch=16, lr=5e-4, eval_every=100).parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    dev, run_dir = loop.start(args)
    photos = facepack.load(Path(args.pack), source="acne04", split="train")
    tune = facepack.load(Path(args.pack), source="acne04", split="tune")
    pixels, tune_pixels = decode_all(photos), decode_all(tune)
    tune_x = torch.from_numpy(np.stack([face_crop(p, px) for p, px in zip(tune, tune_pixels)]).transpose(0, 3, 1, 2))
    tune_y = np.array([p.level for p in tune])
    model = GradeNet(args.variant, args.weights).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-3)
    state = loop.resume(run_dir, model, opt)
    config = {"variant": args.variant}
    data = loop.loader(FaceSampler(photos, pixels, seed=args.seed * 7919 + state.step), args, dev)
    budget = loop.Budget(state, args.minutes, args.steps)
    loop.run_until_stopped(model, lambda: train_steps(args, model, opt, data, state, budget, dev, run_dir, tune_x,
                                                      tune_y, config))
    loop.save(run_dir, model, opt, state, config=config)
    print(f"done: {state.step} steps, {state.seconds / 60:.1f} minutes, best step {state.best_step}", flush=True)


def train_steps(args, model, opt, data, state, budget, dev, run_dir, tune_x, tune_y, config) -> None:
    save_now = loop.PeriodicSave(run_dir, args.save_every, config)
    for image, level, log_count in data:
        if budget.done:
            break
        loop.set_lr(opt, state, args, warmup=300)
        x = image.to(dev, non_blocking=True).float().div_(255).contiguous(memory_format=torch.channels_last)
        with loop.autocast(dev):
            out = model(x).float()
        loss = F.cross_entropy(out[:, :LEVELS], level.to(dev), label_smoothing=0.1) + \
            COUNT_WEIGHT * F.smooth_l1_loss(out[:, LEVELS], log_count.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step += 1
        budget.tick()
        if state.step % args.eval_every == 0 or budget.done:
            record = tune_accuracy(model, tune_x, tune_y, dev)
            score = record["balanced_accuracy"] + 0.5 * record["accuracy"]
            record.update(step=state.step, minutes=round(state.seconds / 60, 2), loss=round(loss.item(), 4))
            if loop.keep_best(run_dir, model, state, score, config):
                record["best"] = True
            loop.log(run_dir, record)
            model.train()
            budget.pause()
        save_now(model, opt, state, budget)


@torch.no_grad()
def predict(model, x: torch.Tensor, dev, batch: int = 32) -> np.ndarray:
    model.eval()
    outs = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch].to(dev).float().div_(255).contiguous(memory_format=torch.channels_last)
        with loop.autocast(dev):
            outs.append(model(xb).float().cpu())
    return torch.cat(outs).numpy()


def tune_accuracy(model, x, y, dev) -> dict:
    out = predict(model, x, dev)
    pred = out[:, :LEVELS].argmax(1)
    recalls = [float((pred[y == c] == c).mean()) for c in range(LEVELS) if (y == c).any()]
    confusion = np.zeros((LEVELS, LEVELS), int)
    for t, p in zip(y, pred):
        confusion[t, p] += 1
    return {"accuracy": round(float((pred == y).mean()), 4), "balanced_accuracy": round(float(np.mean(recalls)), 4),
            "confusion": confusion.tolist()}


if __name__ == "__main__":
    main()
