"""Relative Patch Location (Doersch et al. 2015) as in the Revisiting study: 8-way classification of where a
neighbouring patch lies relative to the centre patch of a 3 x 3 grid.

Patches as for Jigsaw (:mod:`archssl.methods.patches`: random crop, random gaps between the cells, grayscale
with p = 2/3 per patch, per-patch standardisation). Every image gives all 8 (neighbour, centre) pairs, as in
the study's code (``generate_patch_locations``): label l is the neighbour at grid position
``[0, 1, 2, 3, 5, 6, 7, 8][l]`` (row-major; 0 = top-left, 8 = bottom-right). The shared backbone embeds the
patches (backbone -> ``head``, by default a linear layer); the pair's embeddings are concatenated
(neighbour first, centre second) and ``Linear(2e, hidden) - BN - ReLU - Dropout - Linear(hidden, 8)``
classifies.

method_params: ``hidden``, ``dropout``, ``head``, and the patch keys ``grid`` (3 only), ``crop``,
``jitter``, ``grayscale_p``, ``normalize``, ``patch_size``; their defaults (the study's) are the
descriptor's, :mod:`archssl.catalog.methods.relpatch` (the patch keys: :mod:`archssl.catalog.methods.patches`),
and the method receives them resolved.
Pretext metric ``rpl_acc``. Evaluation features: see :mod:`archssl.methods.patches`.
The patches are made from the raw images: ``pretrain.augment`` does not apply to this method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from archssl.catalog.methods import PatchConfig
from archssl.methods.base import SSLMethod
from archssl.methods.common import top1
from archssl.methods.heads import head_from_cfg
from archssl.methods.jigsaw import classifier, permute_and_concat
from archssl.methods.patches import embed_patches, make_patches, relative_pairs


class RelativePatchLocation(SSLMethod):
    def __init__(self, backbone, cfg, info=None):
        super().__init__(backbone, cfg, info)
        c = self.cfg
        self.patch_cfg = PatchConfig.from_params(c)
        self.head, e = head_from_cfg(c["head"], backbone.out_dim, {},
                                     "method_params.relpatch.head")
        self.register_buffer("pairs", torch.from_numpy(relative_pairs(3)), persistent=False)
        self.classifier = classifier(2 * e, int(c["hidden"]), len(self.pairs), float(c["dropout"]))

    def training_step(self, images, augment, **inputs):
        p = make_patches(images, self.patch_cfg, getattr(augment, "generator", None))
        n = p.shape[0]
        emb = embed_patches(self.backbone, self.head, p, "relpatch")
        x = permute_and_concat(emb, self.pairs)  # (N * 8, 2e)
        y = torch.arange(len(self.pairs), device=emb.device).repeat(n)
        logits = self.classifier(x).float()
        loss = F.cross_entropy(logits, y)
        return loss, {self.pretext_metric: float(top1(logits.detach(), y))}
