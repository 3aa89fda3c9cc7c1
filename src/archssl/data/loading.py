"""DataLoader settings for a job: worker count from the job's CPUs, pinned memory, prefetching, and an
epoch-reorderable sampler so that one loader (and its persistent workers) can serve every epoch.

Torch is imported inside the functions only (``archssl.data`` stays torch-free at import time).

    from archssl.data.loading import loader_kwargs, EpochOrder, split_batch
    sampler = EpochOrder(len(dataset))
    loader = DataLoader(dataset, batch_size=B, sampler=sampler, drop_last=True,
                        **loader_kwargs("auto", device))
    for epoch in ...:
        sampler.set_order(order_of(epoch))          # any permutation, e.g. the loop's seeded randperm
        for batch in loader:
            images, targets, sizes = split_batch(batch)   # sizes: None unless view="pretrain"
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

#: batches each worker keeps in flight (DataLoader's default is 2); 4 covers the jitter of JPEG decoding
PREFETCH_FACTOR = 4


def job_cpus() -> int:
    """CPUs this job may use: ``SLURM_CPUS_PER_TASK`` when SLURM sets it, else the process's CPU affinity
    (``os.sched_getaffinity``: respects ``taskset``, cgroups cpusets), else ``os.cpu_count()``."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(cpus: int | None = None, reserve: int = 1) -> int:
    """Worker processes for ``cpus`` CPUs (default :func:`job_cpus`): all but ``reserve`` (the main process,
    which runs the training step and feeds the device), and 0 (load in the main process) on one CPU."""
    cpus = job_cpus() if cpus is None else int(cpus)
    return max(0, cpus - reserve)


def loader_kwargs(num_workers: int | str | None, device: Any, prefetch_factor: int = PREFETCH_FACTOR
                  ) -> dict[str, Any]:
    """Keyword arguments for ``torch.utils.data.DataLoader``.

    ``num_workers``: an int >= 0, or ``"auto"`` / ``None`` for :func:`default_workers`. ``device``: where the
    batches go (a ``torch.device`` or its name): ``pin_memory`` is set for CUDA (page-locked batches make
    ``.to(device, non_blocking=True)`` asynchronous). With workers, ``persistent_workers=True`` (workers and
    their dataset copies survive between epochs: it pays off when one DataLoader serves every epoch, see
    :class:`EpochOrder`; a loader built per epoch still works, its workers end with it) and
    ``prefetch_factor``. Without workers, neither key is given (DataLoader rejects them then)."""
    import torch

    if num_workers in (None, "auto"):
        n = default_workers()
    elif isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: expected an int >= 0 or 'auto', got {num_workers!r}")
    else:
        n = num_workers
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    out: dict[str, Any] = {"num_workers": n, "pin_memory": dev.type == "cuda"}
    if n > 0:
        if prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be >= 1, got {prefetch_factor!r}")
        out["persistent_workers"] = True
        out["prefetch_factor"] = int(prefetch_factor)
    return out


class EpochOrder:
    """A sampler yielding a settable order of dataset indices: ``set_order(order)`` before each epoch.

    The order lives in the main process (the DataLoader asks the sampler for indices there), so one loader
    with persistent workers serves every epoch with a fresh, reproducible order and no worker restart."""

    def __init__(self, n: int, order: Sequence[int] | None = None):
        self.n = int(n)
        self.order: list[int] = list(range(self.n)) if order is None else self._check(order)

    def _check(self, order: Sequence[int]) -> list[int]:
        order = [int(i) for i in (order.tolist() if hasattr(order, "tolist") else order)]
        if order and (min(order) < 0 or max(order) >= self.n):
            raise ValueError(f"order holds indices outside 0..{self.n - 1}")
        return order

    def set_order(self, order: Sequence[int]) -> None:
        """Use ``order`` (indices into the dataset, e.g. a permutation) from the next iteration on."""
        self.order = self._check(order)

    def __iter__(self) -> Iterator[int]:
        return iter(list(self.order))

    def __len__(self) -> int:
        return len(self.order)


def split_batch(batch: Sequence[Any]) -> tuple[Any, Any, Any]:
    """``(images, targets, sizes)`` of a collated batch: ``sizes`` is the ``(N, 2)`` (height, width) tensor of
    ``view="pretrain"`` items (pass it to ``ViewMaker.for_sizes``), None for ``(images, targets)`` items."""
    if len(batch) == 2:
        return batch[0], batch[1], None
    if len(batch) == 3:
        return batch[0], batch[1], batch[2]
    raise ValueError(f"expected batches of (images, targets) or (images, targets, sizes), got {len(batch)} parts")
