"""Frozen-feature extraction: a pretrained backbone x a dataset -> one HDF5 file (layout in
:mod:`archssl.evaluate.featurestore`).

All requested taps come out of one forward pass; batches run in inference mode and channels_last, with bf16
autocast on a GPU (features are stored in float32 or float16 either way).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from archssl.evaluate.featurestore import write_features
from archssl.train.augment import normalize, to_float
from archssl.utils import select_device

log = logging.getLogger("archssl.features")


@torch.inference_mode()
def extract_split(backbone, dataset, taps: Sequence[str], device, batch_size: int = 512,
                  num_workers: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features of every tap for one split, in dataset order; returns ({tap: (N, D)}, labels)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                         pin_memory=device.type == "cuda")
    use_bf16 = device.type == "cuda"
    feats: dict[str, list[np.ndarray]] = {t: [] for t in taps}
    labels: list[np.ndarray] = []
    for images, y in loader:
        x = normalize(to_float(images.to(device, non_blocking=True))).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = backbone.forward_taps(x, list(taps))
        for t in taps:
            feats[t].append(out[t].float().cpu().numpy())
        labels.append(np.asarray(y))
    return {t: np.concatenate(v) for t, v in feats.items()}, np.concatenate(labels)


def extract_to_file(backbone, open_split, out: Path, taps: Sequence[str], attrs: dict,
                    splits: Sequence[str] = ("train", "val", "test"), batch_size: int = 512,
                    dtype: str = "float32", device: str = "auto", num_workers: int = 0) -> Path:
    """Extract ``taps`` for every split (``open_split(split) -> Dataset``) and write ``out`` atomically."""
    dev = select_device(device)
    # channels_last on every device: on CPU it halves the time of depthwise convolutions (MobileNetV2)
    backbone = backbone.to(dev, memory_format=torch.channels_last).eval()
    unknown = [t for t in taps if t not in backbone.tap_names]
    if unknown:
        raise ValueError(f"features.taps: unknown tap(s) {unknown} for arch {attrs.get('arch')}; "
                         f"available: {backbone.tap_names}")
    payload = {}
    for split in splits:
        t0 = time.perf_counter()
        ds = open_split(split)
        feats, labels = extract_split(backbone, ds, taps, dev, batch_size, num_workers)
        payload[split] = {"features": feats, "labels": labels, "indices": np.arange(len(labels), dtype=np.int64)}
        log.info("%s %s: %d images, taps %s, %.1fs", attrs.get("dataset"), split, len(labels),
                 ",".join(f"{t}={feats[t].shape[1]}" for t in taps), time.perf_counter() - t0)
    return write_features(out, payload, attrs, dtype=dtype)
