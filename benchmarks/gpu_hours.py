"""GPU-hours of a study, estimated from its plan and one measured training throughput.

The plan (:func:`archssl.plan.plan`, torch-free) gives every pretraining job (method, architecture, image
size, epochs, pretraining set), every NAS search and every feature file; each architecture's forward FLOPs come
from the closed-form counts (:func:`archssl.catalog.archs.count_flops`). One measured figure turns FLOPs into time: the
SimCLR ResNet-50 training throughput at 224 px on one GPU (``--img-per-s``, the ``train`` section of
``benchmarks/gpu_bench.py``, images per second, two views each). A job's time is its work in "ResNet-50
SimCLR images" divided by that rate:

    work = images x epochs x passes(method) / 2 x flops(arch, size) / flops(ResNet-50, 224)

where ``passes`` counts forward+backward passes per image (a forward-only pass, such as MoCo's key encoder or
BYOL's target, counts 1/3: a backward pass costs about twice a forward one) and SimCLR's 2 views make the
reference 2. Feature extraction is one forward pass (1/3) of every image of each downstream set; probes run on
cached features and are left out (seconds to minutes each on a GPU, see the probe section of gpu_bench.py).
Small networks use a GPU less well than ResNet-50, so small-image estimates are lower bounds.

Without ``--img-per-s`` the rate is an assumption, said in the output: 1,500 SimCLR images/s, i.e. 3,000
single-view forward+backward passes of ResNet-50 at 224 px per second, about what mixed-precision channels_last
ResNet-50 training reaches on one A100-class GPU in published vendor benchmarks (not measured here); the
project's target on one H100 is 3,000 SimCLR images/s (``--img-per-s 3000`` halves every estimate).

    .venv/bin/python benchmarks/gpu_hours.py config/studies/girish_full.yaml [--img-per-s 1450]
    .venv/bin/python benchmarks/gpu_hours.py --all          # every preset of config/studies, a table
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ASSUMED_IMG_PER_S = 1500.0

#: images per split of the on-disk datasets (their official counts; val held out of train is counted in train)
IMAGES = {
    "imagenet": {"train": 1_281_167, "test": 50_000}, "inat2021": {"train": 2_686_843, "test": 100_000},
    "places205": {"train": 2_448_873, "test": 20_500}, "stl10": {"train": 5_000, "test": 8_000, "unlabeled": 100_000},
    "cifar10": {"train": 50_000, "test": 10_000}, "cifar100": {"train": 50_000, "test": 10_000},
    "svhn": {"train": 73_257, "test": 26_032}, "food101": {"train": 75_750, "test": 25_250},
    "sun397": {"train": 19_850, "test": 19_850}, "stanford_cars": {"train": 8_144, "test": 8_041},
    "fgvc_aircraft": {"train": 6_667, "test": 3_333}, "voc2007": {"train": 5_011, "test": 4_952},
    "dtd": {"train": 3_760, "test": 1_880}, "oxford_pets": {"train": 3_680, "test": 3_669},
    "caltech101": {"train": 3_060, "test": 6_084}, "flowers102": {"train": 2_040, "test": 6_149},
    "cub200": {"train": 5_994, "test": 5_794}, "stanford_dogs": {"train": 12_000, "test": 8_580},
    "mit_indoor67": {"train": 5_360, "test": 1_340}, "uiuc_sports8": {"train": 980, "test": 599},
}
SPLIT_ALIASES = {"train+unlabeled": ("train", "unlabeled")}


def passes(method: str, params: dict) -> float:
    """Forward+backward passes per pretraining image (forward-only passes count 1/3)."""
    fwd = 1.0 / 3.0
    return {
        "random": 0.0,
        "simclr": 2.0,
        "moco": (2.0 + 2 * fwd) if params.get("symmetric") else 1.0 + fwd,  # query encoder; key encoder forward
        "byol": 2.0 + 2 * fwd,         # online on both views, target forward on both
        "instdisc": 1.0,
        "supervised": 1.0,
        "rotation": 4.0,               # the 4 rotated copies
        "exemplar": float(params.get("copies", 8)),
        "jigsaw": 1.0,                 # 9 patches of a ninth of the area each
        "relpatch": 1.0,
    }.get(method, 2.0)


def images(name: str, split: str | None, pool_size: int) -> int:
    if name == "pool":
        return pool_size
    sizes = IMAGES.get(name)
    if sizes is None:
        raise SystemExit(f"gpu_hours: no image count for dataset {name!r}; add it to IMAGES in {__file__}")
    if split is None:  # every split of a downstream set (features are extracted for all of them)
        return sum(v for k, v in sizes.items() if k != "unlabeled")
    return sum(sizes[s] for s in SPLIT_ALIASES.get(split, (split,)))


def estimate(config: Path, img_per_s: float) -> dict:
    from archssl.catalog.archs import count_flops, named
    from archssl.config import load_config
    from archssl.plan import plan

    cfg = load_config(config)
    p = plan(cfg)
    pool = cfg["data"].get("builtin", {}).get("pool_size", 5000)
    ref = count_flops(named("resnet50"), 224) * 2.0  # SimCLR: 2 views per image
    nas = p.nas
    searched = {f"nas-{s}" for s in nas.searches}
    specs = {a: s for a, s in p.archs.items() if a not in searched}
    flops = {a: count_flops(s, p.config["data"]["image_size"]) for a, s in specs.items()}
    for s in nas.searches:  # a searched network is the size of its random peers (same space, same target)
        peers = [flops[a] for a in nas.random.get(s, ()) if a in flops]
        flops[f"nas-{s}"] = sum(peers) / len(peers) if peers else max(flops.values())
    hours = {"pretrain": 0.0, "nas_search": 0.0, "features": 0.0}
    for run, job in p.pretrain.items():
        n = images(job.data.name, job.data.split, pool) if job.trains else 0
        for arch in p.archs if job.trains else ():
            work = n * job.epochs * passes(job.method, job.method_params) * flops[arch]
            hours["pretrain"] += work / ref / img_per_s / 3600
        for ref_ds in p.features[run].datasets.values():
            n_ds = images(ref_ds.name, None, pool) if not ref_ds.builtin else 2_000
            hours["features"] += sum(n_ds * flops[a] / 3.0 for a in p.archs) / ref / img_per_s / 3600
    for s, job in nas.searches.items():
        st = job.settings
        n = images(job.data.name, job.data.split, pool)
        # weight steps on the rest of the set, architecture steps on the held-out part, both with two views
        peers = [flops[a] for a in nas.random.get(s, ())] or [flops[f"nas-{s}"]]
        work = n * st["epochs"] * passes(job.method, job.method_params) * (sum(peers) / len(peers))
        hours["nas_search"] += work / ref / img_per_s / 3600
    hours["total"] = sum(hours.values())
    return {"config": str(config), "pretrain_jobs": len(p.pretrain) * len(p.archs), "hours": hours}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("configs", nargs="*", type=Path)
    ap.add_argument("--all", action="store_true", help="every on-disk preset of config/studies")
    ap.add_argument("--img-per-s", type=float, default=None,
                    help="measured SimCLR ResNet-50 224-px training images/s on one GPU (gpu_bench.py train)")
    args = ap.parse_args(argv)
    rate = args.img_per_s or ASSUMED_IMG_PER_S
    configs = list(args.configs)
    if args.all:
        configs += [c for c in sorted((ROOT / "config" / "studies").glob("*.yaml"))
                    if "data_root:" in c.read_text()]
    if not configs:
        ap.error("give a config, or --all")
    source = "measured" if args.img_per_s else "ASSUMED (not measured here; pass --img-per-s from gpu_bench.py)"
    print(f"rate: {rate:.0f} SimCLR ResNet-50 224-px images/s per GPU, {source}")
    print(f"{'config':44s} {'pretrain jobs':>13s} {'pretrain':>10s} {'NAS':>8s} {'features':>9s} {'total GPU-h':>12s}")
    for c in configs:
        r = estimate(c, rate)
        h = r["hours"]
        name = str(Path(r["config"]).resolve().relative_to(ROOT)) if Path(c).resolve().is_relative_to(ROOT) else c
        print(f"{str(name):44s} {r['pretrain_jobs']:13d} {h['pretrain']:10.1f} {h['nas_search']:8.1f} "
              f"{h['features']:9.1f} {h['total']:12.1f}")


if __name__ == "__main__":
    main()
