"""The resumable SSL pretraining loop.

Outputs in ``out_dir``:
- ``checkpoint.pt``: full training state (model, optimiser, epoch, step, config hash), written atomically every
  ``checkpoint_every`` epochs, and mid-epoch at the first step boundary after ``checkpoint_minutes`` of
  wall-clock time since the last one, or after SIGTERM/SIGUSR1 (then the run exits with
  :data:`PREEMPTED_EXIT`); the checkpoint it replaces is kept as ``checkpoint.prev.pt``. Both carry a content
  digest (:mod:`archssl.integrity`), checked on resume: a checkpoint that is unreadable, altered since it was
  written or holds NaN/inf weights is set aside as ``checkpoint.pt.corrupt`` (or ``.prev.pt.corrupt``), and
  the run falls back to the other one or to a fresh start, logging which. A rerun with the same config
  resumes from it, mid-epoch included: a mid-epoch checkpoint also holds the epoch's running sums and the
  state of torch's global generator (and CUDA's) and of the augmentation generator at that step, and the
  rerun skips the steps already done;
- ``metrics.csv``: one row per epoch (loss, the method's pretext metric, lr, images/s, seconds, and the steps
  skipped for non-finite gradients); :data:`STANDARD_COLUMNS` are the columns every method writes;
- ``backbone.pt``: the final backbone weights plus provenance and a content digest, written last and
  atomically: its presence means the run finished. :func:`archssl.archs.checkpoint.load_backbone` checks it on
  every read.

Randomness is derived from (seed, epoch): the data order, the augmentation parameters and torch's global
generator (which methods use for their own sampling: negatives, rotations, dropout, patch permutations) are
reseeded at the start of every epoch, and every piece of method state (momentum encoders, queues, memory
banks) is in the model's ``state_dict``; so 2 epochs straight and 1 + resume + 1 give identical weights, and
so does a run killed mid-epoch and resumed from its mid-epoch checkpoint (``tests/test_faults_pretrain.py``).

Several processes (``torchrun``; the collectives: :mod:`archssl.distributed`, DDP, SyncBatchNorm and the
sharding: :mod:`archssl.train.distributed`): ``batch_size`` stays the global batch; each rank trains its
contiguous rows of every global batch, with SyncBatchNorm, DDP-averaged gradients and the methods'
global-batch losses, so W processes train like one process on the global batch (up to float round-off);
rank 0 writes the files. With one process every collective is the identity.

Speed: the model is in channels_last memory format (``channels_last``; on a CPU not for a model whose strided
1x1 convolutions see fewer than 8 channels, and a CPU computes strided 1x1 convolutions on sliced inputs:
:func:`archssl.utils.prepare_training_layout`) and runs under bf16
autocast where ``precision`` says so (``auto``: on CUDA, and on CPUs with native bf16 (AMX, AVX512-BF16) for
networks without grouped convolutions; ``bf16``: always; ``fp32``: never); losses are computed in float32
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
import os
import signal
import threading
import time
from pathlib import Path

import torch

from archssl import distributed as D
from archssl.archs import build
from archssl.catalog import METHODS
from archssl.data.loading import split_batch
from archssl.train.bn import recalibrate_batchnorm
from archssl.train.augment import AugmentConfig, ViewMaker
from archssl.runtime import normalize, to_float
from archssl.train.compile import maybe_compile
from archssl.train.distributed import (ShardedViewMaker, convert_sync_batchnorm, local_batch_size, shard_order,
                                      wrap_ddp)
from archssl.plan import PretrainExec, PretrainJob
from archssl.train.optim import build_optimizer, lr_at
from archssl.utils import METRICS_STANDARD_COLUMNS as STANDARD_COLUMNS  # noqa: F401 (part of this module's API)
from archssl.integrity import load_checkpoint, save_checkpoint, save_sealed, set_aside
from archssl.plan.stages import stage_digest
from archssl.utils import atomic_path, code_version, stable_hash
from archssl.runtime import select_device, seed_everything, prepare_training_layout

log = logging.getLogger("archssl.pretrain")

CKPT_FORMAT = 3  # 3: a content digest (archssl.integrity) in checkpoints and backbone.pt
PRECISIONS = ("auto", "bf16", "fp32")


def build_method(method: str, spec: dict, method_params: dict):
    """The SSL method ``method`` around a new backbone of ``spec``, with a job spec's (complete) params."""
    return METHODS.get(method).build(build(spec), method_params)


def _epoch_seed(seed: int, epoch: int, salt: int) -> int:
    return seed * 1_000_003 + epoch * 7919 + salt


def _epoch_generator(seed: int, epoch: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(_epoch_seed(seed, epoch, salt))


#: oneDNN ISA caps (``ONEDNN_MAX_CPU_ISA``) below the first with bf16 dot products (AVX512_CORE_BF16)
_ONEDNN_ISAS_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (x86 AMX-BF16 or AVX512-BF16; Linux /proc/cpuinfo flags) and
    oneDNN may use it: False when ``ONEDNN_MAX_CPU_ISA`` (or the older ``DNNL_MAX_CPU_ISA``) caps oneDNN's
    kernels below AVX512_CORE_BF16, e.g. ``AVX2``, which then runs as an AVX2 CPU does (fp32)."""
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or "").strip().upper()
    if cap in _ONEDNN_ISAS_WITHOUT_BF16:
        return False
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
    n = min(len(dataset), BN_CALIBRATION_IMAGES)
    order = torch.randperm(len(dataset), generator=_epoch_generator(job.seed, 0, 4))[:n].tolist()
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, order), batch_size=job.batch_size,
                                         num_workers=exe.num_workers)
    batches = (normalize(to_float(split_batch(batch)[0].to(device))).contiguous(memory_format=mem_format)
               for batch in loader)
    return recalibrate_batchnorm(backbone, batches)


#: exit status of a run stopped by SIGTERM or SIGUSR1 once its checkpoint is written (EX_TEMPFAIL: "try again");
#: Snakemake's ``retries`` then resubmit the job, which resumes from that checkpoint
PREEMPTED_EXIT = 75
#: the signals that make the loop checkpoint at the next step boundary and exit with :data:`PREEMPTED_EXIT`
#: (SLURM sends SIGTERM at the time limit and on preemption, and ``--signal=USR1@<s>`` s before the limit)
STOP_SIGNALS = ("SIGTERM", "SIGUSR1")
#: registered methods whose state would drift apart between processes (a per-rank memory bank): refused with
#: more than one process
SINGLE_PROCESS_ONLY = {"instdisc": "its memory bank is updated from each process's own images"}


class Preempted(SystemExit):
    """Raised (exit status :data:`PREEMPTED_EXIT`) after a stop signal, once the checkpoint is written."""

    def __init__(self, message: str):
        super().__init__(PREEMPTED_EXIT)
        self.message = message

    def __str__(self) -> str:
        return self.message


class _StopSignals:
    """While active, :data:`STOP_SIGNALS` only record that a stop was asked for (``signum``); the loop acts on
    it at the next step boundary. Installed from the main thread only; the previous handlers come back on
    exit."""

    def __init__(self):
        self.signum: int | None = None
        self._old: dict = {}

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        self.signum = signum

    def __enter__(self) -> "_StopSignals":
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _ignore_stop_signals(worker_id: int) -> None:  # noqa: ARG001
    """DataLoader workers ignore :data:`STOP_SIGNALS` (SLURM signals every process of the job step): a worker
    killed by one would make the main process raise before it could checkpoint. They still end with it."""
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)


def _agree(flags: list[bool], device) -> list[bool]:
    """Each flag true on any rank (one all-reduce); one process: the flags as they are."""
    if not D.is_distributed():
        return [bool(f) for f in flags]
    t = torch.tensor([int(bool(f)) for f in flags], dtype=torch.int32, device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def _rng_state(device, view: ViewMaker) -> dict:
    out = {"torch": torch.get_rng_state(), "view": view.generator.get_state()}
    if device.type == "cuda":
        out["cuda"] = torch.cuda.get_rng_state(device)
    return out


def _set_rng_state(state: dict, device, view: ViewMaker) -> None:
    torch.set_rng_state(state["torch"].cpu())
    view.generator.set_state(state["view"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


#: what a checkpoint must hold, and the parts of it that must be finite
CKPT_KEYS = ("format", "fingerprint", "epoch", "step", "metrics", "model", "optimizer")
CKPT_FINITE = ("model", "optimizer")


def _load_checkpoint(paths: list[Path], fp: str, device) -> tuple[tuple[Path, dict] | None, list[Path]]:
    """The first of ``paths`` that passes its check and was written for fingerprint ``fp``, and the ones that
    failed (:func:`archssl.integrity.load_checkpoint`)."""
    return load_checkpoint(paths, fp, fmt=CKPT_FORMAT, keys=CKPT_KEYS, finite=CKPT_FINITE, map_location=device)


def pretrain(spec: dict, dataset, cfg: PretrainJob, out_dir: Path, exe: PretrainExec | None = None,
             stop_after_epochs: int | None = None) -> Path:
    """Run the pretraining job ``cfg`` (:class:`archssl.plan.PretrainJob`) on ``spec`` with ``dataset``
    (items: uint8 (3, H, W), label; or ``view="pretrain"`` items (canvas, label, (h, w) size), whose crops are
    then sampled relative to each whole image), as ``exe`` says (device, workers, checkpoint intervals,
    compile).

    Started by ``torchrun`` (``WORLD_SIZE`` > 1), each process trains its contiguous share of every global
    batch on its own device (:mod:`archssl.train.distributed`: DDP, SyncBatchNorm; the methods' global-batch
    losses; the collectives of :mod:`archssl.distributed`); rank 0 writes every file. One process is the
    same code path with every collective an identity.

    ``stop_after_epochs`` ends the run early (leaving a checkpoint, no ``backbone.pt``): used to test resume.
    SIGTERM / SIGUSR1 checkpoint at the next step boundary and raise :class:`Preempted` (exit status
    :data:`PREEMPTED_EXIT`). Returns the path of ``backbone.pt`` (or of the checkpoint when stopped early).
    """
    exe = exe or PretrainExec()
    owns_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    device = D.init_from_env(select_device(exe.device))
    try:
        with _StopSignals() as stop:
            return _pretrain(spec, dataset, cfg, Path(out_dir), exe, stop_after_epochs, device, stop)
    finally:
        if owns_group:
            D.shutdown()


def _pretrain(spec, dataset, cfg: PretrainJob, out_dir: Path, exe: PretrainExec, stop_after_epochs, device,
              stop: _StopSignals) -> Path:
    main = D.is_main()
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    D.barrier()
    ckpt_path, metrics_path, final_path = out_dir / "checkpoint.pt", out_dir / "metrics.csv", out_dir / "backbone.pt"
    prev_path = out_dir / "checkpoint.prev.pt"
    fp = cfg.fingerprint(spec)
    seed_everything(cfg.seed)
    aug_cfg = AugmentConfig.from_dict(cfg.augment) if cfg.trains else None
    model = build_method(cfg.method, spec, cfg.method_params)
    amp_dtype = autocast_dtype(cfg.precision, device, model=model) if cfg.trains else None
    world = D.world_size()
    if model.trains:
        if dataset is None:
            raise ValueError(f"method {cfg.method!r} trains but no pretraining dataset was given")
        if world > 1 and cfg.method in SINGLE_PROCESS_ONLY:
            raise ValueError(f"{cfg.method} cannot pretrain in {world} processes: {SINGLE_PROCESS_ONLY[cfg.method]}; "
                             f"give its runs resources.pretrain.gpus: 1")
        model.setup(dataset)
    model = model.to(device)
    if model.trains:
        log.info("%s on %s%s, %s (precision %s)", cfg.method, device, f" x {world} processes" if world > 1 else "",
                 "bf16 autocast" if amp_dtype is not None else "fp32", cfg.precision)
    mem_format = prepare_training_layout(model, device, cfg.channels_last)
    # BN over the global batch; MoCo's shuffling BN (bn_splits > 1) keeps per-rank BN on purpose
    if model.trains and int(getattr(model, "bn_splits", 1)) <= 1:
        model = convert_sync_batchnorm(model)

    rows: list[dict] = []
    start_epoch, start_step, resume = 0, 0, None
    opt = None
    if model.trains:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = build_optimizer(params, cfg.optimizer, cfg.batch_size)
        base_lr = opt.param_groups[0]["lr"]
        found, bad = _load_checkpoint([ckpt_path, prev_path], fp, device)
        D.barrier()  # every rank has read the files before rank 0 sets the bad ones aside
        if main:
            for path in bad:  # never rotated into checkpoint.prev.pt by the next save; kept for inspection
                log.warning("%s set aside as %s", path, set_aside(path).name)
        if found is not None:
            path, state = found
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start_epoch, rows = int(state["epoch"]), list(state["metrics"])
            start_step = int(state.get("step", 0))
            if start_step:
                resume = state
                log.info("resuming from %s at epoch %d/%d, step %d (mid-epoch)", path, start_epoch + 1, cfg.epochs,
                         start_step)
            else:
                log.info("resuming from %s at epoch %d/%d", path, start_epoch, cfg.epochs)
    model = maybe_compile(model, bool(exe.compile))
    run = wrap_ddp(model, device) if model.trains else None

    n = len(dataset) if model.trains else 0
    if model.trains and n < cfg.batch_size:
        raise ValueError(f"pretrain.batch_size={cfg.batch_size} exceeds the {n} pretraining images")
    b = local_batch_size(cfg.batch_size) if model.trains else 0
    epochs = cfg.epochs if model.trains else 0
    steps_per_epoch = n // cfg.batch_size if model.trains else 0
    total_steps = steps_per_epoch * epochs
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch)) if model.trains else 0
    last = epochs if stop_after_epochs is None else min(epochs, stop_after_epochs)
    wants = set(getattr(model, "batch_inputs", ()))
    interval_s = float(exe.checkpoint_minutes or 0) * 60.0
    last_ckpt = time.monotonic()

    def checkpoint(epoch_done: int, step: int, extra: dict | None = None) -> None:
        nonlocal last_ckpt
        if main:
            save_checkpoint({"format": CKPT_FORMAT, "fingerprint": fp, "epoch": epoch_done, "step": step,
                              "metrics": rows, "model": model.state_dict(), "optimizer": opt.state_dict(),
                              **(extra or {})}, ckpt_path, prev_path)
            _write_metrics(metrics_path, rows)
        D.barrier()
        last_ckpt = time.monotonic()

    def stopped(where: str) -> Preempted:
        name = signal.Signals(stop.signum).name if stop.signum else "a stop signal (another process)"
        msg = f"{name}: checkpoint written {where}; exiting with {PREEMPTED_EXIT} (a rerun resumes from it)"
        log.warning("%s", msg)
        return Preempted(msg)

    for epoch in range(start_epoch, last if model.trains else 0):
        model.train()
        t0 = time.perf_counter()
        torch.manual_seed(_epoch_seed(cfg.seed, epoch, 3))  # the methods' own randomness, resumable
        order = torch.randperm(n, generator=_epoch_generator(cfg.seed, epoch, 1))
        local = shard_order(order, cfg.batch_size)  # this rank's rows of every global batch, in step order
        view = ShardedViewMaker(aug_cfg, cfg.image_size, _epoch_generator(cfg.seed, epoch, 2), mem_format)
        first = start_step if epoch == start_epoch else 0
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, local[first * b:].tolist()),
                                             batch_size=b, shuffle=False, drop_last=True,
                                             num_workers=exe.num_workers, pin_memory=device.type == "cuda",
                                             worker_init_fn=_ignore_stop_signals if exe.num_workers else None)
        batches = iter(loader)  # (creating the iterator draws from torch's global generator)
        sums: dict[str, float] = {}
        skipped, done_before = 0, 0.0
        if first:
            # mid-epoch resume: the first `first` steps' data are skipped above; the generators, the sums and
            # the time so far are those of the step the checkpoint was written at
            _set_rng_state(resume["rng"], device, view)
            sums, skipped, done_before = dict(resume["sums"]), int(resume["skipped"]), float(resume["seconds"])
            resume = None
        for i, batch in enumerate(batches, start=first):
            images, targets, sizes = split_batch(batch)
            step = epoch * steps_per_epoch + i
            lr = lr_at(step, total_steps, warmup_steps, base_lr, cfg.final_lr, cfg.cosine)
            for g in opt.param_groups:
                g["lr"] = lr
            images = images.to(device, non_blocking=True)
            inputs = {}
            if "labels" in wants:
                inputs["labels"] = torch.as_tensor(targets).to(device, non_blocking=True)
            if "indices" in wants:
                inputs["indices"] = local[i * b:(i + 1) * b].to(device)
            model.on_step_start(step, total_steps)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.bfloat16,
                                enabled=amp_dtype is not None):
                loss, metrics = run(images, view.for_sizes(sizes) if sizes is not None else view, **inputs)
            mean_loss = D.all_reduce_mean(loss)  # the global batch's loss
            if not torch.isfinite(mean_loss):
                raise FloatingPointError(f"loss became {float(mean_loss)} at epoch {epoch + 1}, step {i + 1}; "
                                         f"lower pretrain.optimizer.lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            bad = nonfinite_grads(model)  # DDP averaged the gradients: every rank decides alike
            if bad:
                skipped += 1
                log.warning("epoch %d, step %d: non-finite gradients in %s (loss %.4g is finite); step skipped",
                            epoch + 1, i + 1, _some(bad), float(mean_loss))
                if skipped > max(1.0, MAX_SKIPPED_FRACTION * steps_per_epoch):
                    raise FloatingPointError(
                        f"{skipped} of {i + 1} steps of epoch {epoch + 1} had non-finite gradients (last: "
                        f"{_some(bad)}); try pretrain.precision: fp32 or a lower pretrain.optimizer.lr")
            else:
                opt.step()
            model.after_step()
            sums["loss"] = sums.get("loss", 0.0) + float(mean_loss)
            for k, v in D.reduce_metrics(metrics, device).items():
                sums[k] = sums.get(k, 0.0) + float(v)
            if i + 1 < steps_per_epoch:
                halt, due = _agree([stop.signum is not None,
                                    interval_s > 0 and time.monotonic() - last_ckpt >= interval_s], device)
                if halt or due:
                    checkpoint(epoch, i + 1, {"sums": sums, "skipped": skipped, "rng": _rng_state(device, view),
                                              "seconds": done_before + time.perf_counter() - t0})
                    log.info("checkpoint at epoch %d, step %d/%d (mid-epoch)", epoch + 1, i + 1, steps_per_epoch)
                    if halt:
                        raise stopped(f"at epoch {epoch + 1}, step {i + 1}/{steps_per_epoch}")
        secs = done_before + time.perf_counter() - t0
        row = {"epoch": epoch + 1, **{k: v / steps_per_epoch for k, v in sums.items()}, "lr": lr,
               "images_per_s": steps_per_epoch * cfg.batch_size / secs, "seconds": secs, "skipped_steps": skipped}
        rows.append(row)
        log.info("epoch %d/%d  loss %.4f  %s %.3f  lr %.3g  %.0f img/s", epoch + 1, cfg.epochs, row["loss"],
                 model.pretext_metric, row.get(model.pretext_metric, float("nan")), lr, row["images_per_s"])
        halt, due = _agree([stop.signum is not None,
                            interval_s > 0 and time.monotonic() - last_ckpt >= interval_s], device)
        if (epoch + 1) % exe.checkpoint_every == 0 or epoch + 1 == last or halt or due:
            checkpoint(epoch + 1, 0)
        if halt and epoch + 1 < last:
            raise stopped(f"at the end of epoch {epoch + 1}")

    if model.trains and last < cfg.epochs:
        return ckpt_path
    if not model.trains:
        t0 = time.perf_counter()
        if dataset is not None:
            n_bn = calibrate_untrained(model.backbone, dataset, cfg, exe, device, mem_format)
            log.info("untrained baseline: BN statistics of %d layers estimated on %d images", n_bn,
                     min(len(dataset), BN_CALIBRATION_IMAGES))
        rows = [{"epoch": 0, "loss": float("nan"), "seconds": time.perf_counter() - t0}]
    if main:
        _write_metrics(metrics_path, rows)
    backbone_state = {k: v.detach().cpu().contiguous() for k, v in model.backbone.state_dict().items()}
    bad = nonfinite_tensors(backbone_state)
    if bad:
        raise FloatingPointError(f"{out_dir}: the trained backbone has non-finite values in {_some(bad)}; "
                                 f"not writing {final_path.name}. Delete "
                                 f"{ckpt_path} and rerun with pretrain.precision: fp32 or a lower pretrain.optimizer.lr")
    if main:
        save_sealed({"format": CKPT_FORMAT, "spec": spec, "method": cfg.method, "run": cfg.run, "fingerprint": fp,
                     "epochs": cfg.epochs, "job": cfg.to_dict(), "code_version": code_version(),
                     "code_digest": stage_digest("pretrain", cfg.method),
                     "state_dict": backbone_state}, final_path)
        for path in (ckpt_path, prev_path):
            if path.exists():
                path.unlink()
    D.barrier()
    return final_path
