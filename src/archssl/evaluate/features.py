"""Frozen-feature extraction: a pretrained backbone x a dataset -> one HDF5 file (layout in
:mod:`archssl.evaluate.featurestore`).

All requested taps come out of one forward pass; batches run in inference mode and channels_last, with bf16
autocast on a GPU (features are stored in float32 or float16 either way). Patch-based methods (Jigsaw,
Relative Patch Location) can be evaluated as the Revisiting study does, on the mean of the 9 patch
representations (``features.patch_eval: patch_average``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from archssl.archs.checkpoint import load_backbone
from archssl.evaluate.featurestore import FeatureWriter
from archssl.integrity import CorruptArtifact, set_aside
from archssl.methods.patches import PatchConfig, patch_average_features
from archssl.runtime import normalize, to_float
from archssl.runtime import select_device
from archssl.catalog.datasets import DATASETS
from archssl.data import open_ref
from archssl.plan import FeaturesExec
from archssl.plan.stages import stage_digest
from archssl.utils import code_version

log = logging.getLogger("archssl.features")


@torch.inference_mode()
def iter_features(backbone, dataset, taps: Sequence[str], device, batch_size: int = 512, num_workers: int = 0,
                  patches: PatchConfig | None = None) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """({tap: (n, D)}, labels) batch by batch, in dataset order.

    ``patches``: average the representations of the grid x grid evaluation patches of each image
    (:func:`archssl.methods.patches.patch_average_features`, the Revisiting study's protocol for
    patch-based methods) instead of embedding the full image."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                         pin_memory=device.type == "cuda")
    use_bf16 = device.type == "cuda"
    for images, y in loader:
        images = images.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            if patches is not None:
                out = patch_average_features(backbone, images, patches, list(taps))
            else:
                x = normalize(to_float(images)).contiguous(memory_format=torch.channels_last)
                out = backbone.forward_taps(x, list(taps))
        yield {t: out[t].float().cpu().numpy() for t in taps}, np.asarray(y)


def extract_to_file(backbone, open_split, out: Path, taps: Sequence[str], attrs: dict,
                    splits: Sequence[str] = ("train", "val", "test"), batch_size: int = 512,
                    dtype: str = "float32", device: str = "auto", num_workers: int = 0,
                    patches: PatchConfig | None = None) -> Path:
    """Extract ``taps`` for every split (``open_split(split) -> Dataset``) and stream them to ``out``
    (:class:`archssl.evaluate.featurestore.FeatureWriter`: one batch in memory, published atomically);
    ``patches``: see :func:`iter_features`."""
    dev = select_device(device)
    # channels_last on every device: on CPU it halves the time of depthwise convolutions (MobileNetV2)
    backbone = backbone.to(dev, memory_format=torch.channels_last).eval()
    unknown = [t for t in taps if t not in backbone.tap_names]
    if unknown:
        raise ValueError(f"features.taps: unknown tap(s) {unknown} for arch {attrs.get('arch')}; "
                         f"available: {backbone.tap_names}")
    with FeatureWriter(out, attrs, list(taps), dtype=dtype) as w:
        for split in splits:
            t0 = time.perf_counter()
            ds = open_split(split)
            dims: dict[str, int] = {}
            for feats, labels in iter_features(backbone, ds, taps, dev, batch_size, num_workers, patches):
                w.append(split, feats, labels)
                dims = {t: v.shape[1] for t, v in feats.items()}
            if split not in w.rows:
                raise ValueError(f"{attrs.get('dataset')}: split {split!r} has no images")
            log.info("%s %s: %d images, taps %s, %.1fs", attrs.get("dataset"), split, w.rows[split],
                     ",".join(f"{t}={d}" for t, d in dims.items()), time.perf_counter() - t0)
    return Path(out)


def run_features_job(job, backbone_path: Path, datasets: Sequence[str], outs: Sequence[Path], exe=None,
                     arch: str | None = None) -> list[Path]:
    """Run the features job ``job`` (:class:`archssl.plan.FeaturesJob`) of the backbone at
    ``backbone_path``: one HDF5 file per name of ``datasets`` (each one of ``job.datasets``) at the matching
    ``outs`` path, as ``exe`` (:class:`archssl.plan.FeaturesExec`) says.

    The backbone is checked first (:func:`archssl.archs.checkpoint.load_backbone`); one that fails is set aside
    as ``backbone.pt.corrupt`` (so the workflow's rerun rebuilds it) and :class:`archssl.integrity.CorruptArtifact`
    raised, naming it."""
    exe = exe or FeaturesExec()
    if len(datasets) != len(outs):
        raise ValueError(f"{len(datasets)} datasets but {len(outs)} output files")
    try:
        net, state = load_backbone(backbone_path)
    except CorruptArtifact as e:
        # unreadable, altered since it was written, or non-finite: never turned into features; set aside so
        # that the workflow's rerun rebuilds it (its pretraining reruns)
        dest = set_aside(backbone_path)
        raise CorruptArtifact(f"{e}; set aside as {dest.name}: rerun to rebuild it") from e
    patches = PatchConfig.from_params(job.patches) if job.patches is not None else None
    # what the backbone saw: the full image (ImageNet-normalised) or the mean over evaluation patches
    inputs = ({"input": "full_image", "normalize": "imagenet"} if patches is None else
              {"input": "patch_average", "patches": dict(job.patches)})
    written = []
    for name, out in zip(datasets, outs):
        if name not in job.datasets:
            raise ValueError(f"dataset {name!r} is not one of this job's ({', '.join(job.datasets)})")
        ref = job.datasets[name]
        src = DATASETS.get(name)
        attrs = {"arch": arch or Path(backbone_path).parent.name, "method": job.run,
                 "ssl_method": state.get("method", job.method), "dataset": name, "metric": src.metric,
                 "num_classes": src.num_classes,
                 "preprocessing": {"image_size": job.image_size, "pooling": "global_avg", "options": ref.options,
                                   **inputs},
                 "code_version": code_version(), "code_digest": stage_digest("features"),
                 "config_hash": job.digest()}
        extract_to_file(net, lambda split: open_ref(ref, job.image_size, split), Path(out), job.taps, attrs,
                        batch_size=exe.batch_size, dtype=job.dtype, device=exe.device, num_workers=exe.num_workers,
                        patches=patches)
        log.info("wrote %s", out)
        written.append(Path(out))
    return written
