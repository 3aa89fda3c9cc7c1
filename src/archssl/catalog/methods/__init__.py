"""The SSL methods' descriptors (:class:`~archssl.catalog.methods.base.MethodInfo`), one module per method,
registered in :data:`METHODS`; the implementations live in :mod:`archssl.methods` (torch).

=============  ===========================================  ===================
name           method                                       pretext metric
=============  ===========================================  ===================
random         untrained baseline (random initialisation)   none
simclr         SimCLR, NT-Xent over the batch                contrastive_top1
moco           MoCo v2: momentum encoder + key queue         contrastive_top1
instdisc       InstDisc: memory bank, NCE or softmax         contrastive_top1
byol           BYOL: predictor + EMA target                  cosine_sim
rotation       4-way rotation prediction                     rotation_acc
exemplar       Exemplar: 8 views, triplet loss               exemplar_nn_acc
jigsaw         Jigsaw: 3x3 patches, permutation class        jigsaw_acc
relpatch       Relative patch location, 8-way                rpl_acc
supervised     cross-entropy on the labels                   train_top1
=============  ===========================================  ===================

Each descriptor's ``params`` are the method's ``method_params`` with their defaults, types and ranges: the one
place they are written. Adding a method is one module here (its ``INFO``), its implementation in
:mod:`archssl.methods`, and one entry in :data:`BUILTIN` below.
"""

from __future__ import annotations

from archssl.catalog.methods import (byol, exemplar, instdisc, jigsaw, moco, random_init, relpatch, rotation,
                                     simclr, supervised)
from archssl.catalog.methods.base import (HEAD_DEFAULTS, HEAD_KEYS, HEADS, METHODS, PRETRAIN_OVERRIDES,
                                          RESERVED_KEYS, MethodInfo, head, info_of, register_method)
from archssl.catalog.methods.patches import PATCH_DEFAULTS, PATCH_PARAMS, PatchConfig

#: the built-in methods' descriptor modules
BUILTIN = (random_init, simclr, moco, instdisc, byol, rotation, exemplar, jigsaw, relpatch, supervised)
for _module in BUILTIN:
    register_method(_module.INFO)

__all__ = ["HEADS", "HEAD_DEFAULTS", "HEAD_KEYS", "METHODS", "MethodInfo", "PATCH_DEFAULTS", "PATCH_PARAMS",
           "PRETRAIN_OVERRIDES", "PatchConfig", "RESERVED_KEYS", "head", "info_of", "register_method"]
