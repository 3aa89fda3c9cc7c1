"""Benchmark: a CPU training step with strided 1x1 convolutions computed on sliced inputs
(:func:`archssl.utils.slice_strided_pointwise_convs`, what training on a CPU does) against the plain strided
convolutions (oneDNN's strided kernel, which aborts on AVX2 CPUs for few channels).
Target: no slower beyond noise.

Setting: ResNet basic [1,1,1,1] (cifar stem) at widths 4 and 16, the Revisiting patch batch (576 images of
16 px) and a SimCLR-like batch (256 images of 32 px), fp32 and bf16 autocast, the contiguous format, SGD, one
thread; median of ``--repeats`` steps after 3 warm-up steps. The two forms are also checked to give the same
loss and gradients (the largest relative difference is printed: 0 in fp32 on the machines seen;
bf16 autocast may pick different kernels for the two forms, so there it can differ in the last bits). Only on
this machine's own ISA: under ``ONEDNN_MAX_CPU_ISA=AVX2`` the plain form would abort.

    PYTHONPATH=src .venv/bin/python benchmarks/strided_pointwise.py --record
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loader_throughput import RESULTS, machine, machine_line  # noqa: E402

from archssl.archs import build  # noqa: E402
from archssl.runtime import slice_strided_pointwise_convs  # noqa: E402


def _loss(model, x, amp: bool):
    with torch.autocast("cpu", torch.bfloat16, enabled=amp):
        out = model(x)
    out = out if torch.is_tensor(out) else out[-1]
    return out.float().pow(2).mean()


def step_ms(model, x, amp: bool, repeats: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    times = []
    for i in range(3 + repeats):
        t = time.perf_counter()
        _loss(model, x, amp).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 3:
            times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def gradient_difference(plain, sliced, x, amp: bool) -> float:
    """The largest difference between the two forms' loss or any gradient, relative to that tensor's largest
    magnitude (0.0: bit-identical)."""
    a, b = _loss(plain, x, amp), _loss(sliced, x, amp)
    a.backward()
    b.backward()
    pairs = [(a.detach(), b.detach())] + [(p.grad, q.grad) for p, q in zip(plain.parameters(), sliced.parameters())]
    worst = max(float((u - v).abs().max() / u.abs().max().clamp_min(1e-30)) for u, v in pairs)
    plain.zero_grad(set_to_none=True)
    sliced.zero_grad(set_to_none=True)
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--widths", type=int, nargs="+", default=[4, 16])
    ap.add_argument("--record", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    m = machine()
    rows, worst = [], 0.0
    for width in args.widths:
        spec = {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": width, "stem": "cifar"}
        for n, size in ((576, 16), (256, 32)):
            for amp in (False, True):
                torch.manual_seed(0)
                plain = build(spec)
                sliced = copy.deepcopy(plain)
                names = slice_strided_pointwise_convs(sliced, "cpu")
                x = torch.randn(n, 3, size, size)
                diff = gradient_difference(plain, sliced, x, amp)
                t_plain = step_ms(plain, x, amp, args.repeats)
                t_sliced = step_ms(sliced, x, amp, args.repeats)
                ratio = t_sliced / t_plain
                worst = max(worst, ratio)
                row = (f"| {width} | {n}x3x{size}x{size} | {'bf16' if amp else 'fp32'} | {len(names)} | "
                       f"{t_plain:.1f} | {t_sliced:.1f} | {ratio:.2f} | {diff:.1e} |")
                print(row, flush=True)
                rows.append(row)
    print(f"largest sliced / plain step time: {worst:.2f}")
    if args.record:
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        text = (f"\n## Strided 1x1 convolutions on sliced inputs vs oneDNN's strided kernel, CPU training ({stamp})\n\n"
                f"{machine_line(m, f', torch {torch.__version__}, 1 thread')}\n\n"
                "ResNet basic [1,1,1,1] (cifar stem), contiguous format, SGD step (forward, backward, update), "
                f"median of {args.repeats} after 3 warm-up steps.\n\n"
                "| width | batch | precision | sliced convs | plain (ms) | sliced (ms) | sliced / plain | "
                "largest relative difference, loss and gradients |\n|---:|---|---|---:|---:|---:|---:|---|\n" + "\n".join(rows) +
                f"\n\nLargest ratio sliced / plain: **{worst:.2f}** (target: about 1, no slower beyond noise). A relative "
                "difference of 0 is bit-identical; bf16 autocast runs different kernels for the two forms, so "
                "its results may differ in the last bits.\n\n"
                "Re-run: `PYTHONPATH=src .venv/bin/python benchmarks/strided_pointwise.py --record`\n")
        with open(RESULTS, "a") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
