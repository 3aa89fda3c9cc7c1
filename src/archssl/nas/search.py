"""The ProxylessNAS search loop with a self-supervised loss: :func:`search`.

The supernet (:class:`~archssl.nas.supernet.SuperNet`) is wrapped by an SSL method from the registry
(``METHODS.get(method)(supernet, method_params)``, SimCLR by default), whose loss replaces ProxylessNAS's
cross-entropy in both kinds of step:

- weight steps, on the pretraining set minus a held-out part: one path per block sampled from
  ``softmax(alpha)``, the method's ``training_step``, the weight optimiser (``optimizer`` with ``warmup_lr``
  in the warm-up, ``lr`` after it, each a cosine to 0 over its phase, as ProxylessNAS's ``warm_up`` and
  ``train``), then the method's ``after_step``;
- architecture steps, on held-out batches, after ``warmup_epochs``, one after every ``arch_every`` weight
  steps (ProxylessNAS's ``grad_update_arch_param_every``): a pair per block (the ``two`` mode), the method's
  loss with the weights frozen, the optional size penalty on the pair-restricted expected size
  (:func:`~archssl.nas.supernet.size_penalty`), Adam (``arch_lr``, betas (0, 0.999), eps 1e-8, no weight
  decay, as ProxylessNAS) on the logits, then the pair rescaling (ProxylessNAS's ``train`` also skips the
  architecture steps of its first joint epoch; here they start right after the warm-up). Both steps run the
  model in train mode (BN
  batch statistics), as ProxylessNAS does. The method's ``after_step`` is not called after an architecture
  step (no weight changed), so queues, memory banks and momentum encoders move with the weight steps only; a
  method that needs image indices (InstDisc) is set up on the whole set and sees held-out images whose
  memory-bank entries are never updated.

Outputs in ``out_dir`` (each written atomically with :func:`archssl.utils.atomic_path`):

- ``checkpoint.pt``: model (supernet weights and logits, the method's heads and state), both optimisers' states,
  the epoch, the trajectory and metrics rows and a fingerprint of the inputs; written every ``checkpoint_every``
  epochs and at the last one, with a content digest (:func:`archssl.integrity.save_checkpoint`; the one it
  replaces is kept as ``checkpoint.prev.pt``). A rerun with the same inputs resumes from the newest that passes
  its check (readable, its digest, finite weights; one that fails is named in the log and set aside as
  ``*.corrupt``), and since every random stream (data order, augmentations, path sampling, held-out batches,
  torch's global generator that methods use) is reseeded from (seed, epoch) at the start of every epoch, a
  search stopped after k epochs and resumed gives the same weights, logits, trajectory and genotype as one run
  straight through.
- ``trajectory.csv``: one row per epoch (0 = at initialisation) and searchable block: ``epoch``,
  ``arch_steps`` (cumulative), ``block`` (``block<stage>.<index>``), then the probability of each op of
  ``ops`` (empty where the op is not a candidate of the block), written with Python's ``repr``.
- ``metrics.csv``: one row per epoch: phase, mean weight-step loss and pretext metric, mean architecture-step
  loss (SSL part) and count, the weight lr, the expected size (params, FLOPs) under ``softmax(alpha)``, the
  argmax architecture's size and compact string, seconds.
- ``genotype.yaml``: the derived architecture (argmax per block) as an ordinary mobilenetv2 spec (the format
  of :func:`archssl.catalog.archs.save_spec`, readable by :func:`archssl.catalog.archs.load_spec`), written last: its
  presence means the search finished.

Progress goes to ``logging.getLogger("archssl.nas")``: per epoch the losses, the expected size and the argmax
architecture.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch

from archssl.catalog.nas import NASSettingsError, holdout_split, space_of, validate_settings
from archssl.integrity import load_checkpoint, save_checkpoint, set_aside
from archssl.nas.supernet import SuperNet, frozen_weights, set_paths, size_penalty
from archssl.utils import atomic_path, stable_hash
from archssl.runtime import select_device, prepare_training_layout
from archssl.catalog.archs import arch_id
from archssl.catalog import METHODS
from archssl.train.augment import AugmentConfig, ViewMaker
from archssl.train.loop import autocast_dtype
from archssl.train.optim import build_optimizer

log = logging.getLogger("archssl.nas")

CKPT_FORMAT = 2  # 2: a content digest (archssl.integrity), checked on resume; the previous one kept
#: what a search checkpoint must hold, and the parts of it that must be finite
CKPT_KEYS = ("format", "fingerprint", "epoch", "arch_steps", "model", "weight_optimizer", "arch_optimizer",
             "trajectory", "metrics")
CKPT_FINITE = ("model", "weight_optimizer", "arch_optimizer")
# salts of the per-(seed, epoch) random streams
_SPLIT, _INIT, _ORDER, _VIEWS, _GLOBAL, _PATHS, _ARCH_ORDER, _ARCH_VIEWS = range(1, 9)


def _seed(seed: int, epoch: int, salt: int) -> int:
    return seed * 1_000_003 + epoch * 7919 + salt * 104_729


def _generator(seed: int, epoch: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(seed, epoch, salt))


def split_indices(n: int, settings: dict, where: str = "nas") -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out indices, weight-training indices) of an ``n``-image set: a seeded permutation (``seed``) cut
    at the held-out count of :func:`~archssl.catalog.nas.holdout_split`."""
    held, _ = holdout_split(n, settings, where)
    perm = torch.randperm(n, generator=_generator(settings["seed"], 0, _SPLIT))
    return perm[:held], perm[held:]


def _held_out_batches(dataset, indices: torch.Tensor, batch_size: int, generator: torch.Generator,
                      num_workers: int, pin: bool):
    """Endless held-out batches ``(images, targets, indices)``: passes over a fresh permutation each."""
    while True:
        order = indices[torch.randperm(len(indices), generator=generator)]
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order.tolist()), batch_size=batch_size,
                                             shuffle=False, drop_last=True, num_workers=num_workers, pin_memory=pin)
        for j, (x, y) in enumerate(loader):
            yield x, y, order[j * batch_size:(j + 1) * batch_size]


def _cosine(step: int, total: int, base: float) -> float:
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, step / max(1, total))))


def _csv_text(rows: list[dict], fields: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _trajectory_rows(net: SuperNet, epoch: int, arch_steps: int) -> list[dict]:
    rows = []
    for m, probs in zip(net.mixed_ops, net.probabilities()):
        row: dict[str, Any] = {"epoch": epoch, "arch_steps": arch_steps, "block": m.slot.name}
        row.update({op: repr(p) for op, p in zip(m.op_names, probs)})
        rows.append(row)
    return rows


def genotype_text(spec: dict, space_note: str = "") -> str:
    """The YAML text of a genotype: :func:`archssl.catalog.archs.save_spec`'s format (id comment, then the spec)."""
    import yaml

    head = f"# archssl architecture {arch_id(spec)}\n" + (f"# {space_note}\n" if space_note else "")
    return head + yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)


def search(dataset, out_dir, method: str = "simclr", method_params: dict | None = None,
           settings: dict | None = None, *, device: str = "auto", num_workers: int = 0,
           stop_after_epochs: int | None = None, where: str = "nas") -> Path:
    """Search the ProxylessNAS space with ``method``'s loss on ``dataset`` (items: uint8 ``(3, H, W)``, label).

    ``settings``: see :func:`archssl.catalog.nas.validate_settings` (keys, defaults, checks; errors name the
    key under ``where``). ``method_params``: the method's own keys; its ``augment`` overrides
    ``settings.augment``, and its pretraining overrides (``optimizer``, ``epochs``, ...) are not read here.
    ``stop_after_epochs`` ends the search early, leaving the checkpoint and no ``genotype.yaml`` (to test and
    use resume). Returns the path of ``genotype.yaml`` (or of the checkpoint when stopped early).
    """
    if dataset is None or len(dataset) == 0:
        raise ValueError("search needs a non-empty pretraining dataset")
    s = validate_settings(settings, where, dataset_size=len(dataset))
    space = space_of(s, where)
    method_params = dict(method_params or {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, prev_path = out_dir / "checkpoint.pt", out_dir / "checkpoint.prev.pt"
    traj_path = out_dir / "trajectory.csv"
    metrics_path, geno_path = out_dir / "metrics.csv", out_dir / "genotype.yaml"
    dev = select_device(device)
    # the checkpoint interval is an execution setting: a checkpoint resumes under another one
    fp = stable_hash({"settings": {k: v for k, v in s.items() if k != "checkpoint_every"}, "method": method,
                      "method_params": method_params, "n": len(dataset)})
    seed, bs = s["seed"], s["batch_size"]
    try:
        aug = AugmentConfig.from_dict({**s["augment"], **(method_params.get("augment") or {})})
    except TypeError as e:
        raise NASSettingsError(f"{where}.augment", str(e)) from None

    torch.manual_seed(_seed(seed, 0, _INIT))
    net = SuperNet(space, arch_init_std=s["arch_init_std"])
    model = METHODS.get(method)(net, method_params)
    if not getattr(model, "trains", True):
        raise ValueError(f"method {method!r} does not train; a search needs a trained SSL loss")
    model.setup(dataset)
    model = model.to(dev)
    mem_format = prepare_training_layout(model, dev, s["channels_last"])
    amp = autocast_dtype(s["precision"], dev, model=model)
    arch_params = net.arch_parameters()
    arch_ids = {id(p) for p in arch_params}
    weights = [p for p in model.parameters() if p.requires_grad and id(p) not in arch_ids]
    wopt = build_optimizer(weights, {**s["optimizer"], "lr": s["warmup_lr"]}, bs)
    aopt = torch.optim.Adam(arch_params, lr=s["arch_lr"], betas=(0.0, 0.999), eps=1e-8, weight_decay=0.0)

    held, train = split_indices(len(dataset), s, where)
    steps = len(train) // bs
    warm, epochs, every = s["warmup_epochs"], s["epochs"], s["arch_every"]
    target = s["target"]
    wants = set(getattr(model, "batch_inputs", ()))
    pin = dev.type == "cuda"
    ops = s["ops"]
    traj: list[dict] = []
    rows: list[dict] = []
    start, arch_steps = 0, 0
    found, bad = load_checkpoint([ckpt_path, prev_path], fp, fmt=CKPT_FORMAT, keys=CKPT_KEYS, finite=CKPT_FINITE,
                                 map_location=dev, fresh="starting the search from scratch (epoch 1)")
    for path in bad:  # kept for inspection; never rotated into checkpoint.prev.pt
        log.warning("%s set aside as %s", path, set_aside(path).name)
    if found is not None:
        path, state = found
        model.load_state_dict(state["model"])
        wopt.load_state_dict(state["weight_optimizer"])
        aopt.load_state_dict(state["arch_optimizer"])
        start, arch_steps = int(state["epoch"]), int(state["arch_steps"])
        traj, rows = list(state["trajectory"]), list(state["metrics"])
        log.info("resuming the search from %s at epoch %d/%d", path, start, epochs)
    if not traj:
        traj = _trajectory_rows(net, 0, 0)
    log.info("%s search on %s: %d searchable blocks, %d weight steps/epoch, %d held-out images, %s", method, dev,
             len(space.slots), steps, len(held), "bf16 autocast" if amp is not None else "fp32")

    last = epochs if stop_after_epochs is None else min(epochs, stop_after_epochs)
    for epoch in range(start, last):
        t0 = time.perf_counter()
        model.train()
        joint = epoch >= warm
        torch.manual_seed(_seed(seed, epoch, _GLOBAL))
        g_paths = _generator(seed, epoch, _PATHS)
        order = train[torch.randperm(len(train), generator=_generator(seed, epoch, _ORDER))]
        view = ViewMaker(aug, s["image_size"], _generator(seed, epoch, _VIEWS), mem_format)
        arch_view = ViewMaker(aug, s["image_size"], _generator(seed, epoch, _ARCH_VIEWS), mem_format)
        arch_batches = _held_out_batches(dataset, held, bs, _generator(seed, epoch, _ARCH_ORDER), num_workers, pin)
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order.tolist()), batch_size=bs,
                                             shuffle=False, drop_last=True, num_workers=num_workers, pin_memory=pin)
        sums: dict[str, float] = {}
        arch_sum, arch_n = 0.0, 0
        for i, (images, targets) in enumerate(loader):
            if joint:
                lr = _cosine((epoch - warm) * steps + i, (epochs - warm) * steps, s["lr"])
            else:
                lr = _cosine(epoch * steps + i, warm * steps, s["warmup_lr"])
            for g in wopt.param_groups:
                g["lr"] = lr
            inputs = _inputs(wants, targets, order[i * bs:(i + 1) * bs], dev)
            set_paths(model, net.sample_paths(g_paths, pair=False))
            model.on_step_start(epoch * steps + i, epochs * steps)
            with torch.autocast(device_type=dev.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
                loss, metrics = model.training_step(images.to(dev, non_blocking=True), view, **inputs)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"weight-step loss became {float(loss)} at epoch {epoch + 1}, step "
                                         f"{i + 1}; lower {where}.lr / {where}.warmup_lr")
            wopt.zero_grad(set_to_none=True)
            loss.backward()
            wopt.step()
            model.after_step()
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            if joint and (i + 1) % every == 0:
                x_h, y_h, idx_h = next(arch_batches)
                arch_loss = arch_step(model, net, aopt, weights, x_h.to(dev, non_blocking=True), arch_view,
                                      _inputs(wants, y_h, idx_h, dev), target, g_paths, dev, amp)
                if not math.isfinite(arch_loss):
                    raise FloatingPointError(f"architecture-step loss became {arch_loss} at epoch {epoch + 1}; "
                                             f"lower {where}.arch_lr")
                arch_sum += arch_loss
                arch_n += 1
        arch_steps += arch_n
        secs = time.perf_counter() - t0
        choices = net.argmax_choices()
        with torch.no_grad():
            e_params = float(net.expected_size("params"))
            e_flops = float(net.expected_size("flops"))
        row = {"epoch": epoch + 1, "phase": "joint" if joint else "warmup",
               **{k: v / max(1, steps) for k, v in sums.items()},
               "arch_loss": arch_sum / arch_n if arch_n else float("nan"), "arch_steps": arch_n, "lr": lr,
               "expected_params": e_params, "expected_flops": e_flops,
               "argmax_params": space.size(choices, "params"), "argmax_flops": space.size(choices, "flops"),
               "argmax": space.describe(choices), "seconds": secs}
        rows.append(row)
        traj += _trajectory_rows(net, epoch + 1, arch_steps)
        log.info("epoch %d/%d (%s)  loss %.4f  arch_loss %.4f  E[params] %.3fM  E[flops] %.2fM  argmax %s "
                 "(%.3fM params)  %.1fs", epoch + 1, epochs, row["phase"], row.get("loss", float("nan")),
                 row["arch_loss"], e_params / 1e6, e_flops / 1e6, row["argmax"], row["argmax_params"] / 1e6, secs)
        if (epoch + 1) % s["checkpoint_every"] == 0 or epoch + 1 == last:
            save_checkpoint({"format": CKPT_FORMAT, "fingerprint": fp, "epoch": epoch + 1, "arch_steps": arch_steps,
                             "model": model.state_dict(), "weight_optimizer": wopt.state_dict(),
                             "arch_optimizer": aopt.state_dict(), "trajectory": traj, "metrics": rows},
                            ckpt_path, prev_path)
            _write(traj_path, _csv_text(traj, ["epoch", "arch_steps", "block", *ops]))
            _write(metrics_path, _csv_text(rows, list(rows[0])))

    if last < epochs:
        return ckpt_path
    _write(traj_path, _csv_text(traj, ["epoch", "arch_steps", "block", *ops]))
    if rows:
        _write(metrics_path, _csv_text(rows, list(rows[0])))
    spec = net.genotype()
    note = (f"ProxylessNAS search ({method}): {space.size(net.argmax_choices(), 'params')} params, "
            f"{space.size(net.argmax_choices(), 'flops')} FLOPs at {space.image_size} px")
    _write(geno_path, genotype_text(spec, note))

    log.info("derived architecture %s: %s", arch_id(spec), net.describe())
    return geno_path


def _inputs(wants: set, targets, indices: torch.Tensor, dev: torch.device) -> dict:
    out = {}
    if "labels" in wants:
        out["labels"] = torch.as_tensor(targets).to(dev, non_blocking=True)
    if "indices" in wants:
        out["indices"] = indices.to(dev)
    return out


def arch_step(model, net: SuperNet, aopt: torch.optim.Optimizer, weights, images: torch.Tensor, view, inputs: dict,
              target: dict | None, generator: torch.Generator, dev: torch.device, amp) -> float:
    """One architecture step (module docstring): sample the pairs with ``generator``, the method's loss on
    ``images`` with ``weights`` frozen, plus the size penalty toward ``target`` (None: none) on the
    pair-restricted expected size, backward to the logits, ``aopt.step()``, pair rescaling. Returns the SSL
    loss (without the penalty)."""
    set_paths(model, net.sample_paths(generator, pair=True))
    with frozen_weights(weights):
        with torch.autocast(device_type=dev.type, dtype=amp or torch.bfloat16, enabled=amp is not None):
            loss, _ = model.training_step(images, view, **inputs)
        total = loss.float()
        if target is not None:
            total = size_penalty(total, net.expected_size(target["kind"], paired=True), target)
        aopt.zero_grad(set_to_none=True)
        total.backward()
    before = net.pair_logits()
    aopt.step()
    net.rescale_pairs(before)
    return float(loss.detach())


__all__ = ["arch_step", "genotype_text", "search", "split_indices"]
