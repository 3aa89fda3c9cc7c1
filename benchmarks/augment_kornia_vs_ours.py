"""Benchmark: kornia's batched SSL augmentation pipeline vs archssl's (``archssl.train.augment``).

The pipeline is SimCLR's: RandomResizedCrop(scale 0.2-1) -> horizontal flip (p 0.5) -> ColorJitter
(0.4, 0.4, 0.4, 0.1) with p 0.8 -> RandomGrayscale (p 0.2), on a batch of 256 images at 32 px and at 224 px
(output size = input size). kornia 0.9 runs it as ``kornia.augmentation`` modules with per-sample
parameters; archssl samples the parameters (``sample_params``) and applies them (``apply``). Both run on
float images in [0, 1] already on the device; timings are the median of ``--repeats`` calls after one warm-up.

Equivalence with torchvision (the reference the study's augmentations are defined by): each pipeline's own
sampled parameters are replayed on every image with ``torchvision.transforms.v2.functional`` (resized_crop
with antialias, horizontal_flip, the adjust_* ops, rgb_to_grayscale) and the mean / max absolute pixel
error is reported. kornia draws one colour-jitter order per batch (``params["order"]`` has shape (4,)),
torchvision one per image; the replay uses kornia's batch order, so the error measures the ops, not that
semantic difference (which the record states separately).

    PYTHONPATH=src python benchmarks/augment_kornia_vs_ours.py --record

The last line printed is the speed ratio kornia time / ours time at each size.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from archssl.train import augment as A  # noqa: E402

JITTER = (0.4, 0.4, 0.4, 0.1)  # SimCLR s = 0.5: 0.8 s, 0.8 s, 0.8 s, 0.2 s
NAMES = ("brightness", "contrast", "saturation", "hue")


def kornia_modules(size: int):
    import kornia.augmentation as K

    return [K.RandomResizedCrop((size, size), scale=(0.2, 1.0)), K.RandomHorizontalFlip(p=0.5),
            K.ColorJitter(*JITTER, p=0.8), K.RandomGrayscale(p=0.2)]


def run_kornia(mods, x):
    for m in mods:
        x = m(x)
    return x


def ours_cfg() -> A.AugmentConfig:
    return A.AugmentConfig(crop_scale=(0.2, 1.0), jitter_strength=0.5, jitter_p=0.8, grayscale_p=0.2, blur_p=0.0)


def run_ours(cfg, x, size, g):
    p = A.sample_params(cfg, x.shape[0], x.shape[-2], x.shape[-1], g)
    return A.apply(x, p, size)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, dev, repeats):
    fn()
    sync(dev)
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(dev)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def images(n, size, dev, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth random images (upsampled noise): closer to photos than white noise
    x = torch.rand(n, 3, max(4, size // 4), max(4, size // 4), generator=g)
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1).to(dev)


def tv_replay(x, boxes, flip, jit, factors, orders, gray, size):
    """Per-sample torchvision.transforms.v2.functional with the given parameters."""
    import torchvision.transforms.v2.functional as TF

    out = []
    for i in range(len(x)):
        x0, y0, x1, y1 = (int(v) for v in boxes[i].tolist())
        y = TF.resized_crop(x[i], y0, x0, y1 - y0, x1 - x0, [size, size], antialias=True)
        if flip[i]:
            y = TF.horizontal_flip(y)
        if jit[i]:
            for op in orders[i]:
                y = getattr(TF, f"adjust_{NAMES[op]}")(y, float(factors[i, op]))
        if gray[i]:
            y = TF.rgb_to_grayscale(y, num_output_channels=3)
        out.append(y)
    return torch.stack(out)


def equivalence(size=32, n=64):
    """Mean / max |pipeline - torchvision replay| for ours and kornia, on the CPU."""
    x = images(n, size, torch.device("cpu"), seed=1)
    cfg = ours_cfg()
    p = A.sample_params(cfg, n, size, size, torch.Generator().manual_seed(2))
    ours = A.apply(x, p, size)
    ref = tv_replay(x, p.boxes, p.flip, p.jitter, p.factors, p.order.tolist(), p.grayscale, size)
    e_ours = (ours - ref).abs()

    torch.manual_seed(3)
    mods = kornia_modules(size)
    kout = run_kornia(mods, x)
    crop, flip, jitter, gray = (m._params for m in mods)
    src = crop["src"]  # (n, 4, 2) corner pixels, inclusive
    boxes = torch.stack([src[:, 0, 0], src[:, 0, 1], src[:, 2, 0] + 1, src[:, 2, 1] + 1], 1)
    factors = torch.stack([jitter["brightness_factor"], jitter["contrast_factor"], jitter["saturation_factor"],
                           jitter["hue_factor"]], 1)
    order = jitter["order"].tolist()
    kref = tv_replay(x, boxes, flip["batch_prob"] > 0.5, jitter["batch_prob"] > 0.5, factors, [order] * n,
                     gray["batch_prob"] > 0.5, size)
    e_k = (kout - kref).abs()
    # the colour part alone (identity crop, no flip): isolates the ops from the resampling
    p.boxes = torch.tensor([[0.0, 0.0, size, size]]).repeat(n, 1)
    p.flip[:] = False
    ours_c = A.apply(x, p, size)
    ref_c = tv_replay(x, p.boxes, p.flip, p.jitter, p.factors, p.order.tolist(), p.grayscale, size)
    jm = mods[2]
    jm(x)
    kp = jm._params
    kf = torch.stack([kp["brightness_factor"], kp["contrast_factor"], kp["saturation_factor"], kp["hue_factor"]], 1)
    kc = jm(x, params=kp)
    kc_ref = tv_replay(x, torch.tensor([[0.0, 0.0, size, size]]).repeat(n, 1), torch.zeros(n, dtype=torch.bool),
                       kp["batch_prob"] > 0.5, kf, [kp["order"].tolist()] * n, torch.zeros(n, dtype=torch.bool), size)
    return {
        "ours_mean": float(e_ours.mean()), "ours_max": float(e_ours.max()),
        "kornia_mean": float(e_k.mean()), "kornia_max": float(e_k.max()),
        "ours_colour_max": float((ours_c - ref_c).abs().max()),
        "kornia_colour_max": float((kc - kc_ref).abs().max()),
    }


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"nproc {os.cpu_count()}, CPU {model}, GPU {gpu}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
            f"torch {torch.__version__}, python {platform.python_version()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (both when CUDA is present)")
    ap.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    import kornia

    devs = [torch.device("cpu")]
    if a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available()):
        devs = [torch.device("cuda")] + ([torch.device("cpu")] if a.device == "auto" else [])
    elif a.device not in ("auto", "cpu"):
        raise SystemExit(f"--device {a.device!r}")
    info = machine()
    print(info, f"threads {torch.get_num_threads()}, kornia {kornia.__version__}")
    rows = []
    for dev in devs:
        for size in a.sizes:
            x = images(a.batch, size, dev)
            cfg = ours_cfg()
            g = torch.Generator().manual_seed(0)
            mods = [m.to(dev) for m in kornia_modules(size)]
            reps = a.repeats if size <= 64 else max(2, a.repeats // 2)
            t_ours = timeit(lambda: run_ours(cfg, x, size, g), dev, reps)
            t_k = timeit(lambda: run_kornia(mods, x), dev, reps)
            rows.append((dev.type, size, t_ours, t_k))
            print(f"{dev.type:5s} {a.batch}x3x{size}x{size}: ours {t_ours * 1e3:9.1f} ms  kornia {t_k * 1e3:9.1f} ms  "
                  f"kornia/ours {t_k / t_ours:5.2f}", flush=True)
    eq = equivalence()
    print(f"torchvision replay, 64 images at 32 px: ours mean |err| {eq['ours_mean']:.2e} max {eq['ours_max']:.2e} "
          f"(colour ops only: max {eq['ours_colour_max']:.1e}); kornia mean {eq['kornia_mean']:.2e} "
          f"max {eq['kornia_max']:.2e} (colour ops only: max {eq['kornia_colour_max']:.1e})")
    if a.record:
        date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines = [f"\n## Batched augmentations: kornia {kornia.__version__} vs archssl ({date})\n",
                 f"Machine: {info}; torch threads {torch.get_num_threads()}.\n",
                 "Pipeline: RandomResizedCrop(0.2-1) + flip + ColorJitter(0.4,0.4,0.4,0.1, p 0.8) + grayscale(p 0.2), "
                 f"batch {a.batch}, median of {a.repeats} (224 px: {max(2, a.repeats // 2)}) after a warm-up.\n",
                 "| device | input | ours (ms) | kornia (ms) | kornia / ours |", "|---|---|---:|---:|---:|"]
        lines += [f"| {d} | {a.batch}x3x{s}x{s} | {to * 1e3:.1f} | {tk * 1e3:.1f} | {tk / to:.2f} |" for d, s, to, tk in rows]
        lines += ["",
                  f"torchvision equivalence (each pipeline's own parameters replayed per image with "
                  f"torchvision.transforms.v2.functional, 64 images, 32 px): ours mean |err| {eq['ours_mean']:.1e}, "
                  f"max {eq['ours_max']:.1e} (colour ops alone {eq['ours_colour_max']:.0e}); kornia mean {eq['kornia_mean']:.1e}, max {eq['kornia_max']:.1e} "
                  f"(colour ops alone {eq['kornia_colour_max']:.0e}). kornia also draws one jitter order per batch, "
                  "torchvision (and ours) one per image. Kept: ours (faster here, and equal to torchvision).",
                  "", "Re-run: `PYTHONPATH=src .venv/bin/python benchmarks/augment_kornia_vs_ours.py "
                  + " ".join(sys.argv[1:]) + "`", ""]
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write("\n".join(lines))
    print("kornia/ours time ratio: " + ", ".join(f"{d} {s}px {tk / to:.2f}" for d, s, to, tk in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
