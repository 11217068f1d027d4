"""Train the LRegNet teacher, then distil it into the Acne-RegNet student (paper Algorithm 1, eq. 3-5).

    python -m models.train --run-dir var/runs/acne-regnet --teacher-epochs 6 --student-epochs 10 --threads 2 \
        --export models/weights/acne_regnet_student.onnx

Each epoch draws --samples-per-epoch patches (classes in proportion to sqrt(count)) from the face photos'
train split and the close-up training groups; the face photos' valid split and the held-out close-up groups
are scored after every epoch. A checkpoint per phase is written after every epoch; --resume continues from it.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models import splits
from models.augment import augment_batch
from models.losses import feature_kd, focal_loss
from models.metrics import report
# load_model lives with the network, so that models.export loads a checkpoint without importing training
from models.regnet import RegNet, TEACHER, complexity, load_model, save_model, student_spec
from models.sources import REPO_ROOT, data_dir
from pipeline.preprocess import PATCH_SIZE
from pipeline.types import CLASSES, REGIONS

MEMORY_FORMAT = torch.channels_last  # ~10% faster convolutions on CPU (measured); same numbers


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="acnebot-train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="shared data folder (default $ACNEBOT_DATA_DIR_SHARED or ../shared/data)")
    ap.add_argument("--run-dir", default=str(REPO_ROOT / "var" / "runs" / "acne-regnet"))
    ap.add_argument("--teacher-epochs", type=int, default=6)
    ap.add_argument("--student-epochs", type=int, default=10)
    ap.add_argument("--samples-per-epoch", type=int, default=8192)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                    help="sgd = the paper's momentum SGD; adamw is indifferent to focal loss's small gradients")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3 adamw, 0.05 sgd; "
                    "linear warm-up then cosine decay)")
    ap.add_argument("--weight-decay", type=float, default=None, help="default 0.05 adamw, 5e-5 sgd")
    ap.add_argument("--group-width", type=int, default=16, choices=(8, 16), help="student group width")
    ap.add_argument("--loss", choices=("focal", "ce"), default="focal")
    ap.add_argument("--no-region-weights", action="store_true")
    ap.add_argument("--no-kd", action="store_true", help="train the student alone (ablation); skips the teacher")
    ap.add_argument("--kd-weight", type=float, default=1.0, help="lambda_1 of eq. 5 (lambda_2 = 1)")
    ap.add_argument("--kd-temperature", type=float, default=1.0)
    ap.add_argument("--limit-photos", type=int, default=None, help="use only the first N face photos per split")
    ap.add_argument("--limit-closeups", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--export", default=None, metavar="ONNX", help="export the student here when done")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def predict(model: nn.Module, x: np.ndarray, device: torch.device, batch: int = 256) -> np.ndarray:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch].transpose(0, 3, 1, 2), np.float32) / 255.0)
            out.append(model(xb.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


def evaluate_sets(model: nn.Module, held: dict, device: torch.device) -> dict:
    res = {}
    ys, ps = [], []
    for name, ps_set in held.items():
        if not len(ps_set):
            continue
        pred = predict(model, splits.held_out_inputs(ps_set), device).argmax(1)
        res[name] = report(ps_set.labels, pred)
        ys.append(ps_set.labels)
        ps.append(pred)
    if ys:
        res["all"] = report(np.concatenate(ys), np.concatenate(ps))
    return res


def brief(metrics: dict) -> dict:
    return {k: {"accuracy": round(v["accuracy"], 4), "acne_macro_f1": round(v["acne_macro_f1"], 4)}
            for k, v in metrics.items()}


def make_optimizer(params, args, steps: int):
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]  # BatchNorm and biases
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "sgd":
        opt = torch.optim.SGD(groups, lr=args.lr, momentum=0.9, nesterov=True)
    else:
        opt = torch.optim.AdamW(groups, lr=args.lr)
    warm = max(1, steps // 30)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, steps - warm))))
    return opt, sched


def train_phase(name: str, model: RegNet, epochs: int, pool, held, args, device, run_dir: Path,
                teacher: RegNet | None = None) -> dict:
    """One phase (teacher, or student with/without distillation); resumable per epoch."""
    ckpt = run_dir / f"ckpt_{name}.pt"
    weights = _sample_region_weights(pool, args)
    probs = splits.sample_weights(pool)
    steps_per_epoch = args.samples_per_epoch // args.batch_size
    proj = nn.Linear(model.feature_dim, teacher.feature_dim).to(device) if teacher is not None else None
    params = list(model.parameters()) + (list(proj.parameters()) if proj is not None else [])
    opt, sched = make_optimizer(params, args, steps_per_epoch * max(epochs, 1))
    state = {"epoch": 0, "history": [], "seconds": 0.0}
    if args.resume and ckpt.exists():
        saved = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        if proj is not None:
            proj.load_state_dict(saved["proj"])
        state = saved["state"]
        print(f"[{name}] resumed after epoch {state['epoch']}")
    model.to(memory_format=MEMORY_FORMAT)
    if teacher is not None:
        teacher.eval().to(memory_format=MEMORY_FORMAT)
    for epoch in range(state["epoch"], epochs):
        t0 = time.time()
        model.train()
        rng = np.random.default_rng([args.seed, hash_name(name), epoch])
        torch.manual_seed(args.seed * 1000 + hash_name(name) + epoch)
        idx = rng.choice(len(pool), steps_per_epoch * args.batch_size, p=probs)
        sums = {"loss": 0.0, "cls": 0.0, "kd": 0.0}
        bar = tqdm(range(steps_per_epoch), desc=f"{name} {epoch + 1}/{epochs}", disable=args.no_progress,
                   mininterval=2.0)
        for step in bar:
            b = idx[step * args.batch_size:(step + 1) * args.batch_size]
            x = torch.from_numpy(augment_batch(pool.images(b), rng)).to(device, memory_format=MEMORY_FORMAT)
            y = torch.from_numpy(pool.labels[b]).to(device)
            w = torch.from_numpy(weights[b]).to(device)
            feats = model.features(x)
            logits = model.fc(model.dropout(feats))
            cls = focal_loss(logits, y, w) if args.loss == "focal" else (nn.functional.cross_entropy(
                logits, y, reduction="none") * w).mean()
            loss = cls
            kd = torch.zeros(())
            if teacher is not None:
                with torch.no_grad():
                    t_feats = teacher.features(x)
                kd = feature_kd(proj(feats), t_feats, args.kd_temperature)
                loss = args.kd_weight * kd + cls
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sums["loss"] += float(loss.detach())
            sums["cls"] += float(cls.detach())
            sums["kd"] += float(kd.detach())
            if step % 10 == 0:
                bar.set_postfix(loss=f"{sums['loss'] / (step + 1):.4f}")
        metrics = evaluate_sets(model, held, device)
        seconds = time.time() - t0
        state["seconds"] += seconds
        entry = {"epoch": epoch + 1, "seconds": round(seconds, 1), "lr_end": sched.get_last_lr()[0],
                 **{k: round(v / steps_per_epoch, 5) for k, v in sums.items()}, "val": brief(metrics)}
        state["history"].append(entry)
        state["epoch"] = epoch + 1
        print(f"[{name}] {json.dumps(entry)}", flush=True)
        saved = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "state": state}
        if proj is not None:
            saved["proj"] = proj.state_dict()
        tmp = ckpt.with_suffix(".tmp")
        torch.save(saved, tmp)
        tmp.replace(ckpt)
    return state


BN_RECALIBRATION_PATCHES = 2048


def recalibrate_bn(model: nn.Module, pool, args, device) -> None:
    """Recompute BatchNorm statistics over un-augmented training patches with the final weights.

    The running averages lag behind the weights and mix in augmentation-only statistics (colour jitter,
    rolling); measured on the first run, eval-mode predictions on held-out faces collapsed while batch
    statistics gave sensible ones.
    """
    from models.patchset import centre

    rng = np.random.default_rng([args.seed, 7])
    idx = rng.choice(len(pool), min(BN_RECALIBRATION_PATCHES, len(pool)), replace=False, p=splits.sample_weights(pool))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the recalibration batches
    model.train()
    with torch.no_grad():
        for i in range(0, len(idx), 128):
            imgs = np.stack([centre(im[None])[0] for im in pool.images(idx[i:i + 128])])
            x = torch.from_numpy(np.ascontiguousarray(imgs.transpose(0, 3, 1, 2), np.float32) / 255.0)
            model(x.to(device, memory_format=MEMORY_FORMAT))
    for bn in bns:
        bn.momentum = 0.1
    model.eval()


def hash_name(name: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(name))


def _sample_region_weights(pool, args) -> np.ndarray:
    if args.no_region_weights:
        return np.ones(len(pool), np.float32)
    rw = splits.region_weights(pool)
    table = np.array([rw[r] for r in REGIONS] + [1.0], np.float32)  # index -1 (no region) -> 1.0
    return table[pool.regions.astype(np.int64)]


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    if args.lr is None:
        args.lr = 2e-3 if args.optimizer == "adamw" else 0.05
    if args.weight_decay is None:
        args.weight_decay = 0.05 if args.optimizer == "adamw" else 5e-5
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seed_everything(args.seed)
    run_dir = Path(args.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    root = data_dir(args.data)
    started = time.time()
    pool, held = splits.load(root, splits.Limits(args.limit_photos, args.limit_closeups), args.seed)
    data_seconds = time.time() - started
    print(f"train pool {len(pool)} patches, class counts {dict(zip(CLASSES, pool.class_counts().tolist()))}; "
          f"held out {{{', '.join(f'{k}: {len(v)}' for k, v in held.items())}}}; device {device}", flush=True)

    summary: dict = {"args": vars(args), "device": str(device), "torch_threads": torch.get_num_threads(),
                     "input_size": PATCH_SIZE, "classes": list(CLASSES),
                     "train_class_counts": dict(zip(CLASSES, pool.class_counts().tolist())),
                     "held_out_sizes": {k: len(v) for k, v in held.items()},
                     "region_weights": None if args.no_region_weights else splits.region_weights(pool),
                     "data_seconds": round(data_seconds, 1)}
    teacher = None
    if not args.no_kd:
        teacher = RegNet(TEACHER).to(device)
        done = run_dir / "teacher.pt"
        if args.resume and done.exists():
            teacher = load_model(done, device).to(device)
            summary["teacher"] = json.loads((run_dir / "teacher_state.json").read_text())
        else:
            state = train_phase("teacher", teacher, args.teacher_epochs, pool, held, args, device, run_dir)
            state["val_before_bn_recalibration"] = brief(evaluate_sets(teacher, held, device))
            recalibrate_bn(teacher, pool, args, device)
            save_model(teacher, done)
            (run_dir / "teacher_state.json").write_text(json.dumps(state))
            summary["teacher"] = state
        summary["teacher"]["final_val"] = evaluate_sets(teacher, held, device)
        for p in teacher.parameters():
            p.requires_grad_(False)
    student = RegNet(student_spec(args.group_width)).to(device)
    summary["student"] = train_phase("student_kd" if teacher is not None else "student", student,
                                     args.student_epochs, pool, held, args, device, run_dir, teacher)
    summary["student"]["val_before_bn_recalibration"] = brief(evaluate_sets(student, held, device))
    recalibrate_bn(student, pool, args, device)
    final = evaluate_sets(student, held, device)
    summary["student"]["final_val"] = final
    save_model(student.cpu(), run_dir / "student.pt")
    # 112/224 px figures for the model card: python -m models.regnet
    summary["complexity"] = {"student": complexity(student, PATCH_SIZE),
                             "teacher": complexity(RegNet(TEACHER), PATCH_SIZE)}
    summary["total_seconds"] = round(time.time() - started, 1)
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"student held-out: {json.dumps(brief(final))}; {summary['total_seconds']} s; summary in "
          f"{run_dir / 'summary.json'}", flush=True)
    if args.export:
        from models.export import export

        export(run_dir / "student.pt", Path(args.export), data=args.data, limit_photos=args.limit_photos,
               limit_closeups=args.limit_closeups)
    return summary


if __name__ == "__main__":
    main()
