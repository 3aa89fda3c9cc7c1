"""GPU benchmark helper (run by ``benchmarks/gpu.sh``): SimCLR ResNet-50 training throughput, feature
extraction and the linear-probe sweep, recorded in ``benchmarks/RESULTS.md``.

Sections (each prints its figure as soon as it is measured):

1. ``train``: SimCLR, ResNet-50 at 224 px (ImageNet recipe: two views of RandomResizedCrop 0.08-1, flip,
   colour jitter 1.0 with p 0.8, grayscale 0.2, blur p 0.5, cut by the batched augmenter on the device;
   projection head 2048-128; LARS), bf16 autocast, channels_last, eager and with ``torch.compile``
   (:func:`archssl.train.compile.maybe_compile`), each on synthetic uint8 canvases already on the GPU and then
   through the real-image loader: a fabricated ImageNet-like JPEG folder
   (:func:`loader_throughput.fabricate_imagenet`) opened with ``view="pretrain"`` (whole images on a 256 px
   canvas), DataLoader settings from :func:`archssl.data.loading.loader_kwargs` (workers: the job's CPUs - 1),
   crops sampled relative to each whole image (``ViewMaker.for_sizes``). A step is the loop's
   (``archssl.train.loop``): autocast forward, backward, the non-finite-gradient check, the optimiser step,
   ``after_step``. images/s over ``--steps`` steps after ``--warmup`` steps (compilation happens there).
   The loader alone (no model) is timed as well, to tell a CPU-bound run from a GPU-bound one.
2. ``features``: ResNet-50 pre-logits extraction (``archssl.evaluate.features.iter_features``: bf16 on CUDA,
   channels_last) of synthetic in-memory images and of the fabricated folder's evaluation view.
3. ``probe``: the ``lbfgs_logreg`` sweep (45 l2 values, refit, test) on 50,000 x 2,048 synthetic features
   (``probe_vs_sklearn.synthetic``: 100 classes, 10,000 val and test rows) on the GPU.

``--smoke`` runs everything at tiny sizes (a small ResNet at 32 px, a few hundred features) on whatever
device there is, so the script can be checked on a CPU; ``--results FILE`` writes the entry there instead of
``benchmarks/RESULTS.md``. ``--budget S`` skips the sections that would start after S seconds (named in the
entry).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402

from loader_throughput import fabricate_imagenet, loader_rate, machine, machine_line, open_fabricated  # noqa: E402
from pretrain_throughput import Images  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SIMCLR_AUG = {"crop_scale": [0.08, 1.0], "jitter_strength": 1.0, "jitter_p": 0.8, "grayscale_p": 0.2,
              "blur_p": 0.5}
SIMCLR_PARAMS = {"temperature": 0.2, "head": {"kind": "mlp", "hidden": 2048, "out": 128}}
LARS = {"name": "lars", "lr": 0.3, "weight_decay": 1e-6, "momentum": 0.9, "trust_coefficient": 1e-3}

FULL = {"spec": "resnet50", "image_size": 224, "batch": 256, "warmup": 5, "steps": 20, "classes": 10,
        "feature_images": 4096, "feature_batch": 512, "probe": (50000, 10000, 10000, 2048, 100)}
SMOKE = {"spec": {"family": "resnet", "block": "bottleneck", "depths": [1, 1, 1, 1], "width": 64},
         "image_size": 32, "batch": 8, "warmup": 1, "steps": 2, "classes": 2, "feature_images": 64,
         "feature_batch": 8, "probe": (400, 100, 100, 32, 4)}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    """SimCLR as :func:`archssl.train.loop.pretrain` steps it, on ``device``, optionally compiled."""

    def __init__(self, spec, image_size: int, batch: int, device: torch.device, precision: str, compiled: bool):
        from archssl.train.augment import AugmentConfig, ViewMaker
        from archssl.train.compile import maybe_compile
        from archssl.train.loop import autocast_dtype, build_method
        from archssl.train.optim import build_optimizer

        torch.manual_seed(0)
        self.device = device
        model = build_method("simclr", spec, SIMCLR_PARAMS).to(device).to(memory_format=torch.channels_last)
        self.amp = autocast_dtype(precision, device, model=model)
        self.model = maybe_compile(model, compiled)
        self.opt = build_optimizer([p for p in model.parameters() if p.requires_grad], LARS, batch)
        self.view = ViewMaker(AugmentConfig.from_dict(SIMCLR_AUG), image_size,
                              torch.Generator().manual_seed(1), torch.channels_last)
        self.model.train()

    def step(self, images: torch.Tensor, sizes: torch.Tensor | None) -> float:
        from archssl.train.loop import nonfinite_grads

        view = self.view.for_sizes(sizes)
        with torch.autocast(device_type=self.device.type, dtype=self.amp or torch.bfloat16,
                            enabled=self.amp is not None):
            loss, _ = self.model.training_step(images, view)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if not nonfinite_grads(self.model):
            self.opt.step()
        self.model.after_step()
        return float(loss.detach())

    def rate(self, batches, warmup: int, steps: int) -> float:
        """images/s over ``steps`` steps of ``batches`` (an iterator of (images, sizes)) after ``warmup``."""
        t0, done = None, 0
        for i in range(warmup + steps):
            if i == warmup:
                _sync(self.device)
                t0 = time.perf_counter()
            images, sizes = next(batches)
            images = images.to(self.device, non_blocking=True)
            self.step(images, sizes)
            done += len(images) if i >= warmup else 0
        _sync(self.device)
        return done / (time.perf_counter() - t0)


def synthetic_batches(batch: int, canvas: int, device: torch.device, pool: int = 4):
    """Endless (uint8 canvases on ``device``, sizes) batches: ``pool`` distinct batches of photos-like noise
    (``pretrain_throughput.Images``), each image a 500 x 375 original (the sizes the crops are sampled in)."""
    data = Images(batch * pool, canvas).images.to(device)
    sizes = torch.tensor([[375, 500]]).repeat(batch, 1)
    k = 0
    while True:
        yield data[(k % pool) * batch:(k % pool + 1) * batch], sizes
        k += 1


def loader_batches(dataset, batch: int, device: torch.device):
    """Endless (images, sizes) batches of a ``view="pretrain"`` dataset through the job's DataLoader."""
    from archssl.data.loading import EpochOrder, loader_kwargs, split_batch

    sampler = EpochOrder(len(dataset))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True,
                                         **loader_kwargs("auto", device))
    epoch = 0
    while True:
        sampler.set_order(torch.randperm(len(dataset), generator=torch.Generator().manual_seed(epoch)).tolist())
        for b in loader:
            images, _, sizes = split_batch(b)
            yield images, sizes
        epoch += 1


def feature_rate(backbone, dataset, device, batch: int, workers: int) -> float:
    """Images/s of :func:`archssl.evaluate.features.iter_features` (pre-logits) over ``dataset``, timed after
    the first batch."""
    from archssl.evaluate.features import iter_features

    it = iter_features(backbone, dataset, ["prelogits"], device, batch, workers)
    next(it)
    _sync(device)
    t0, done = time.perf_counter(), 0
    for feats, _ in it:
        done += len(feats["prelogits"])
    if not done:
        raise ValueError(f"feature_rate needs at least 2 batches of {batch}; the dataset has {len(dataset)} images")
    return done / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, any device (checks the script end to end)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default=None, help="bf16 (default on GPU), fp32 or auto (default with --smoke)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    ap.add_argument("--budget", type=float, default=440.0, help="seconds after which no new section starts")
    ap.add_argument("--record", action="store_true", help="append the entry to --results")
    ap.add_argument("--results", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    from archssl.data.loading import default_workers
    from archssl.runtime import select_device

    cfg = dict(SMOKE if a.smoke else FULL)
    for k in ("batch", "steps", "warmup"):
        if getattr(a, k) is not None:
            cfg[k] = getattr(a, k)
    device = select_device(a.device)
    precision = a.precision or ("auto" if a.smoke else "bf16")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    from archssl.catalog.archs import named, normalize

    spec = named(cfg["spec"]) if isinstance(cfg["spec"], str) else normalize(cfg["spec"])
    start = time.perf_counter()
    rows: list[tuple[str, str, str]] = []
    skipped: list[str] = []

    def over_budget(name: str) -> bool:
        if time.perf_counter() - start > a.budget:
            skipped.append(name)
            print(f"skip {name}: past the {a.budget:.0f} s budget", flush=True)
            return True
        return False

    def add(section: str, setting: str, value: str) -> None:
        rows.append((section, setting, value))
        print(f"{section} | {setting} | {value}  [{time.perf_counter() - start:.0f} s]", flush=True)

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    m = machine()
    print(machine_line(m, f", GPU {gpu}, torch {torch.__version__}"), flush=True)
    size, batch = cfg["image_size"], cfg["batch"]
    canvas = round(size * 256 / 224)
    n_real = batch * (cfg["warmup"] + cfg["steps"] + 1)
    workers = default_workers()
    with tempfile.TemporaryDirectory(prefix="archssl-gpu-bench-") as tmp:
        t0 = time.perf_counter()
        fab = fabricate_imagenet(Path(tmp), n_real, cfg["classes"])
        add("data", f"fabricated {n_real} ImageNet-like JPEGs (mean {fab['mean_kb']:.0f} kB)",
            f"{time.perf_counter() - t0:.1f} s")
        pre = open_fabricated(Path(tmp), cfg["classes"], size, view="pretrain")
        if not over_budget("loader alone"):
            r = loader_rate(pre, workers, batch, device.type)
            add("loader alone", f"view=pretrain, {workers} workers, batch {batch}, canvas {canvas}",
                f"{r['rate']:.0f} images/s ({r['rate'] / max(workers, 1):.0f} per worker)")
        modes = [False] if a.no_compile else [False, True]
        arch = cfg["spec"] if isinstance(cfg["spec"], str) else json.dumps(cfg["spec"])
        setting = f"SimCLR {arch}, {size} px, batch {batch}, {precision} autocast, channels_last"
        for compiled in modes:
            tag = "torch.compile" if compiled else "eager"
            if over_budget(f"train {tag}"):
                continue
            tr = Trainer(spec, size, batch, device, precision, compiled)
            t0 = time.perf_counter()
            rate = tr.rate(synthetic_batches(batch, canvas, device), cfg["warmup"], cfg["steps"])
            add(f"train, synthetic, {tag}", setting,
                f"{rate:.0f} images/s (incl. {cfg['warmup']} warm-up steps: {time.perf_counter() - t0:.0f} s)")
            if over_budget(f"train real {tag}"):
                continue
            rate = tr.rate(loader_batches(pre, batch, device), cfg["warmup"], cfg["steps"])
            add(f"train, real-image loader, {tag}", f"{setting}; {workers} loader workers", f"{rate:.0f} images/s")
            del tr
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if not over_budget("features"):
            from archssl.archs import build

            torch.manual_seed(0)
            backbone = build(spec).to(device, memory_format=torch.channels_last).eval()
            synth = Images(cfg["feature_images"], size)
            add("features, synthetic", f"{spec['family']} pre-logits, {size} px, batch {cfg['feature_batch']}",
                f"{feature_rate(backbone, synth, device, cfg['feature_batch'], 0):.0f} images/s")
            ev = open_fabricated(Path(tmp), cfg["classes"], size)
            rate = feature_rate(backbone, ev, device, cfg["feature_batch"], workers)
            add("features, real-image loader", f"view=eval (resize {ev.preprocess.short_side} + crop {size}), "
                f"{workers} workers", f"{rate:.0f} images/s")
            del backbone, synth
    if not over_budget("probe"):
        from probe_vs_sklearn import run_ours, synthetic

        n_tr, n_va, n_te, dim, k = cfg["probe"]
        t0 = time.perf_counter()
        tr_, va_, te_ = synthetic(n_tr, n_va, n_te, dim, k)
        made = time.perf_counter() - t0
        run_ours(*synthetic(200, 50, 50, 8, 3, seed=1), 3, {"num_l2": 2, "device": str(device)})  # warm-up
        res = run_ours(tr_, va_, te_, k, {"num_l2": 45, "device": str(device)})
        add("probe", f"lbfgs_logreg, 45 l2 values + refit, {n_tr} x {dim} train, {n_va} val, {n_te} test, "
            f"{k} classes, {device.type}", f"{res['wall']:.1f} s ({res['iters']} L-BFGS iterations, test top-1 "
            f"{100 * res['test_top1']:.2f}; features made in {made:.0f} s, untimed)")
    total = time.perf_counter() - start
    print(f"total {total:.0f} s", flush=True)
    if a.record:
        date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines = [f"\n## GPU benchmarks{' (SMOKE: tiny sizes, not a measurement)' if a.smoke else ''}: SimCLR "
                 f"training, feature extraction, probe sweep ({date})\n",
                 machine_line(machine(), f", GPU {gpu}, torch {torch.__version__}") + "\n",
                 "| benchmark | setting | result |", "|---|---|---|"]
        lines += [f"| {s} | {t} | {v} |" for s, t, v in rows]
        lines += ["", f"Total {total:.0f} s" + (f"; skipped (time budget): {', '.join(skipped)}" if skipped else "")
                  + ". Images/s of training count images (2 views each) per second over the timed steps.", "",
                  "Command: `bash benchmarks/gpu.sh` (which runs `benchmarks/gpu_bench.py "
                  + " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv)) + "`)", ""]
        a.results.parent.mkdir(parents=True, exist_ok=True)
        with open(a.results, "a") as f:
            f.write("\n".join(lines))
        print(f"appended to {a.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
