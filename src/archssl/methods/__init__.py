"""SSL methods, one module each, behind the :data:`METHODS` registry.

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

Each module's docstring lists its ``method_params`` keys; ``METHODS.get(name).defaults`` holds them.
"""

from archssl.methods.base import METHODS, SSLMethod
from archssl.methods import (  # noqa: F401  (register)
    byol,
    exemplar,
    instdisc,
    jigsaw,
    moco,
    random_init,
    relpatch,
    rotation,
    simclr,
    supervised,
)

__all__ = ["METHODS", "SSLMethod"]
