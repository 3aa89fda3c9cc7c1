"""Benchmark: SimCLR pretraining throughput (images/second) of archssl's loop vs a plain reference loop.

Setting: the mini study's: 32 px images, batch 256, a small ResNet
(``{"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 16, "stem": "cifar"}``), SimCLR with
the mini config's head (mlp 512 -> 128), LARS, NT-Xent at temperature 0.5, the SimCLR augmentations
(RandomResizedCrop 0.2-1, flip, ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8, grayscale p 0.2, no blur).

- ours: ``archssl.train.loop.pretrain`` as the workflow runs it (batched augmentations on the device with
  per-sample parameters, channels_last, ``precision: auto`` = bf16 autocast on CPUs with native bf16 such as
  AMX unless the network has depthwise convolutions, else fp32; ``--fp32`` also times ``precision: fp32``),
  2 epochs over ``--steps`` batches, the second epoch timed (the first warms up);
- reference: the plain PyTorch recipe: a Dataset applying ``torchvision.transforms.v2`` per sample (two
  views of each uint8 image) in a DataLoader, the same model and optimiser in fp32 and the default memory
  format; one warm-up step, then ``--steps`` timed steps. It runs with every ``--ref-workers`` value and the
  fastest counts.

Both use the same synthetic 32 px images (smooth random noise) and the same torch thread count. ``--spec``
times another architecture (a JSON spec, e.g. the mini_methods MobileNetV2, to see whether ``precision: auto``
is the faster choice for it on this CPU). The ratio is from one run; on a shared machine timings are noisy
(the load average is recorded before and after). The last line printed is the ratio ours / reference.

    PYTHONPATH=src .venv/bin/python benchmarks/pretrain_throughput.py --record
"""

from __future__ import annotations

import argparse
import csv
import json
import datetime as _dt
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 16, "stem": "cifar"}
HEAD = {"kind": "mlp", "hidden": 512, "out": 128}
AUG = {"crop_scale": [0.2, 1.0], "jitter_strength": 0.5, "jitter_p": 0.8, "grayscale_p": 0.2, "blur_p": 0.0}
OPT = {"name": "lars", "lr": 1.0, "weight_decay": 1e-6, "momentum": 0.9, "trust_coefficient": 1e-3}


class Images(torch.utils.data.Dataset):
    def __init__(self, n: int, size: int = 32, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(n, 3, size // 4, size // 4, generator=g)
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        self.images = (x.clamp(0, 1) * 255).round().to(torch.uint8)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], -1


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, base: Images, size: int):
        from torchvision.transforms import v2

        self.base = base
        self.tf = v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
        ])

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        img = self.base.images[i]
        return self.tf(img), self.tf(img)


def run_ours(spec: dict, ds: Images, batch: int, precision: str) -> float:
    from archssl.plan import PretrainExec, PretrainJob
    from archssl.train.loop import pretrain

    cfg = PretrainJob.build("simclr", image_size=32, pretrain={
        "epochs": 2, "batch_size": batch, "optimizer": OPT, "warmup_epochs": 0.5, "final_lr": 0.0, "augment": AUG,
        "precision": precision}, method_params={"temperature": 0.5, "head": HEAD})
    with tempfile.TemporaryDirectory() as d:
        pretrain(spec, ds, cfg, Path(d), PretrainExec(device="auto", checkpoint_every=100))
        with open(Path(d) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
    return float(rows[-1]["images_per_s"])


def run_reference(spec: dict, ds: Images, batch: int, steps: int, workers: int) -> float:
    from archssl.archs import build
    from archssl.catalog import METHODS
    from archssl.methods.simclr import nt_xent
    from archssl.train.optim import LARS

    torch.manual_seed(0)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = METHODS.get("simclr")(build(spec), {"temperature": 0.5, "head": HEAD}).to(dev)
    opt = LARS([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9, weight_decay=1e-6)
    loader = torch.utils.data.DataLoader(TwoViews(ds, 32), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=False)
    model.train()
    it = iter(loader)
    t0 = None
    done = 0
    for step in range(steps + 1):  # step 0 warms up
        if step == 1:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        v1, v2 = next(it)
        z = model.head(model.backbone(torch.cat([v1, v2]).to(dev)))
        loss, _ = nt_xent(*z.chunk(2), 0.5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= 1:
            done += batch
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - t0)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per pipeline")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: nproc)")
    ap.add_argument("--ref-workers", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--fp32", action="store_true", help="also time ours with precision: fp32")
    ap.add_argument("--bf16", action="store_true", help="also time ours with precision: bf16")
    ap.add_argument("--spec", type=json.loads, default=SPEC, help="architecture spec as JSON (default: %(default)s)")
    ap.add_argument("--record", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads or os.cpu_count() or 1)
    load0 = os.getloadavg()
    ds = Images(a.batch * a.steps)
    print(f"nproc {os.cpu_count()}, CPU {cpu_model()}, torch threads {torch.get_num_threads()}, "
          f"load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    from archssl.train.loop import autocast_dtype

    from archssl.archs import build

    auto = "bf16" if autocast_dtype("auto", torch.device("cpu"), model=build(a.spec)) is not None else "fp32"
    ours = run_ours(a.spec, ds, a.batch, "auto")
    print(f"ours (precision auto = {auto}, channels_last, batched augmentations): {ours:8.1f} images/s", flush=True)
    forced = {}
    for prec in ("fp32", "bf16"):
        if getattr(a, prec):
            forced[prec] = run_ours(a.spec, ds, a.batch, prec)
            print(f"ours (precision {prec}, channels_last, batched augmentations): {forced[prec]:8.1f} images/s",
                  flush=True)
    refs = {}
    for w in a.ref_workers:
        refs[w] = run_reference(a.spec, Images(a.batch * (a.steps + 1)), a.batch, a.steps, w)  # + the warm-up batch
        print(f"reference (torchvision v2 per sample, {w} workers, fp32, NCHW): {refs[w]:8.1f} images/s", flush=True)
    best_w = max(refs, key=refs.get)
    ratio = ours / refs[best_w]
    load1 = os.getloadavg()
    if a.record:
        date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines = [f"\n## SimCLR pretraining throughput: archssl loop vs plain reference ({date})\n",
                 f"Machine: nproc {os.cpu_count()}, CPU {cpu_model()}, GPU "
                 f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}; torch {torch.__version__}, "
                 f"{torch.get_num_threads()} threads; load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
                 f"after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (shared machine: noisy).\n",
                 f"Setting: 32 px, batch {a.batch}, architecture `{json.dumps(a.spec)}`, SimCLR head mlp 512-128, "
                 f"LARS; {a.steps} timed steps each (ours: 2nd epoch of {a.steps} steps; reference: after 1 warm-up step).\n",
                 "| pipeline | images/s |", "|---|---:|",
                 f"| ours: batched augmentations, channels_last, precision auto (= {auto} here) | {ours:.1f} |"]
        lines += [f"| ours with precision {prec} (channels_last, batched augmentations) | {v:.1f} |"
                  for prec, v in forced.items()]
        lines += [f"| reference: torchvision.transforms.v2 per sample, DataLoader {w} workers, fp32, NCHW | {r:.1f} |"
                  for w, r in refs.items()]
        lines += ["", f"Ratio ours / fastest reference ({best_w} workers): **{ratio:.2f}x**"
                  + "".join(f"; ours in {prec}: {v / refs[best_w]:.2f}x" for prec, v in forced.items()) + ".", "",
                  "Re-run: `PYTHONPATH=src .venv/bin/python benchmarks/pretrain_throughput.py "
                  + " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv)) + "`", ""]
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write("\n".join(lines))
    print(f"speed-up ours / reference ({best_w} workers): {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
