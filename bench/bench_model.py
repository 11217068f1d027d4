"""Student lesion-model throughput: onnxruntime fp32/int8 vs PyTorch eager, and its share of the CPU's matmul peak.

    python bench/bench_model.py [--threads 2] [--seconds 1.5]

Everything is measured in this one run, on this machine, with the same thread count, and printed as ratios.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.preprocess import PATCH_SIZE  # noqa: E402

WEIGHTS = ROOT / "models" / "weights"
BATCHES = (1, 16, 64, 256)


def rate(fn, n_per_call: int, seconds: float) -> float:
    fn()  # warm-up
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and calls >= 3:
            return calls * n_per_call / dt


def matmul_peak(threads: int, seconds: float, n: int = 1024) -> dict[str, float]:
    import torch

    a = np.random.rand(n, n).astype(np.float32)
    b = np.random.rand(n, n).astype(np.float32)
    flops = 2 * n ** 3
    out = {"numpy": rate(lambda: a @ b, flops, seconds) / 1e9}
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    torch.set_num_threads(threads)
    out["torch"] = rate(lambda: ta @ tb, flops, seconds) / 1e9
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "var" / "runs" / "acne-regnet" / "student.pt")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    from models.export import quantize_int8, to_onnx
    from models.regnet import TEACHER, RegNet, complexity, student

    torch.set_num_threads(args.threads)
    if args.checkpoint.exists():
        from models.train import load_model

        model = load_model(args.checkpoint)
    else:
        model = student(16).eval()
    fp32 = WEIGHTS / "acne_regnet_student.onnx"
    int8 = WEIGHTS / "acne_regnet_student.int8.onnx"
    tmp = Path(tempfile.mkdtemp())
    if not fp32.exists():
        fp32 = tmp / "student.onnx"
        to_onnx(model, fp32)
    if not int8.exists():
        int8 = tmp / "student.int8.onnx"
        quantize_int8(fp32, int8, np.random.rand(64, 3, PATCH_SIZE, PATCH_SIZE).astype(np.float32))

    def sess(p: Path):
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        return ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])

    s32, s8 = sess(fp32), sess(int8)
    model = model.eval()
    macs = complexity(model, PATCH_SIZE)["gmacs"] * 1e9
    t_macs = complexity(RegNet(TEACHER), PATCH_SIZE)["gmacs"] * 1e9
    peak = matmul_peak(args.threads, args.seconds)
    best_peak = max(peak.values())
    print(f"threads={args.threads}  fp32 matmul peak: numpy {peak['numpy']:.1f} GFLOP/s, torch {peak['torch']:.1f} GFLOP/s")
    print(f"student {macs / 1e6:.1f} MMACs/patch at {PATCH_SIZE}px; teacher {t_macs / 1e6:.1f} MMACs -> "
          f"teacher/student FLOPs ratio {t_macs / macs:.1f}x at equal input size")
    print(f"{'batch':>5} {'torch/s':>9} {'ort fp32/s':>11} {'ort int8/s':>11} {'ort/torch':>10} {'int8/fp32':>10} "
          f"{'fp32 % peak':>12}")
    for bs in BATCHES:
        x = np.random.rand(bs, 3, PATCH_SIZE, PATCH_SIZE).astype(np.float32)
        xt = torch.from_numpy(x)

        def eager():
            with torch.inference_mode():
                model(xt)

        r_t = rate(eager, bs, args.seconds)
        r_32 = rate(lambda: s32.run(None, {"input": x}), bs, args.seconds)
        r_8 = rate(lambda: s8.run(None, {"input": x}), bs, args.seconds)
        share = r_32 * 2 * macs / 1e9 / best_peak
        print(f"{bs:>5} {r_t:>9.0f} {r_32:>11.0f} {r_8:>11.0f} {r_32 / r_t:>9.2f}x {r_8 / r_32:>9.2f}x {share:>11.1%}")

    # The student's group width was chosen by this comparison (same architecture rule, untrained weights).
    x = np.random.rand(64, 3, PATCH_SIZE, PATCH_SIZE).astype(np.float32)
    rates = {}
    for g in (8, 16):
        path = tmp / f"student_g{g}.onnx"
        m = student(g).eval()
        to_onnx(m, path)
        s = sess(path)
        rates[g] = rate(lambda: s.run(None, {"input": x}), 64, args.seconds)
        c = complexity(m, PATCH_SIZE)
        print(f"group width {g:>2}: {c['params_m']:.2f} M params, {c['gmacs'] * 1e3:.1f} MMACs, "
              f"ort fp32 batch 64: {rates[g]:.0f} patches/s")
    print(f"group width 16 vs 8 speed: {rates[16] / rates[8]:.2f}x")


if __name__ == "__main__":
    main()
