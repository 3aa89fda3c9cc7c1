"""Benchmark: time of a ProxylessNAS supernet training step (weight step, architecture step) against one
stand-alone network of the same genotype, SimCLR, same batch, in one run.

Setting: the ProxylessNAS space (``archssl.catalog.nas.PROXYLESS_SPACE``; ``--space`` overrides its fields, e.g.
``'{"stem": "small"}'``) at ``--image-size`` px, SimCLR (NT-Xent 0.5, head mlp 512-128), the SimCLR
augmentations on the device (``archssl.train.augment.ViewMaker``), the search's weight optimiser (SGD,
Nesterov momentum 0.9, weight decay 4e-5), channels_last, ``precision: auto`` (fp32 on CPU for this depthwise
family, bf16 on CUDA). One genotype G is drawn once from the initial distribution (``--seed``); the stand-alone
network is ``archssl.archs.build(G)``. Timed, one of each per round (interleaved, so machine-load drift hits
all alike), after ``--warmup`` untimed rounds:

- stand-alone step on G: augment 2 views, forward, NT-Xent, backward, optimiser step;
- supernet weight step with the paths fixed to G (the same arithmetic plus the supernet's dispatch);
- supernet weight step with paths sampled from softmax(alpha) as in the search (other networks, other sizes);
- supernet architecture step (``archssl.nas.search.arch_step``): pairs sampled per block, both ops run, the
  weights frozen, Adam on the logits, pair rescaling.

Medians over ``--steps`` rounds; the ratios are to the stand-alone step. The last line printed is the weight
step (G) / stand-alone ratio and the architecture step / stand-alone ratio. ``--record`` appends the figures to
``benchmarks/RESULTS.md``.

    PYTHONPATH=src .venv/bin/python benchmarks/nas_step.py --image-size 32 --batch 64 --threads 1 --record
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).parent))

from pretrain_throughput import cpu_model  # noqa: E402

HEAD = {"kind": "mlp", "hidden": 512, "out": 128}
AUG = {"crop_scale": [0.2, 1.0], "jitter_strength": 0.5, "jitter_p": 0.8, "grayscale_p": 0.2, "blur_p": 0.0}
OPT = {"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 4e-5, "lr": 0.025}


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, max(1, size // 4), max(1, size // 4), generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="timed rounds (one step of each kind per round)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1, a shared machine)")
    ap.add_argument("--space", type=json.loads, default={}, help="space overrides as JSON (default: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)

    from archssl.archs import build
    from archssl.catalog.archs import arch_id, count_flops, count_params
    from archssl.catalog.nas import build_space
    from archssl.catalog import METHODS
    from archssl.nas.search import arch_step
    from archssl.nas.supernet import SuperNet, set_paths
    from archssl.train.augment import AugmentConfig, ViewMaker
    from archssl.train.loop import autocast_dtype
    from archssl.train.optim import build_optimizer

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    load0 = os.getloadavg()
    print(f"nproc {os.cpu_count()}, CPU {cpu_model()}, torch threads {torch.get_num_threads()}, device {dev}, "
          f"load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    space = build_space(a.space, image_size=a.image_size)
    torch.manual_seed(a.seed)
    net = SuperNet(space)
    g_paths = torch.Generator().manual_seed(a.seed)
    genotype_paths = net.sample_paths(g_paths)
    choices = [c for c, _ in genotype_paths]
    spec = space.spec(choices)
    supernet = METHODS.get("simclr")(net, {"temperature": 0.5, "head": HEAD}).to(dev)
    torch.manual_seed(a.seed)
    standalone = METHODS.get("simclr")(build(spec), {"temperature": 0.5, "head": HEAD}).to(dev)
    fmt = torch.channels_last
    supernet = supernet.to(memory_format=fmt)
    standalone = standalone.to(memory_format=fmt)
    amp = autocast_dtype("auto", dev, model=standalone)
    arch = net.arch_parameters()
    arch_ids = {id(p) for p in arch}
    weights = [p for p in supernet.parameters() if p.requires_grad and id(p) not in arch_ids]
    w_opt = build_optimizer(weights, OPT, a.batch)
    s_opt = build_optimizer([p for p in standalone.parameters() if p.requires_grad], OPT, a.batch)
    a_opt = torch.optim.Adam(arch, lr=1e-3, betas=(0.0, 0.999), eps=1e-8)
    aug = AugmentConfig.from_dict(AUG)
    view = ViewMaker(aug, a.image_size, torch.Generator().manual_seed(1), fmt)
    batch = images(a.batch, a.image_size).to(dev)
    supernet.train()
    standalone.train()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def weight_step(model, opt):
        with torch.autocast(device_type=dev.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            loss, _ = model.training_step(batch, view)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.after_step()

    def st_step():
        weight_step(standalone, s_opt)

    def sn_fixed():
        set_paths(supernet, genotype_paths)
        weight_step(supernet, w_opt)

    def sn_sampled():
        set_paths(supernet, net.sample_paths(g_paths))
        weight_step(supernet, w_opt)

    def sn_arch():
        arch_step(supernet, net, a_opt, weights, batch, view, {}, None, g_paths, dev, amp)

    kinds = {"standalone": st_step, "weight_fixed": sn_fixed, "weight_sampled": sn_sampled, "arch": sn_arch}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(a.warmup + a.steps):
        for k, fn in kinds.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if r >= a.warmup:
                times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    ratio = {k: med[k] / med["standalone"] for k in med}
    load1 = os.getloadavg()
    labels = {
        "standalone": "stand-alone `build(G)`, SimCLR step",
        "weight_fixed": "supernet weight step, paths fixed to G",
        "weight_sampled": "supernet weight step, paths sampled from softmax(alpha)",
        "arch": "supernet architecture step (two mode: pairs, weights frozen, Adam)",
    }
    n_super = sum(p.numel() for p in net.weight_parameters())
    print(f"genotype G {arch_id(spec)}: {count_params(spec)} params, {count_flops(spec, a.image_size)} FLOPs at "
          f"{a.image_size} px; {space.describe(choices)}")
    print(f"supernet: {n_super} weight parameters over {len(space.slots)} searchable blocks")
    for k in kinds:
        print(f"{labels[k]}: median {med[k]:.1f} ms ({ratio[k]:.2f}x stand-alone)")
    if a.record:
        date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        lines = [f"\n## ProxylessNAS supernet step vs stand-alone network, SimCLR ({date})\n",
                 f"Machine: nproc {os.cpu_count()}, CPU {cpu_model()}, GPU {gpu}; torch {torch.__version__}, "
                 f"{torch.get_num_threads()} threads, device {dev}; load average before {load0[0]:.2f} {load0[1]:.2f} "
                 f"{load0[2]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (shared machine: noisy).\n",
                 f"Setting: ProxylessNAS space (overrides `{json.dumps(a.space)}`), {a.image_size} px, batch {a.batch} "
                 f"(2 views each), SimCLR head mlp 512-128, SGD Nesterov, channels_last, precision auto "
                 f"(= {'bf16' if amp is not None else 'fp32'} here); genotype G `{arch_id(spec)}` "
                 f"({count_params(spec)} params, {count_flops(spec, a.image_size)} FLOPs; "
                 f"`{space.describe(choices)}`), "
                 f"supernet {n_super} weight parameters; median of {a.steps} interleaved rounds after {a.warmup} "
                 f"warm-up round(s).\n",
                 "| step | median ms | / stand-alone |", "|---|---:|---:|"]
        lines += [f"| {labels[k]} | {med[k]:.1f} | {ratio[k]:.2f} |" for k in kinds]
        lines += ["", f"Ratios to the stand-alone step: weight step on G **{ratio['weight_fixed']:.2f}x**, sampled "
                      f"weight step {ratio['weight_sampled']:.2f}x, architecture step **{ratio['arch']:.2f}x**.", "",
                  "Re-run: `PYTHONPATH=src .venv/bin/python benchmarks/nas_step.py "
                  + " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv)) + "`", ""]
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write("\n".join(lines))
    print(f"weight step (G) / stand-alone: {ratio['weight_fixed']:.2f}x; architecture step / stand-alone: "
          f"{ratio['arch']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
