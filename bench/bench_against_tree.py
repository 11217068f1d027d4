"""Whole-assessment seconds of this checkout against another checkout of the project (an earlier commit, say
the RegNet detector's d0ca62d that issue 18's speed target is measured against), on the same photo, in
interleaved rounds: each round times both trees one after the other, each in its own subprocess with its own
code and models, so a busy or throttled CPU slows both alike and the per-round ratio stays fair.

    git worktree add ../old-tree d0ca62d
    .venv/bin/python bench/bench_against_tree.py ../old-tree [--rounds 5] [--repeat 7] [--size 512] [--threads 2]

The other tree runs with this checkout's virtual environment; put it beside this one, so that it finds
../shared/data as this one does. Prints each round's medians, the per-round ratios and their median.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run inside the other tree: its own pipeline package first on the path, the photo made by this tree's bench.
_CHILD = """
import json, os, statistics, sys, time
tree, size, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, tree)
os.chdir(tree)
from pipeline.assess import assess, prepare
sys.path.insert(0, {bench!r})
from bench_pipeline import _photo_bytes
data = _photo_bytes(size)
first = assess([prepare(data)])
if not first.ok:
    print(json.dumps({{"refused": [r.code for r in first.quality.reasons]}}))
    raise SystemExit(0)
seconds, stages = [], []
for _ in range(repeat):
    start = time.perf_counter()
    result = assess([prepare(data)])
    seconds.append(time.perf_counter() - start)
    stages.append(result.timings)
print(json.dumps({{"seconds": statistics.median(seconds),
                  "stages": {{k: statistics.median(s.get(k, 0.0) for s in stages) for k in stages[0]}}}}))
"""


def time_tree(tree: Path, size: str, repeat: int, threads: int) -> dict:
    code = _CHILD.format(bench=str(REPO / "bench"))
    env = {**os.environ, "ACNEBOT_MODEL_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", code, str(tree), size, str(repeat)], capture_output=True,
                         text=True, cwd=tree, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{tree} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _stages(row: dict) -> str:
    return ", ".join(f"{k} {v * 1000:.0f}" for k, v in row["stages"].items() if v >= 0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("other", type=Path, help="another checkout of this project")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7, help="assessments per tree and round (median kept)")
    parser.add_argument("--size", choices=("512", "12MP"), default="512")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    other = args.other.resolve()
    ratios = []
    for round_ in range(1, args.rounds + 1):
        ours = time_tree(REPO, args.size, args.repeat, args.threads)
        theirs = time_tree(other, args.size, args.repeat, args.threads)
        if "refused" in ours or "refused" in theirs:
            raise SystemExit(f"the {args.size} photo was refused: this tree {ours.get('refused')}, "
                             f"the other {theirs.get('refused')}")
        ratios.append(ours["seconds"] / theirs["seconds"])
        print(f"round {round_}: this tree {ours['seconds']:.3f} s [{_stages(ours)} ms], "
              f"{other.name} {theirs['seconds']:.3f} s [{_stages(theirs)} ms], ratio {ratios[-1]:.2f}", flush=True)
    print(f"{args.size} photo, {args.threads} threads, median of {args.repeat} per round: this tree / {other.name} "
          f"= {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
