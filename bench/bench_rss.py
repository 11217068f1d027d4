"""Peak memory of a replica's pipeline, side by side for two (or more) virtualenvs, on this machine, now.

For each venv given, a child process of that venv's python, with this work tree's code first on sys.path (so
only the installed packages differ between the columns), does what an assessment worker does: loads the models
(FaceMesh, the lesion detector and type classifier in onnxruntime), then runs N assessments one after another
on real photos from ../shared/data/acne-lesions/valid/images, each as the service does it: photo check
(prepare), assess, the annotated JPEG (OpenCV) and a trend chart (matplotlib). The figure is the child's peak
RSS since it started its python (VmHWM; not getrusage's ru_maxrss, which keeps the RSS of the process it was forked
from, all of a test session's, say), with its peak after loading and after each assessment, and its peak private
memory (RssAnon, sampled every 5 ms).

Peak RSS counts the pages of the libraries' files that the process touched, and how many of those the kernel maps
depends on what the page cache holds at the time (fault-around): the same child can read 10-20 MB more after its
venv's files were just written or read. RssAnon (heap, arrays, model weights in memory) does not move with it; to
compare RSS fairly, run both venvs in one invocation after the machine has settled, and twice.

--serve also starts `acnebot serve` (the local web chat on SQLite in a temp dir, ASSESSMENT_WORKERS=1) from each
venv, waits until /healthz answers, and reports the RSS of the chat process and of its worker processes
(VmRSS and VmHWM from /proc): the replica's footprint with nothing to do.

    .venv/bin/python bench/bench_rss.py /tmp/venv-old .venv [--photos 10] [--megapixels 12] [--serve]
    .venv/bin/python bench/bench_rss.py .venv --code . ../old-tree --megapixels 12   # two code trees, one venv

The target (issue 15): a replica under 400 MB after 10 assessments.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "acne-lesions" / "valid" / "images"
SAMPLE = REPO / "pipeline" / "samples" / "astronaut.jpg"

_CHILD = r"""
import json, sys, time
from datetime import datetime, timedelta
sys.path.insert(0, sys.argv[1])
paths = sys.argv[2:]

def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0

def rss_mb():
    return status_mb("VmHWM")

def anon_mb():
    return status_mb("RssAnon")

peak_anon = [0.0]
def sample():  # the largest private (anonymous) RSS seen, every 5 ms
    while True:
        peak_anon[0] = max(peak_anon[0], anon_mb())
        time.sleep(0.005)
import threading
threading.Thread(target=sample, daemon=True).start()

start = time.perf_counter()
from pipeline.assess import assess, load_models, prepare
from pipeline.render import annotate, trend_chart
from pipeline.report import assessment_result
load_models()
steps = [{"step": "models loaded", "max_rss_mb": rss_mb(), "anon_mb": anon_mb(), "s": time.perf_counter() - start}]
history = []
for i, path in enumerate(paths):
    t = time.perf_counter()
    prepared = prepare(open(path, "rb").read())
    result = assess([prepared])
    out = assessment_result(result)
    if result.ok:
        annotate(prepared.photo.pixels, prepared.view, list(result.lesions))
        history.append((datetime(2026, 1, 1) + timedelta(days=7 * i), out.score))
        trend_chart(history)
    steps.append({"step": f"assessment {i + 1}", "ok": result.ok, "grade": out.grade,
                  "max_rss_mb": rss_mb(), "anon_mb": anon_mb(), "s": time.perf_counter() - t})
mods = sorted(m for m in ("jax", "jaxlib", "scipy", "sentencepiece", "sounddevice", "torch") if m in sys.modules)
print(json.dumps({"steps": steps, "peak_rss_mb": rss_mb(), "peak_anon_mb": max(peak_anon[0], anon_mb()),
                  "unused_modules_loaded": mods}))
"""


def photo_paths(count: int, megapixels: float, folder: Path) -> list[str]:
    """The photos the children assess; with `megapixels`, phone-sized copies (as bench_pipeline.py makes them)
    written to `folder` here, so that making them is not counted in a child's memory."""
    if PHOTOS.is_dir():
        paths = sorted(PHOTOS.glob("*.jpg"))[:count]
    else:
        print(f"bench_rss: {PHOTOS} not found: the bundled sample photo {count} times", file=sys.stderr)
        paths = [SAMPLE] * count
    if not megapixels:
        return [str(p) for p in paths]
    from PIL import Image

    out = []
    for i, path in enumerate(paths):
        image = Image.open(path).convert("RGB")
        scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
        scaled = folder / f"{i}.jpg"
        image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC).save(scaled, "JPEG",
                                                                                                   quality=92)
        out.append(str(scaled))
    return out


def pipeline_rss(venv: Path, paths: list[str], code: Path = REPO) -> dict:
    """Runs the child in `venv` on the pipeline in `code`; its own report (module docstring)."""
    started = time.perf_counter()
    child = subprocess.run([str(venv / "bin" / "python"), "-I", "-c", _CHILD, str(code), *paths],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tempfile.gettempdir())
    if child.returncode != 0:
        raise SystemExit(f"bench_rss: the pipeline child in {venv} exited {child.returncode}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    report["wall_s"] = time.perf_counter() - started
    return report


def _proc_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def serve_rss(venv: Path, settle_s: float = 5.0, limit_s: float = 120.0) -> dict:
    """`acnebot serve` from `venv` (this work tree's code), idle: RSS of the chat process and its workers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ACNEBOT_", "TELEGRAM_", "WECHAT_"))}
        env.update(ACNEBOT_DATA_DIR=data, ASSESSMENT_WORKERS="1", PYTHONPATH=str(REPO), HOST="127.0.0.1")
        code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.Popen([str(venv / "bin" / "python"), "-c", code, "serve", "--port", str(port)], env=env,
                                cwd=data, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + limit_s
            while True:
                if proc.poll() is not None:
                    return {"error": f"serve exited {proc.returncode}: {proc.stderr.read()[-500:]}"}
                try:
                    if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    return {"error": f"/healthz did not answer in {limit_s:.0f} s"}
                time.sleep(0.5)
            time.sleep(settle_s)  # let the workers load their models
            workers = _children(proc.pid)
            return {"chat_rss_mb": _proc_kb(proc.pid, "VmRSS") / 1024,
                    "chat_hwm_mb": _proc_kb(proc.pid, "VmHWM") / 1024,
                    "workers": [{"rss_mb": _proc_kb(w, "VmRSS") / 1024, "hwm_mb": _proc_kb(w, "VmHWM") / 1024}
                                for w in workers]}
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def venv_mb(venv: Path) -> float:
    total = 0
    for root, _, files in os.walk(venv):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                total += os.lstat(path).st_blocks * 512
    return total / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Peak RSS of the pipeline (and idle serve) per virtualenv.")
    parser.add_argument("venvs", nargs="+", type=Path, help="virtualenv folders, e.g. /tmp/venv-old .venv")
    parser.add_argument("--photos", type=int, default=10, help="assessments per child (default 10)")
    parser.add_argument("--megapixels", type=float, default=0,
                        help="scale each photo to this size first (12: a phone photo); default: as they are")
    parser.add_argument("--code", nargs="+", type=Path, default=[REPO],
                        help="pipeline code trees to run in each venv, side by side (default: this one), e.g. "
                             "a worktree of the commit before a change")
    parser.add_argument("--serve", action="store_true", help="also measure an idle `acnebot serve` per venv")
    parser.add_argument("--json", action="store_true", help="print the raw reports as JSON too")
    args = parser.parse_args(argv)

    reports = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = photo_paths(args.photos, args.megapixels, Path(folder))
        for venv in args.venvs:
            for code in (c.resolve() for c in args.code):
                name = str(venv) if code == REPO else f"{venv} + {code}"
                print(f"bench_rss: {name} ...", file=sys.stderr)
                reports[name] = {"venv_mb": venv_mb(venv), "pipeline": pipeline_rss(venv, paths, code)}
                if args.serve and code == REPO:
                    reports[name]["serve"] = serve_rss(venv)

    names = list(reports)
    width = max(24, *(len(n) + 2 for n in names))
    size = f"{args.megapixels:g} MP" if args.megapixels else "as stored"
    print(f"\n{args.photos} assessments in one process, photos {size} ({PHOTOS if PHOTOS.is_dir() else SAMPLE})")
    print(f"{'':32}" + "".join(f"{n:>{width}}" for n in names))
    rows = [("venv size (MB)", lambda r: r["venv_mb"]),
            ("RSS after loading models (MB)", lambda r: r["pipeline"]["steps"][0]["max_rss_mb"]),
            (f"peak RSS, {args.photos} assessments (MB)", lambda r: r["pipeline"]["peak_rss_mb"]),
            ("peak private (RssAnon) (MB)", lambda r: r["pipeline"]["peak_anon_mb"]),
            ("seconds, all assessments", lambda r: sum(s["s"] for s in r["pipeline"]["steps"][1:]))]
    for label, get in rows:
        print(f"{label:32}" + "".join(f"{get(reports[n]):>{width}.0f}" for n in names))
    print(f"{'assessments graded':32}" + "".join(
        f"{sum(1 for s in reports[n]['pipeline']['steps'][1:] if s.get('grade')):>{width}}" for n in names))
    print(f"{'unused modules loaded':32}" + "".join(
        f"{','.join(reports[n]['pipeline']['unused_modules_loaded']) or '-':>{width}}" for n in names))
    if args.serve:
        def serve_cell(r, key):
            s = r.get("serve")
            if s is None:
                return "-"
            if "error" in s:
                return "error"
            if key == "chat":
                return f"{s['chat_rss_mb']:.0f}"
            return "+".join(f"{w['rss_mb']:.0f}" for w in s["workers"]) or "-"
        for label, key in (("serve idle: chat RSS (MB)", "chat"), ("serve idle: workers' RSS (MB)", "workers")):
            print(f"{label:32}" + "".join(f"{serve_cell(reports[n], key):>{width}}" for n in names))
        for n in names:
            if "error" in reports[n].get("serve", {}):
                print(f"serve in {n}: {reports[n]['serve']['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
