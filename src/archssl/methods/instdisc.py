"""Instance discrimination with a memory bank (InstDisc; Wu et al. 2018).

The bank holds one L2-normalised 128-d feature per pretraining image (``setup`` sizes it to the dataset;
it starts as random unit vectors and lives in a buffer, so checkpoints carry it). Per step, one augmented
view per image gives ``f = normalize(head(backbone(x)))``; its positive is the bank entry of the same
image, its K negatives are bank entries drawn uniformly with replacement (the original samples from all n
entries, its own included, with probability 1/n). Two losses:

``nce`` (the paper's): with ``P(i|f) = exp(v_i . f / T) / Z`` and noise ``Pn = 1/n``,
``h(i, f) = P(i|f) / (P(i|f) + K Pn)``; loss ``= -log h(pos) - sum_j log(1 - h(neg_j))`` averaged over the
batch. ``Z`` is estimated once, on the first batch, as ``n * mean(exp(v . f / T))`` over the sampled
entries (as the authors' code does), and kept (a buffer) for the rest of the run.

The paper's setting has K / n = 4096 / 1.28M; on small pretraining sets (K / n above 0.1, e.g. the 5,000-image
mini pool) this NCE diverges (the loss grows every epoch) and ``setup`` warns: use ``softmax`` there.

``softmax``: cross-entropy over the K + 1 logits ``[v_pos . f, v_neg . f] / T`` (positive at index 0).

After the step, each bank entry moves toward the new feature: ``v <- normalize(m v + (1 - m) f)``,
``m = bank_momentum``.

method_params: ``negatives`` (K), ``temperature``, ``loss`` (nce | softmax), ``bank_momentum``, ``head``;
their defaults are the descriptor's, :mod:`archssl.catalog.methods.instdisc`, and the method receives them
resolved. Needs each image's dataset index (``batch_inputs = indices``).
Pretext metric ``contrastive_top1``: how often the positive scores above all K sampled negatives.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from archssl.methods.base import SSLMethod
from archssl.methods.common import full_precision
from archssl.methods.heads import head_from_cfg

log = logging.getLogger("archssl.methods.instdisc")

#: above this K/n (the noise mass K * Pn) NCE with a fixed Z is unstable (the paper: 4096 / 1.28M = 0.003)
NCE_MAX_NOISE_RATIO = 0.1
#: bank_logits multiplies by the whole bank when it has at most this many times the K + 1 entries per row
FULL_BANK_FACTOR = 4


@full_precision
def nce_loss(out: torch.Tensor, n_data: int) -> torch.Tensor:
    """NCE loss of InstDisc. ``out`` (N, K + 1): ``exp(v . f / T) / Z`` with the positive in column 0."""
    k = out.shape[1] - 1
    noise = k / n_data  # K * Pn
    pos = out[:, 0]
    neg = out[:, 1:]
    ln_pos = torch.log(pos / (pos + noise))
    ln_neg = torch.log(noise / (neg + noise))
    return -(ln_pos.sum() + ln_neg.sum()) / out.shape[0]


@full_precision
def bank_logits(f: torch.Tensor, bank: torch.Tensor, pos_idx: torch.Tensor, neg_idx: torch.Tensor) -> torch.Tensor:
    """(N, K + 1) dot products ``[v_pos . f, v_neg_1 . f, ...]``: positive in column 0.

    When the bank is small against the K + 1 entries each row needs (n <= ``FULL_BANK_FACTOR`` (K + 1), e.g.
    K = 4096 on a 5,000-image pool), one product with the whole bank, ``f @ bank^T`` (N, n), then a gather, is
    far cheaper than gathering an (N, K + 1, D) copy of the bank (forward + backward at batch 128, K = 4096,
    n = 5,000, D = 128, one CPU thread: 0.30 s -> 0.009 s per step);
    otherwise (the paper's 1.28M-entry bank) only the sampled entries are read. Same values either way."""
    idx = torch.cat([pos_idx[:, None], neg_idx], 1)
    if bank.shape[0] <= FULL_BANK_FACTOR * idx.shape[1]:
        return (f @ bank.T).gather(1, idx)
    v = bank[idx]  # (N, K + 1, D)
    return torch.einsum("nkd,nd->nk", v, f)


@torch.no_grad()
def bank_update(bank: torch.Tensor, idx: torch.Tensor, f: torch.Tensor, momentum: float) -> None:
    """``bank[i] <- normalize(m bank[i] + (1 - m) f)`` in place."""
    v = bank[idx] * momentum + f.detach().to(bank.dtype) * (1.0 - momentum)
    bank[idx] = F.normalize(v, dim=1)


class InstDisc(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        c = self.cfg
        self.head, self.dim = head_from_cfg(c["head"], backbone.out_dim, {},
                                            "method_params.instdisc.head")
        self.negatives = int(c["negatives"])
        self.temperature = float(c["temperature"])
        self.loss_kind = str(c["loss"])
        self.bank_momentum = float(c["bank_momentum"])
        self.register_buffer("bank", torch.zeros(0, self.dim))
        self.register_buffer("z", torch.tensor(-1.0))  # NCE normaliser; < 0 until estimated
        self._pending = None

    def setup(self, dataset) -> None:
        n = len(dataset)
        self.bank = F.normalize(torch.randn(n, self.dim), dim=1)
        if self.loss_kind == "nce" and n and self.negatives / n > NCE_MAX_NOISE_RATIO:
            log.warning("instdisc: NCE with K=%d negatives on %d images (K/n = %.2f): the fixed normaliser Z, "
                        "estimated on the first batch, makes the loss diverge when the noise mass K/n is this "
                        "large (seen on the 5,000-image mini pool); use method_params.instdisc.loss: softmax "
                        "or fewer negatives", self.negatives, n, self.negatives / n)

    def training_step(self, images, augment, indices=None, **inputs):
        if indices is None:
            raise ValueError("instdisc needs the images' dataset indices")
        n = self.bank.shape[0]
        if n == 0:
            raise RuntimeError("instdisc: setup(dataset) was not called (the memory bank is empty)")
        idx = indices.to(self.bank.device)
        f = F.normalize(self.head(self.backbone(augment(images))).float(), dim=1)
        neg = torch.randint(0, n, (len(idx), self.negatives), device=self.bank.device)
        logits = bank_logits(f, self.bank, idx, neg)
        if self.loss_kind == "softmax":
            loss = F.cross_entropy(logits / self.temperature, torch.zeros(len(idx), dtype=torch.long, device=f.device))
        else:
            out = torch.exp(logits / self.temperature)  # float32: bank_logits runs without autocast
            if float(self.z) < 0:
                self.z.fill_(float(out.detach().mean()) * n)
            loss = nce_loss(out / self.z, n)
        acc = (logits[:, 0] > logits[:, 1:].max(1).values).float().mean()
        self._pending = (idx, f.detach())
        return loss, {self.pretext_metric: float(acc)}

    @torch.no_grad()
    def after_step(self) -> None:
        if self._pending is not None:
            bank_update(self.bank, *self._pending, self.bank_momentum)
            self._pending = None


__all__ = ["InstDisc", "nce_loss", "bank_logits", "bank_update"]
