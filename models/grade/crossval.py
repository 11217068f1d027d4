"""Choose the grade's recipe and training length by cross-validation, then train the shipped model with them.

    python -m models.grade.crossval --runs var/runs/grade-cv [--folds 5] [--steps 1500] [--minutes 6]

The 40 tune photos hold one severe face, too few to choose a checkpoint by (the last choice scored 0.85 on them
and 0.65 on the held-out fifth). Here the ACNE04 training and tune photos are dealt into K folds by
near-duplicate group; each recipe trains K times, and the confusions of the K measured folds at each evaluated
step are pooled, so every choice stands on all 452 photos. The best (recipe, step) by balanced accuracy + half
the accuracy then trains once on all of them (`final/best.pt`). Resumable: finished runs are not repeated. The
held-out fifth is never read.

The folds' predictions at the chosen step are out of fold for every photo, so they also choose the severe
threshold (`crossval.json`, "severe"): the P(severe) from which the image-level grade says severe, so that at
least 95 % of the severe photos are called severe (issue 19), and what that costs in milder photos called
severe. `python -m models.grade.export ... --severe-threshold T` writes it into the file the service loads.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from models.grade import train
from models.grade.network import LEVELS
from pipeline.grade import SEVERE
from pipeline.types import IMAGE_LEVELS

# Issue 19: at most 5 % of severe faces may be told a lower grade, so the threshold below is chosen for this.
SEVERE_RECALL = 0.95

RECIPES = {
    "base": [],
    "slow": ["--lr", "2e-4"],
    "count": ["--count-weight", "1.0"],
}


def pooled(runs: Path, recipe: str, folds: list[int]) -> dict[int, dict]:
    """Step -> accuracy, balanced accuracy and confusion over the given folds' measured photos."""
    by_step: dict[int, list] = {}
    for fold in folds:
        for line in (runs / recipe / f"fold{fold}" / "log.jsonl").read_text().splitlines():
            record = json.loads(line)
            by_step.setdefault(record["step"], []).append(np.array(record["confusion"]))
    out = {}
    for step, confusions in sorted(by_step.items()):
        if len(confusions) != len(folds):
            continue
        c = sum(confusions)
        recalls = [c[i, i] / c[i].sum() for i in range(len(c)) if c[i].sum()]
        acc, bal = float(np.trace(c) / c.sum()), float(np.mean(recalls))
        out[step] = {"accuracy": round(acc, 4), "balanced_accuracy": round(bal, 4),
                     "score": round(bal + 0.5 * acc, 4), "confusion": c.tolist()}
    return out


def out_of_fold(runs: Path, recipe: str, folds: list[int], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Every measured photo's level and level probabilities at `step`, each from the fold run not trained on it."""
    levels, probs = [], []
    for fold in folds:
        for line in (runs / recipe / f"fold{fold}" / "log.jsonl").read_text().splitlines():
            record = json.loads(line)
            if record["step"] == step and "probabilities" in record:
                levels += record["levels"]
                probs += record["probabilities"]
    return np.array(levels, int), np.array(probs, float).reshape(-1, LEVELS)


def severe_threshold(levels: np.ndarray, probs: np.ndarray, recall: float = SEVERE_RECALL) -> dict | None:
    """The highest P(severe) from which the image-level grade says severe (where its likeliest level is lower)
    such that, out of fold, at least `recall` of the severe photos are called severe; with what that costs: the
    share of moderate and of mild photos called severe. None without severe photos."""
    severe = levels == SEVERE
    if not severe.any():
        return None
    likeliest_severe = probs.argmax(1) == SEVERE
    threshold = 0.0
    for t in sorted(set(probs[severe, SEVERE].tolist()), reverse=True):
        if (likeliest_severe | (probs[:, SEVERE] >= t))[severe].mean() >= recall:
            threshold = float(np.floor(t * 1e4) / 1e4)
            break
    called = likeliest_severe | (probs[:, SEVERE] >= threshold)
    return {"threshold": threshold, "recall_target": recall, "photos": int(len(levels)),
            **{f"{name}_called_severe": round(float(called[levels == level].mean()), 4)
               for level, name in enumerate(IMAGE_LEVELS) if (levels == level).any()}}


def finished(run: Path, steps: int) -> bool:
    log = run / "log.jsonl"
    return log.exists() and any(json.loads(line)["step"] >= steps for line in log.read_text().splitlines())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--minutes", type=float, default=60.0,
                    help="no fold starts after these wall minutes (the first always runs); the final run follows")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--severe-recall", type=float, default=SEVERE_RECALL,
                    help="share of severe photos the image-level grade must call severe out of fold")
    args, common = ap.parse_known_args(argv)  # the rest goes to models.grade.train (--pack, --batch, ...)
    recipes = args.recipes.split(",")
    deadline = time.monotonic() + args.minutes * 60
    folds = []
    for fold in range(args.folds):  # whole folds, every recipe in each, so the recipes meet on the same photos
        runs = [args.runs / recipe / f"fold{fold}" for recipe in recipes]
        if folds and time.monotonic() > deadline and not all(finished(run, args.steps) for run in runs):
            break
        for recipe, run in zip(recipes, runs):
            if not finished(run, args.steps):
                train.main(["--run", str(run), "--folds", str(args.folds), "--fold", str(fold),
                            "--steps", str(args.steps), "--save-every", "1e9", *RECIPES[recipe], *common])
        folds.append(fold)
    table = {r: pooled(args.runs, r, folds) for r in recipes}
    recipe, step = max(((r, s) for r in recipes for s in table[r]), key=lambda rs: table[rs[0]][rs[1]]["score"])
    summary = {"folds": folds, "chosen": {"recipe": recipe, "step": step, **table[recipe][step]},
               "severe": severe_threshold(*out_of_fold(args.runs, recipe, folds, step), args.severe_recall),
               "table": {r: {s: {k: v for k, v in m.items() if k != "confusion"} for s, m in t.items()}
                         for r, t in table.items()}}
    (args.runs / "crossval.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary["chosen"]), json.dumps(summary["severe"]), flush=True)
    train.main(["--run", str(args.runs / "final"), "--all", "--steps", str(args.steps), "--stop", str(step),
                *RECIPES[recipe], *common])
    return summary


if __name__ == "__main__":
    main()
