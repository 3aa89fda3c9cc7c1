"""Jigsaw puzzles (Noroozi & Favaro 2016) as in the Revisiting study.

Every image gives grid x grid = 9 patches (:mod:`archssl.methods.patches`: random crop, random gaps,
grayscale with p = 2/3 per patch, per-patch standardisation). The shared backbone embeds each patch
(backbone features -> ``head``, by default a linear layer, the network's logits layer in the study's
code); for a permutation ``perm`` of the class set, slot j of the concatenated 9 x e vector holds patch
``perm[j]``, and a classifier ``Linear(9e, hidden) - BN - ReLU - Dropout - Linear(hidden, num_permutations)``
predicts which permutation it was. The class set is ``num_permutations`` permutations of maximal
Hamming distance (:func:`archssl.methods.patches.max_hamming_permutations`). As in the study's code, each
batch draws ``perms_per_image`` of the classes and every image is shuffled by each of them, so the 9
patch embeddings of an image serve ``perms_per_image`` examples.

method_params: ``num_permutations``, ``perms_per_image``, ``hidden``, ``dropout``, ``head``,
``permutation_seed``, and the patch keys ``grid``, ``crop``, ``jitter``, ``grayscale_p``, ``normalize``
(standardize | imagenet), ``patch_size``; their defaults (the study's) are the descriptor's,
:mod:`archssl.catalog.methods.jigsaw` (the patch keys: :mod:`archssl.catalog.methods.patches`), and the
method receives them resolved.
Pretext metric ``jigsaw_acc``. Evaluation features: see :mod:`archssl.methods.patches`.
The patches are made from the raw images: ``pretrain.augment`` does not apply to this method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archssl.catalog.methods import PatchConfig
from archssl.methods.base import SSLMethod
from archssl.methods.common import top1
from archssl.methods.heads import head_from_cfg
from archssl.methods.patches import embed_patches, make_patches, max_hamming_permutations


def permute_and_concat(emb: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """emb (N, P, E), perms (M, L) of positions in [0, P) -> (N * M, L * E): row i * M + m concatenates
    emb[i, perms[m, 0]], emb[i, perms[m, 1]], ..."""
    n, _, e = emb.shape
    m, length = perms.shape
    return emb[:, perms].reshape(n * m, length * e)


def classifier(in_dim: int, hidden: int, out: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                         nn.Dropout(dropout), nn.Linear(hidden, out))


class Jigsaw(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        c = self.cfg
        self.patch_cfg = PatchConfig.from_params(c)
        k = self.patch_cfg.grid ** 2
        self.head, e = head_from_cfg(c["head"], backbone.out_dim, {},
                                     "method_params.jigsaw.head")
        self.num_perms = int(c["num_permutations"])
        self.perms_per_image = min(int(c["perms_per_image"]), self.num_perms)
        perms = torch.from_numpy(max_hamming_permutations(self.num_perms, k, int(c["permutation_seed"])))
        self.register_buffer("perms", perms, persistent=False)
        self.classifier = classifier(k * e, int(c["hidden"]), self.num_perms, float(c["dropout"]))

    def training_step(self, images, augment, **inputs):
        g = getattr(augment, "generator", None)
        p = make_patches(images, self.patch_cfg, g)  # (N, 9, 3, s, s)
        n = p.shape[0]
        emb = embed_patches(self.backbone, self.head, p, "jigsaw")
        labels = torch.randperm(self.num_perms, generator=g)[: self.perms_per_image].to(emb.device)
        x = permute_and_concat(emb, self.perms[labels])
        y = labels.repeat(n)
        logits = self.classifier(x).float()
        loss = F.cross_entropy(logits, y)
        return loss, {self.pretext_metric: float(top1(logits.detach(), y))}
