"""The resumable SSL pretraining loop.

Outputs in ``out_dir``:
- ``checkpoint.pt``: full training state (model, optimiser, epoch, config hash), written atomically every
  ``checkpoint_every`` epochs; a rerun with the same config resumes from it;
- ``metrics.csv``: one row per epoch (loss, the method's pretext metric, lr, images/s, seconds, and the steps
  skipped for non-finite gradients); :data:`STANDARD_COLUMNS` are the columns every method writes;
- ``backbone.pt``: the final backbone weights plus provenance, written last and atomically: its presence
  means the run finished.

Randomness is derived from (seed, epoch): the data order, the augmentation parameters and torch's global
generator (which methods use for their own sampling: negatives, rotations, dropout, patch permutations) are
reseeded at the start of every epoch, and every piece of method state (momentum encoders, queues, memory
banks) is in the model's ``state_dict``; so 2 epochs straight and 1 + resume + 1 give identical weights.

Speed: the model is in channels_last memory format (``channels_last``) and runs under bf16 autocast where
``precision`` says so (``auto``: on CUDA, and on CPUs with native bf16 (AMX, AVX512-BF16) for networks
without grouped convolutions; ``bf16``: always; ``fp32``: never); losses are computed in float32
(``methods.common.full_precision``); augmentations run batched on the device (``archssl.train.augment``).
The measurements behind ``auto`` are in ``benchmarks/RESULTS.md``.

Non-finite values: a non-finite loss stops the run. A step whose gradients hold NaN/inf although its loss is
finite is skipped, with a warning naming the parameters; more than ``MAX_SKIPPED_FRACTION`` of an epoch's
steps (and more than one) stop the run. A backbone with a non-finite weight or statistic is never written.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path

import torch

from archssl.train.augment import AugmentConfig, ViewMaker, normalize, to_float
from archssl.plan import PretrainExec, PretrainJob
from archssl.train.optim import build_optimizer, lr_at
from archssl.utils import METRICS_STANDARD_COLUMNS as STANDARD_COLUMNS  # noqa: F401 (part of this module's API)
from archssl.utils import atomic_path, code_version, select_device, seed_everything, stable_hash

log = logging.getLogger("archssl.pretrain")

CKPT_FORMAT = 2
PRECISIONS = ("auto", "bf16", "fp32")


def build_method(method: str, spec: dict, method_params: dict):
    from archssl.archs import build
    from archssl.methods import METHODS

    backbone = build(spec)
    return METHODS.get(method)(backbone, method_params)


def _epoch_seed(seed: int, epoch: int, salt: int) -> int:
    return seed * 1_000_003 + epoch * 7919 + salt


def _epoch_generator(seed: int, epoch: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(_epoch_seed(seed, epoch, salt))


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (x86 AMX-BF16 or AVX512-BF16; Linux /proc/cpuinfo flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool({"amx_bf16", "avx512_bf16"} & flags)
    except OSError:
        pass
    return False


def has_grouped_conv(model: torch.nn.Module) -> bool:
    """True if ``model`` holds a grouped (e.g. depthwise) convolution."""
    return any(isinstance(m, torch.nn.Conv2d) and m.groups > 1 for m in model.modules())


def autocast_dtype(precision: str, device: torch.device, native_bf16: bool | None = None,
                   model: torch.nn.Module | None = None):
    """The autocast dtype for ``precision`` on ``device`` (None: full fp32). ``auto``: bf16 on CUDA; on CPUs
    with native bf16 (``native_bf16``, default: :func:`cpu_has_native_bf16`) bf16 unless ``model`` has a
    grouped (depthwise) convolution; else fp32.

    (bf16 depthwise convolutions are slower than fp32 ones on CPU; see benchmarks/RESULTS.md)."""
    if precision not in PRECISIONS:
        raise ValueError(f"pretrain.precision: {precision!r}; known: {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if precision == "bf16" or device.type == "cuda":
        return torch.bfloat16
    if device.type == "cpu" and (cpu_has_native_bf16() if native_bf16 is None else native_bf16):
        return None if model is not None and has_grouped_conv(model) else torch.bfloat16
    return None


def _write_metrics(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


BN_CALIBRATION_IMAGES = 4096
#: more skipped (non-finite gradient) steps than this fraction of an epoch stop the run
MAX_SKIPPED_FRACTION = 0.1


def nonfinite_grads(model: torch.nn.Module) -> list[str]:
    """Names of the parameters whose gradient holds NaN/inf (one fused max-norm over all gradients first:
    the common all-finite case costs one reduction)."""
    named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
    if not named:
        return []
    total = torch.nn.utils.get_total_norm([g for _, g in named], norm_type=float("inf"))
    if torch.isfinite(total):
        return []
    return [n for n, g in named if not torch.isfinite(g).all()]


def nonfinite_tensors(state: dict) -> list[str]:
    """Keys of the floating-point tensors of ``state`` holding NaN/inf."""
    return [k for k, v in state.items() if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()]


def _some(names: list[str], k: int = 5) -> str:
    """The first ``k`` names, comma-separated, with " ..." when there are more."""
    return ", ".join(names[:k]) + (" ..." if len(names) > k else "")


def calibrate_untrained(backbone, dataset, job: PretrainJob, exe: PretrainExec, device, mem_format) -> int:
    """BN statistics of an untrained backbone from a seeded sample of (un-augmented) pretraining images; see
    :mod:`archssl.train.bn` for why the random baseline needs them."""
    from archssl.train.bn import recalibrate_batchnorm

    n = min(len(dataset), BN_CALIBRATION_IMAGES)
    order = torch.randperm(len(dataset), generator=_epoch_generator(job.seed, 0, 4))[:n].tolist()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order), batch_size=job.batch_size,
                                         num_workers=exe.num_workers)
    batches = (normalize(to_float(x.to(device))).contiguous(memory_format=mem_format) for x, _ in loader)
    return recalibrate_batchnorm(backbone, batches)


def pretrain(spec: dict, dataset, cfg: PretrainJob, out_dir: Path, exe: PretrainExec | None = None,
             stop_after_epochs: int | None = None) -> Path:
    """Run the pretraining job ``cfg`` (:class:`archssl.plan.PretrainJob`) on ``spec`` with ``dataset``
    (items: uint8 (3, H, W), label), as ``exe`` says (device, workers, checkpoint interval).

    ``stop_after_epochs`` ends the run early (leaving a checkpoint, no ``backbone.pt``): used to test resume.
    Returns the path of ``backbone.pt`` (or of the checkpoint when stopped early).
    """
    exe = exe or PretrainExec()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path, final_path = out_dir / "checkpoint.pt", out_dir / "metrics.csv", out_dir / "backbone.pt"
    device = select_device(exe.device)
    fp = cfg.fingerprint(spec)
    seed_everything(cfg.seed)
    aug_cfg = AugmentConfig.from_dict(cfg.augment) if cfg.trains else None
    model = build_method(cfg.method, spec, cfg.method_params)
    amp_dtype = autocast_dtype(cfg.precision, device, model=model) if cfg.trains else None
    if model.trains:
        if dataset is None:
            raise ValueError(f"method {cfg.method!r} trains but no pretraining dataset was given")
        model.setup(dataset)
    model = model.to(device)
    if model.trains:
        log.info("%s on %s, %s (precision %s)", cfg.method, device,
                 "bf16 autocast" if amp_dtype is not None else "fp32", cfg.precision)
    mem_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)

    rows: list[dict] = []
    start_epoch = 0
    opt = None
    if model.trains:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = build_optimizer(params, cfg.optimizer, cfg.batch_size)
        base_lr = opt.param_groups[0]["lr"]
        if ckpt_path.exists():
            state = torch.load(ckpt_path, map_location=device, weights_only=False)
            if state.get("fingerprint") == fp and state.get("format") == CKPT_FORMAT:
                model.load_state_dict(state["model"])
                opt.load_state_dict(state["optimizer"])
                start_epoch, rows = int(state["epoch"]), list(state["metrics"])
                log.info("resuming from %s at epoch %d/%d", ckpt_path, start_epoch, cfg.epochs)
            else:
                log.warning("ignoring %s: it was written for a different config or format", ckpt_path)

    n = len(dataset) if model.trains else 0
    if model.trains and n < cfg.batch_size:
        raise ValueError(f"pretrain.batch_size={cfg.batch_size} exceeds the {n} pretraining images")
    epochs = cfg.epochs if model.trains else 0
    steps_per_epoch = n // cfg.batch_size if model.trains else 0
    total_steps = steps_per_epoch * epochs
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch)) if model.trains else 0
    last = epochs if stop_after_epochs is None else min(epochs, stop_after_epochs)
    wants = set(getattr(model, "batch_inputs", ()))

    for epoch in range(start_epoch, last if model.trains else 0):
        model.train()
        t0 = time.perf_counter()
        torch.manual_seed(_epoch_seed(cfg.seed, epoch, 3))  # the methods' own randomness, resumable
        order = torch.randperm(n, generator=_epoch_generator(cfg.seed, epoch, 1))
        view = ViewMaker(aug_cfg, cfg.image_size, _epoch_generator(cfg.seed, epoch, 2), mem_format)
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order.tolist()),
                                             batch_size=cfg.batch_size, shuffle=False, drop_last=True,
                                             num_workers=exe.num_workers, pin_memory=device.type == "cuda")
        sums: dict[str, float] = {}
        skipped = 0
        for i, (images, targets) in enumerate(loader):
            step = epoch * steps_per_epoch + i
            lr = lr_at(step, total_steps, warmup_steps, base_lr, cfg.final_lr, cfg.cosine)
            for g in opt.param_groups:
                g["lr"] = lr
            images = images.to(device, non_blocking=True)
            inputs = {}
            if "labels" in wants:
                inputs["labels"] = torch.as_tensor(targets).to(device, non_blocking=True)
            if "indices" in wants:
                inputs["indices"] = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device)
            model.on_step_start(step, total_steps)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.bfloat16,
                                enabled=amp_dtype is not None):
                loss, metrics = model.training_step(images, view, **inputs)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {float(loss)} at epoch {epoch + 1}, step {i + 1}; "
                                         f"lower pretrain.optimizer.lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            bad = nonfinite_grads(model)
            if bad:
                skipped += 1
                log.warning("epoch %d, step %d: non-finite gradients in %s (loss %.4g is finite); step skipped",
                            epoch + 1, i + 1, _some(bad), float(loss.detach()))
                if skipped > max(1.0, MAX_SKIPPED_FRACTION * steps_per_epoch):
                    raise FloatingPointError(
                        f"{skipped} of {i + 1} steps of epoch {epoch + 1} had non-finite gradients (last: "
                        f"{_some(bad)}); try pretrain.precision: fp32 or a lower pretrain.optimizer.lr")
            else:
                opt.step()
            model.after_step()
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        secs = time.perf_counter() - t0
        row = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()}, "lr": lr,
               "images_per_s": steps_per_epoch * cfg.batch_size / secs, "seconds": secs, "skipped_steps": skipped}
        rows.append(row)
        log.info("epoch %d/%d  loss %.4f  %s %.3f  lr %.3g  %.0f img/s", epoch + 1, cfg.epochs, row["loss"],
                 model.pretext_metric, row.get(model.pretext_metric, float("nan")), lr, row["images_per_s"])
        if (epoch + 1) % exe.checkpoint_every == 0 or epoch + 1 == last:
            with atomic_path(ckpt_path) as tmp:
                torch.save({"format": CKPT_FORMAT, "fingerprint": fp, "epoch": epoch + 1, "metrics": rows,
                            "model": model.state_dict(), "optimizer": opt.state_dict()}, tmp)
            _write_metrics(metrics_path, rows)

    if model.trains and last < cfg.epochs:
        return ckpt_path
    if not model.trains:
        t0 = time.perf_counter()
        if dataset is not None:
            n_bn = calibrate_untrained(model.backbone, dataset, cfg, exe, device, mem_format)
            log.info("untrained baseline: BN statistics of %d layers estimated on %d images", n_bn,
                     min(len(dataset), BN_CALIBRATION_IMAGES))
        rows = [{"epoch": 0, "loss": float("nan"), "seconds": time.perf_counter() - t0}]
    _write_metrics(metrics_path, rows)
    backbone_state = {k: v.detach().cpu().contiguous() for k, v in model.backbone.state_dict().items()}
    bad = nonfinite_tensors(backbone_state)
    if bad:
        raise FloatingPointError(f"{out_dir}: the trained backbone has non-finite values in {_some(bad)}; "
                                 f"not writing {final_path.name}. Delete "
                                 f"{ckpt_path} and rerun with pretrain.precision: fp32 or a lower pretrain.optimizer.lr")
    with atomic_path(final_path) as tmp:
        torch.save({"format": CKPT_FORMAT, "spec": spec, "method": cfg.method, "run": cfg.run, "fingerprint": fp,
                    "epochs": cfg.epochs, "job": cfg.to_dict(), "code_version": code_version(),
                    "state_dict": backbone_state}, tmp)
    if ckpt_path.exists():
        ckpt_path.unlink()
    return final_path


def load_backbone(path: Path, device="cpu"):
    """Rebuild the backbone saved by :func:`pretrain` and load its weights."""
    from archssl.archs import build

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        spec, sd = state["spec"], state["state_dict"]
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise RuntimeError(f"{path}: not a readable archssl backbone file ({e}); delete it and rerun") from e
    net = build(spec)
    net.load_state_dict(sd)
    return net.to(device), state
