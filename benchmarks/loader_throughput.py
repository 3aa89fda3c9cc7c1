"""Benchmark: real-image pretraining loader throughput (decoded images/s per DataLoader worker).

It fabricates an ImageNet-like folder in a temporary directory (``--n`` JPEGs at quality 90, about 500 x 375:
landscape 500x375 and 500x333, portrait 375x500, each a smooth random field plus texture and grain, so that
files and decoding cost resemble photos; ImageNet's training JPEGs average ~110 kB, these ~85 kB), opens it
through the real ``imagenet`` source with ``view="pretrain"`` (the whole image resized to a
``--pretrain-size`` canvas, 256 at 224 px, plus its size) and times a ``torch.utils.data.DataLoader`` built
with :func:`archssl.data.loading.loader_kwargs` for each ``--workers`` value: images/s over one pass after
the first batch (workers started, caches warm).

Also timed, for reference: the evaluation view (resize 256 + centre crop 224) through the same loader, and
the batched augmenter (``archssl.train.augment``, two views at 224 px with the SimCLR settings) on this CPU,
in the main process; in training that work runs batched on the GPU, not in the workers.

Workers needed by one GPU: the workers decode each image once; its 2 views are cut on the GPU from the same
canvas, so a GPU training at ``--gpu-rate`` images/s (default 3,000) needs
``gpu_rate / (images/s per worker)`` workers, rounded up, plus the main process.

    PYTHONPATH=src .venv/bin/python benchmarks/loader_throughput.py --n 2000 --record
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from pretrain_throughput import AUG, cpu_model  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
#: (width, height) of the fabricated photos and how often each appears (ImageNet's common shapes)
SHAPES = ((500, 375), (500, 375), (500, 333), (375, 500))
WNID = "n{:08d}"


def _photo(index: int, seed: int) -> "Image.Image":
    """A deterministic photo-like RGB image: a smooth colour field, mid-frequency colour texture and grain
    (luma and chroma), which at JPEG quality 90 gives files of ImageNet's typical size (~100 kB)."""
    from PIL import Image

    rng = np.random.default_rng([seed, index])
    w, h = SHAPES[index % len(SHAPES)]
    coarse = Image.fromarray(rng.integers(0, 256, (h // 50 + 2, w // 50 + 2, 3), dtype=np.uint8))
    field = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    mid = Image.fromarray(rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8))
    texture = np.asarray(mid.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32) - 128
    grain = rng.normal(0, 10, (h, w, 1)).astype(np.float32) + rng.normal(0, 6, (h, w, 3)).astype(np.float32)
    img = np.clip(0.8 * field + 0.5 * texture + grain + 20, 0, 255).astype(np.uint8)
    return Image.fromarray(img)


def _write_one(args: tuple[Path, int, int]) -> int:
    path, index, seed = args
    path.parent.mkdir(parents=True, exist_ok=True)
    _photo(index, seed).save(path, format="JPEG", quality=90)
    return path.stat().st_size


def fabricate_imagenet(root: Path, n: int, classes: int = 10, val_per_class: int = 1, seed: int = 0,
                       processes: int | None = None) -> dict:
    """Write ``n`` training JPEGs (``root/train/<wnid>/<wnid>_<k>.JPEG``, round-robin over ``classes``) and
    ``val_per_class`` per class under ``root/val/<wnid>/`` in parallel; returns ``{"classes", "n",
    "mean_kb"}``. Deterministic given ``seed``."""
    from multiprocessing import get_context

    from archssl.data.loading import job_cpus

    wnids = [WNID.format(c) for c in range(classes)]
    jobs = [(root / "train" / wnids[i % classes] / f"{wnids[i % classes]}_{i}.JPEG", i, seed) for i in range(n)]
    jobs += [(root / "val" / w / f"ILSVRC2012_val_{c:08d}_{k}.JPEG", n + c * val_per_class + k, seed)
             for c, w in enumerate(wnids) for k in range(val_per_class)]
    procs = processes or job_cpus()
    if procs > 1:
        with get_context("fork").Pool(procs) as pool:
            sizes = pool.map(_write_one, jobs, chunksize=32)
    else:
        sizes = [_write_one(j) for j in jobs]
    return {"classes": wnids, "n": n, "mean_kb": float(np.mean(sizes[:n])) / 1024}


def open_fabricated(root: Path, classes: int, image_size: int, **options):
    """The ``train`` split of the fabricated folder through the real ``imagenet`` source."""
    from archssl.catalog.datasets import DATASETS

    src = dataclasses.replace(DATASETS.get("imagenet"), num_classes=classes)
    # the held-out val fraction must leave every class one training image at least; 1% of a class is enough
    return src.open("train", root, image_size, val_fraction=0.01, **options)


def loader_rate(dataset, workers: int, batch: int, device: str = "cpu", limit: int | None = None) -> dict:
    """Images/s of one pass of a DataLoader (``loader_kwargs(workers, device)``, batches of ``batch``) over
    ``dataset`` (first ``limit`` items), timed from the first batch's arrival (worker start-up excluded)."""
    import torch

    from archssl.data.loading import loader_kwargs

    n = len(dataset) if limit is None else min(limit, len(dataset))
    subset = torch.utils.data.Subset(dataset, range(n))
    loader = torch.utils.data.DataLoader(subset, batch_size=batch, shuffle=False, drop_last=True,
                                         **loader_kwargs(workers, device))
    it = iter(loader)
    next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    done = 0
    for b in it:
        done += len(b[0])
    wall = time.perf_counter() - t0
    main_cpu = time.process_time() - c0
    del it, loader
    return {"workers": workers, "images": done, "seconds": wall, "rate": done / wall, "main_cpu_s": main_cpu}


def augment_rate(dataset, batch: int, size: int, views: int = 2, repeats: int = 2) -> float:
    """Views/s of the batched augmenter (SimCLR settings) on this CPU, one thread, on ``batch`` items."""
    import torch

    from archssl.data.loading import split_batch
    from archssl.train.augment import AugmentConfig, ViewMaker

    images, _, sizes = split_batch(next(iter(torch.utils.data.DataLoader(dataset, batch_size=batch))))
    view = ViewMaker(AugmentConfig.from_dict(AUG), size, torch.Generator().manual_seed(0)).for_sizes(sizes)
    view(images)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        for _ in range(views):
            view(images)
    return repeats * views * batch / (time.perf_counter() - t0)


def machine() -> dict:
    """CPU model and core counts from ``lscpu`` (fallback: /proc/cpuinfo), nproc, the job's CPUs, load."""
    from archssl.data.loading import job_cpus

    info = {"model": cpu_model(), "cpus": os.cpu_count(), "cores": None, "job_cpus": job_cpus()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["model"] = fields.get("Model name", info["model"])
        if fields.get("Core(s) per socket", "").isdigit() and fields.get("Socket(s)", "").isdigit():
            info["cores"] = int(fields["Core(s) per socket"]) * int(fields["Socket(s)"])
        if fields.get("CPU(s)", "").isdigit():
            info["cpus"] = int(fields["CPU(s)"])
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    try:
        info["load"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        info["load"] = "n/a"
    return info


def machine_line(m: dict, extra: str = "") -> str:
    cores = f"{m['cores']} cores, " if m["cores"] else ""
    return (f"Machine: {m['model']}, {cores}{m['cpus']} CPUs (this job: {m['job_cpus']}), python "
            f"{platform.python_version()}{extra}; load average {m['load']} (shared machine: noisy).")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="training JPEGs to fabricate")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--pretrain-size", type=int, default=None, help="canvas side (default: 256 at 224 px)")
    ap.add_argument("--gpu-rate", type=float, default=3000.0, help="images/s one GPU trains at")
    ap.add_argument("--no-eval-view", action="store_true", help="skip the evaluation-view reference")
    ap.add_argument("--root", type=Path, default=None, help="reuse/write the fabricated folder here")
    ap.add_argument("--record", action="store_true", help=f"append the figures to {RESULTS}")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    m = machine()
    print(machine_line(m), flush=True)
    with tempfile.TemporaryDirectory(prefix="archssl-loader-") as tmp:
        root = a.root or Path(tmp)
        t0 = time.perf_counter()
        if not (root / "train").is_dir():
            fab = fabricate_imagenet(root, a.n, a.classes)
            print(f"fabricated {a.n} JPEGs (mean {fab['mean_kb']:.0f} kB) in {time.perf_counter() - t0:.1f} s",
                  flush=True)
        sizes_kb = [p.stat().st_size / 1024 for p in (root / "train").rglob("*.JPEG")]
        pre = open_fabricated(root, a.classes, a.image_size, view="pretrain", pretrain_size=a.pretrain_size)
        canvas = pre.preprocess.canvas_size
        rows = []
        for w in a.workers:
            r = loader_rate(pre, w, a.batch)
            rows.append(("pretrain", r))
            print(f"pretrain view (whole image -> {canvas}x{canvas}), {w} worker(s): {r['rate']:.1f} images/s "
                  f"({r['rate'] / max(w, 1):.1f} per worker; main process CPU {r['main_cpu_s']:.1f} s over "
                  f"{r['seconds']:.1f} s)", flush=True)
        if not a.no_eval_view:
            ev = open_fabricated(root, a.classes, a.image_size)
            r = loader_rate(ev, a.workers[0], a.batch)
            rows.append(("eval", r))
            print(f"eval view (resize {ev.preprocess.short_side} + centre crop {a.image_size}), "
                  f"{a.workers[0]} worker(s): {r['rate']:.1f} images/s", flush=True)
        aug = augment_rate(pre, a.batch, a.image_size)
        print(f"batched augmenter on this CPU (1 thread, 2 views at {a.image_size} px from the {canvas} px canvas): "
              f"{aug:.1f} views/s", flush=True)
    timed = [r for v, r in rows if v == "pretrain" and r["workers"] > 0]
    best = max(timed, key=lambda r: r["rate"] / r["workers"])
    best_pw = best["rate"] / best["workers"]
    summary = (f"One GPU at {a.gpu_rate:.0f} images/s (2 views each, cut on the GPU from one decoded canvas) needs "
               f"about {math.ceil(a.gpu_rate / best_pw)} loader workers at the best per-worker rate measured here "
               f"({best_pw:.0f} images/s with {best['workers']} worker(s)), plus the main process")
    others = [r for r in timed if r is not best]
    if others:
        summary += "; " + "; ".join(
            f"with {r['workers']} workers this machine gave {r['rate'] / r['workers']:.0f} per worker "
            f"({math.ceil(a.gpu_rate * r['workers'] / r['rate'])} workers at that rate)" for r in others)
        summary += f" (workers share the cores with the main process and other jobs; load average {m['load']})"
    summary += "."
    print(summary)
    if a.record:
        date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines = [f"\n## Real-image pretraining loader throughput ({date})\n",
                 machine_line(machine(), f", torch {torch.__version__}") + "\n",
                 f"Setting: {a.n} fabricated ImageNet-like JPEGs (500x375, 500x333, 375x500; quality 90, mean "
                 f"{np.mean(sizes_kb):.0f} kB) read through the `imagenet` source; DataLoader batches of {a.batch} "
                 f"with `archssl.data.loading.loader_kwargs`; one pass after the first batch.\n",
                 "| path | workers | images/s | images/s per worker |", "|---|---:|---:|---:|"]
        for view, r in rows:
            what = (f"view=pretrain: decode + whole image to {canvas}x{canvas} canvas" if view == "pretrain" else
                    f"view=eval: decode + resize {ev.preprocess.short_side} + centre crop {a.image_size}")
            lines.append(f"| {what} | {r['workers']} | {r['rate']:.1f} | {r['rate'] / max(r['workers'], 1):.1f} |")
        lines += ["", f"Batched augmenter (SimCLR settings, 2 views at {a.image_size} px from the canvas) on this CPU, "
                      f"1 thread: {aug:.1f} views/s (on a GPU it runs batched on the device, not in the workers).",
                  "", summary, "",
                  "Re-run: `PYTHONPATH=src .venv/bin/python benchmarks/loader_throughput.py "
                  + " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv)) + "`", ""]
        with open(RESULTS, "a") as f:
            f.write("\n".join(lines))
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
