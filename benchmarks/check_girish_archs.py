"""Check every architecture of the Girish preset (116 ResNet / MobileNetV2 variants) end to end.

For each architecture and each image size (default 32 and 224 px): build it (seeded), check the parameter
count against the closed form, run a training-mode forward pass under ``FlopCounterMode`` and compare the
FLOPs with ``count_flops`` (the count also covers the batch, so it is divided by it), check the output shape
``(batch, out_dim)`` and finiteness, run backward and check every parameter got a finite gradient.
Prints one line per failure and a summary; exits 1 if anything failed.

    PYTHONPATH=src python benchmarks/check_girish_archs.py [--sizes 32 224] [--batch 2] [--threads 1]
        [--device cpu|cuda] [--channels-last] [--bf16] [--limit N] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="girish")
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    p.add_argument("--limit", type=int, default=None, help="only the first N architectures")
    p.add_argument("--csv", default=None, help="write per-architecture timings and results here")
    args = p.parse_args(argv)

    t_start = time.time()
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import archssl.catalog.archs as A
    from archssl.archs import build

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    specs = A.preset(args.preset)[: args.limit]
    t_list = time.time()
    print(f"{args.preset}: {len(specs)} architectures (resolved in {t_list - t_start:.2f} s incl. imports); "
          f"sizes {args.sizes}, batch {args.batch}, {args.threads} thread(s), device {device}"
          + (", channels_last" if args.channels_last else "") + (", bf16 autocast" if args.bf16 else ""),
          flush=True)

    rows, failures = [], []
    for k, spec in enumerate(specs):
        aid = A.arch_id(spec)
        for size in args.sizes:
            t0 = time.time()
            problems: list[str] = []
            try:
                torch.manual_seed(0)
                model = build(spec).to(device).train()
                n_params = sum(q.numel() for q in model.parameters())
                if n_params != A.count_params(spec):
                    problems.append(f"params {n_params} != count_params {A.count_params(spec)}")
                x = torch.randn(args.batch, 3, size, size, device=device)
                if args.channels_last:
                    model = model.to(memory_format=torch.channels_last)
                    x = x.contiguous(memory_format=torch.channels_last)
                with FlopCounterMode(display=False) as counter, \
                        torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
                    out = model(x)
                flops = counter.get_total_flops() // args.batch
                if flops != A.count_flops(spec, size):
                    problems.append(f"FLOPs {flops} != count_flops {A.count_flops(spec, size)}")
                if tuple(out.shape) != (args.batch, model.out_dim):
                    problems.append(f"output shape {tuple(out.shape)} != {(args.batch, model.out_dim)}")
                if not torch.isfinite(out).all():
                    problems.append("non-finite output")
                out.float().pow(2).mean().backward()
                bad = [n for n, q in model.named_parameters() if q.grad is None or not torch.isfinite(q.grad).all()]
                if bad:
                    problems.append(f"{len(bad)} parameters without finite gradients (first: {bad[0]})")
                if device.type == "cuda":
                    torch.cuda.synchronize()
            except Exception as e:  # report and go on: the summary must cover every architecture
                problems.append(f"{type(e).__name__}: {e}")
                n_params, flops = -1, -1
            dt = time.time() - t0
            rows.append({"index": k, "id": aid, "size": size, "params": n_params, "flops": flops,
                         "seconds": round(dt, 3), "ok": not problems, "problems": "; ".join(problems)})
            if problems:
                failures.append((aid, size, problems))
                print(f"FAIL {aid} @ {size}px: {'; '.join(problems)}", flush=True)
        if (k + 1) % 10 == 0 or k + 1 == len(specs):
            print(f"  {k + 1}/{len(specs)} architectures checked, {time.time() - t_list:.0f} s", flush=True)

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)

    total = time.time() - t_start
    per_size = {s: sum(r["seconds"] for r in rows if r["size"] == s) for s in args.sizes}
    print(f"summary: {len(rows) - len(failures)}/{len(rows)} checks passed "
          f"({len(specs)} architectures x {len(args.sizes)} sizes); failures: {len(failures)}; "
          f"time {total:.1f} s (" + ", ".join(f"{s}px {t:.1f} s" for s, t in per_size.items()) + ")")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
