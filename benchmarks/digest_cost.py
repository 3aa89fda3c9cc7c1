"""Benchmark: what the content digests (archssl.integrity, archssl.evaluate.featurestore) cost, relative to the
time of the stage that writes or reads them, on the default study (config/config.yaml). Target: under 2%.

Setting: the default study's SimCLR job (32 px, batch 128, 5000 pool images, 4 epochs, checkpoint every
epoch), for the sampled architecture with the most parameters and the one with the fewest (the digest costs
grow with the parameters, a step's time with the FLOPs). Per architecture:

- pretrain: the digest work of one run, ``epochs / checkpoint_every`` sealed checkpoints (model + optimiser
  state, :func:`archssl.integrity.seal`), one checked resume (digest + finiteness check,
  :func:`archssl.integrity.verify`, :func:`archssl.integrity.nonfinite_keys`) and the sealed backbone,
  against the stage time: the mean step time of a short real run of :func:`archssl.train.loop.pretrain` (its
  metrics' ``seconds``; synthetic images, 6 steps; the first epoch of 2 is warm-up) x steps per epoch x
  epochs. Start-up, data loading from disk and BN calibration are left out, so the stage time is a lower
  bound and the ratio an upper bound;
- features: the backbone check when the features job loads it, plus the feature file's digests (blake2b of
  every row as it is written), against the features job's work on as many images as the study's downstream
  sets hold (the mini suite's count, digits left out): :func:`archssl.evaluate.features.extract_to_file` of
  synthetic images to a temporary HDF5 file (median of 2; start-up and reading the images left out: a lower
  bound of the stage again);
- probe: the feature file's check when the probe job reads it (the same rows hashed again), against the
  study's probe (``probe:`` of the config, its bootstrap) fitted on those features (5 random classes).

Each digest time is the median of ``--repeats`` runs. On a shared machine timings are noisy (the load average
is recorded). The last line printed is the largest ratio.

    PYTHONPATH=src .venv/bin/python benchmarks/digest_cost.py --record
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from loader_throughput import machine, machine_line  # noqa: E402


class Images(torch.utils.data.Dataset):
    def __init__(self, n: int, size: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], 0


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(arch: str, spec: dict, job, feat_job, probe_job, n_images: int, n_features: int, steps: int,
            repeats: int) -> dict:
    from dataclasses import replace

    from archssl.integrity import content_digest, nonfinite_keys, seal, verify
    from archssl.plan import PretrainExec
    from archssl.train.loop import build_method, pretrain
    from archssl.train.optim import build_optimizer

    # the state a checkpoint holds: the method's model (backbone + head) and its optimiser, after one step
    model = build_method(job.method, spec, job.method_params)
    opt = build_optimizer([p for p in model.parameters() if p.requires_grad], job.optimizer, job.batch_size)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    ckpt = {"format": 3, "fingerprint": "x", "epoch": 1, "step": 0, "metrics": [{"epoch": 1, "loss": 1.0}],
            "model": model.state_dict(), "optimizer": opt.state_dict()}
    backbone = {"spec": spec, "state_dict": {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}}
    sealed_ckpt, sealed_bb = seal(ckpt), seal(backbone)
    t_seal_ckpt = median_time(lambda: seal(ckpt), repeats)
    t_check_ckpt = median_time(lambda: (verify(sealed_ckpt, "c", "checkpoint"),
                                        nonfinite_keys(sealed_ckpt["model"]), nonfinite_keys(sealed_ckpt["optimizer"])),
                               repeats)
    t_seal_bb = median_time(lambda: seal(backbone), repeats)
    t_check_bb = median_time(lambda: (verify(sealed_bb, "b", "backbone"), nonfinite_keys(sealed_bb["state_dict"])),
                             repeats)
    n_params = sum(v.numel() for v in ckpt["model"].values())

    # the stage: a short real run (2 epochs of `steps` steps; the second one's time per step)
    short = replace(job, epochs=2, warmup_epochs=0.0)
    with tempfile.TemporaryDirectory() as d:
        pretrain(spec, Images(steps * job.batch_size, job.image_size), short, Path(d), PretrainExec(device="cpu"))
        import csv

        rows = list(csv.DictReader(open(Path(d) / "metrics.csv")))
    step_s = float(rows[-1]["seconds"]) / steps
    steps_per_epoch = n_images // job.batch_size
    t_pretrain = step_s * steps_per_epoch * job.epochs
    n_ckpts = job.epochs  # checkpoint_every: 1 (the schema's default)
    pretrain_digest = n_ckpts * t_seal_ckpt + t_check_ckpt + t_seal_bb

    # features: the features job's work on n_features images (extraction, HDF5 writing with its running
    # digests), and the digests of its rows alone, timed on the same array right after
    import numpy as np

    from archssl.evaluate.features import extract_to_file

    net = model.backbone.eval()
    taps = list(feat_job.taps)
    split_n = {"train": n_features - 2 * (n_features // 4), "val": n_features // 4, "test": n_features // 4}
    attrs = {"arch": arch, "method": "simclr", "dataset": "bench", "preprocessing": {}, "code_version": "bench",
             "config_hash": "bench"}
    with tempfile.TemporaryDirectory() as d:
        def extract():
            extract_to_file(net, lambda split: Images(split_n[split], job.image_size, seed=len(split)),
                            Path(d) / "f.h5", taps, attrs, device="cpu")
        t_features = median_time(extract, 2)
        import h5py

        with h5py.File(Path(d) / "f.h5") as f:
            arrays = [f[f"{s}/features/{t}"][()] for s in split_n for t in taps]
            arrays += [f[f"{s}/{k}"][()] for s in split_n for k in ("labels", "indices")]
    n_bytes = sum(a.nbytes for a in arrays)
    t_hash = median_time(lambda: [hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()
                                  for a in arrays], repeats)
    features_digest = t_check_bb + t_hash  # the features job: the backbone check, the rows hashed as written
    # the probe job: the study's probe fitted on these features (5 classes), whose read check hashes them again
    from archssl.evaluate.probes.base import make_probe

    rng = np.random.default_rng(0)
    feats = {s_: arrays[i] for i, s_ in enumerate(split_n)}
    xy = {s_: (feats[s_], rng.integers(0, 5, len(feats[s_]))) for s_ in split_n}
    probe = make_probe(probe_job.name, **probe_job.params, device="cpu", num_threads=1)
    t0 = time.perf_counter()
    probe.fit_evaluate(train=xy["train"], val=xy["val"], test=xy["test"], num_classes=5,
                       bootstrap={**probe_job.bootstrap, "seed": 0})
    t_probe = time.perf_counter() - t0
    return {"arch": arch, "params": n_params, "t_seal_ckpt": t_seal_ckpt, "t_check_ckpt": t_check_ckpt,
            "t_seal_bb": t_seal_bb, "t_check_bb": t_check_bb, "step_s": step_s, "t_pretrain": t_pretrain,
            "pretrain_digest": pretrain_digest, "pretrain_ratio": pretrain_digest / t_pretrain,
            "t_features": t_features, "features_digest": features_digest,
            "features_ratio": features_digest / t_features, "feature_bytes": n_bytes,
            "t_probe": t_probe, "probe_digest": t_hash, "probe_ratio": t_hash / t_probe,
            "hash_mb_s": n_bytes / t_hash / 1e6}


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "config" / "config.yaml"))
    ap.add_argument("--steps", type=int, default=6, help="steps per epoch of the short timed run")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--record", action="store_true", help="append the result to benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    import logging

    logging.basicConfig(level=logging.WARNING)
    from archssl.catalog.archs import count_params
    from archssl.config import merge_files
    from archssl.data.mini import TASKS
    from archssl.plan import plan

    load_before = os.getloadavg()
    p = plan(merge_files([a.config]))
    job, feat_job = p.pretrain["simclr"], p.features["simclr"]
    n_pool = int(p.config["data"]["builtin"]["pool_size"])
    n_downstream = sum(sum(TASKS[d].per_split) * len(TASKS[d].class_names) for d in p.downstream if d in TASKS)
    by_params = sorted(p.archs, key=lambda k: count_params(p.archs[k]))
    chosen = [by_params[-1], by_params[0]]
    results = []
    for arch in chosen:
        r = measure(arch, p.archs[arch], job, feat_job, p.probe, n_pool, n_downstream, a.steps, a.repeats)
        t_features = r["t_features"]
        results.append(r)
        print(f"{arch} ({r['params']:,} parameters incl. head): pretrain digests {r['pretrain_digest'] * 1e3:.1f} ms "
              f"of {r['t_pretrain']:.1f} s = {100 * r['pretrain_ratio']:.3f}%; features digests "
              f"{r['features_digest'] * 1e3:.1f} ms of {t_features:.1f} s = {100 * r['features_ratio']:.3f}%; probe "
              f"read check {r['probe_digest'] * 1e3:.1f} ms of {r['t_probe']:.1f} s = {100 * r['probe_ratio']:.3f}%")
    worst = max(max(r["pretrain_ratio"], r["features_ratio"], r["probe_ratio"]) for r in results)
    load_after = os.getloadavg()
    if a.record:
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        lines = [f"\n## Content digests: cost relative to the stage (default study) ({stamp})\n",
                 machine_line(machine(), f", torch {torch.__version__}, {a.threads} thread(s)") +
                 f" Load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
                 f"{' '.join(f'{x:.2f}' for x in load_after)} after.\n",
                 f"Setting: `{Path(a.config).relative_to(ROOT)}`, SimCLR ({job.epochs} epochs x "
                 f"{n_pool // job.batch_size} steps of {job.batch_size} at {job.image_size} px, a sealed checkpoint per "
                 f"epoch, one checked resume, the sealed backbone); features of {n_downstream} downstream images "
                 f"(the backbone check and blake2b of every feature row as written; the probe job hashes them again on read, against the study's probe fitted on them). Stage times from a "
                 f"short real run ({a.steps} steps, second epoch) and `extract_to_file` of as many images: lower bounds, so "
                 f"the ratios are upper bounds. Digest times: median of {a.repeats}.\n",
                 "| arch | params (with head) | seal checkpoint ms | check checkpoint ms | seal backbone ms | "
                 "check backbone ms | pretrain s | pretrain digests % | features s | features digests % | "
                 "probe s | probe read check % |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in results:
            lines.append(f"| `{r['arch']}` | {r['params']:,} | {r['t_seal_ckpt'] * 1e3:.2f} | "
                         f"{r['t_check_ckpt'] * 1e3:.2f} | {r['t_seal_bb'] * 1e3:.2f} | {r['t_check_bb'] * 1e3:.2f} | "
                         f"{r['t_pretrain']:.1f} | {100 * r['pretrain_ratio']:.3f} | {r['t_features']:.1f} | "
                         f"{100 * r['features_ratio']:.3f} | {r['t_probe']:.1f} | {100 * r['probe_ratio']:.3f} |")
        lines.append(f"\nblake2b: {results[0]['hash_mb_s']:.0f} MB/s. Largest ratio: **{100 * worst:.3f}%** of "
                     f"the stage's time (target: under 2%).\n")
        cmd = " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
        lines.append(f"Re-run: `PYTHONPATH=src .venv/bin/python benchmarks/digest_cost.py {cmd}`\n")
        with open(ROOT / "benchmarks" / "RESULTS.md", "a") as f:
            f.write("\n".join(lines))
    print(f"largest digest cost / stage time: {100 * worst:.3f}%")
    return worst


if __name__ == "__main__":
    main()
