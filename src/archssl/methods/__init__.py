"""SSL methods: the torch-free registry :data:`METHODS` of :class:`~archssl.methods.info.MethodInfo`
descriptors, one entry per method below; each implementation is one module of this package (imported, with
torch, only when a method is built).

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

Each entry's ``params`` are the method's ``method_params`` with their defaults and ranges (the one place
they are written; the implementation modules' docstrings explain them). Adding a method is one module with
an :class:`~archssl.methods.base.SSLMethod` subclass plus one ``register_method(MethodInfo(...))`` line.
"""

from __future__ import annotations

from archssl.methods.info import (HEAD_KEYS, HEADS, METHODS, PRETRAIN_OVERRIDES, RESERVED_KEYS, MethodInfo,
                                  head, info_of, register_method)
from archssl.methods.patchcfg import PatchConfig
from archssl.params import ParamError, boolean, choice, integer, number

__all__ = ["HEADS", "HEAD_KEYS", "METHODS", "MethodInfo", "PRETRAIN_OVERRIDES", "RESERVED_KEYS", "SSLMethod",
           "info_of", "register_method"]

_M = "archssl.methods."

#: the patch keys of jigsaw / relpatch (:class:`archssl.methods.patchcfg.PatchConfig`)
PATCH_PARAMS = {
    "grid": integer(PatchConfig.grid, ge=2),
    "crop": number(PatchConfig.crop, gt=0, le=1),
    "jitter": number(PatchConfig.jitter, ge=0, lt=1),
    "grayscale_p": number(PatchConfig.grayscale_p, ge=0, le=1),
    "normalize": choice(PatchConfig.normalize, ("standardize", "imagenet")),
    "patch_size": integer(PatchConfig.patch_size, ge=1, null=True),
}


def _check_patches(p: dict, ctx: dict, where: str) -> None:
    try:
        PatchConfig.from_params(p).geometry(int(ctx["image_size"]))
    except ValueError as e:
        raise ParamError(f"config key '{where}.jitter': {e} (data.image_size is {ctx['image_size']})") from None


def _check_moco(p: dict, ctx: dict, where: str) -> None:
    b = int(ctx["batch_size"])
    if p["queue_size"] < b:
        raise ParamError(f"config key '{where}.queue_size': {p['queue_size']} is smaller than the batch ({b}): "
                         f"every step would overwrite the whole queue with its own keys")
    if b % p["bn_splits"]:
        raise ParamError(f"config key '{where}.bn_splits': {p['bn_splits']} does not divide the batch ({b})")


register_method(MethodInfo("random", _M + "random_init:RandomInit", pretext_metric="none", trains=False))
register_method(MethodInfo("simclr", _M + "simclr:SimCLR", pretext_metric="contrastive_top1", params={
    "temperature": number(0.5, gt=0), "head": head(kind="mlp", hidden=2048, out=128, bn=True)}))
register_method(MethodInfo("moco", _M + "moco:MoCo", pretext_metric="contrastive_top1", check=_check_moco, params={
    "queue_size": integer(65536, ge=1), "momentum": number(0.999, ge=0, lt=1), "temperature": number(0.2, gt=0),
    "head": head(kind="mlp", hidden=2048, out=128, bn=False), "symmetric": boolean(False),
    "bn_splits": integer(1, ge=1), "hard_negatives": boolean(False), "hard_skew": number(4.0),
    "hard_loc": number(0.0), "hard_scale": number(0.2, gt=0)}))
register_method(MethodInfo("instdisc", _M + "instdisc:InstDisc", pretext_metric="contrastive_top1",
                           batch_inputs=("indices",), params={
    "negatives": integer(4096, ge=1), "temperature": number(0.07, gt=0), "loss": choice("nce", ("nce", "softmax")),
    "bank_momentum": number(0.5, ge=0, lt=1), "head": head(kind="linear", out=128)}))
register_method(MethodInfo("byol", _M + "byol:BYOL", pretext_metric="cosine_sim", params={
    "tau_base": number(0.996, ge=0, le=1), "tau_schedule": choice("cosine", ("cosine", "constant")),
    "projector": head(kind="mlp", hidden=4096, out=256, bn=True),
    "predictor": head(out=False, kind="mlp", hidden=4096, bn=True)}))
register_method(MethodInfo("rotation", _M + "rotation:Rotation", pretext_metric="rotation_acc", params={
    "mode": choice("all", ("all", "random")), "head": head(kind="none")}))
register_method(MethodInfo("exemplar", _M + "exemplar:Exemplar", pretext_metric="exemplar_nn_acc", params={
    "copies": integer(8, ge=2), "margin": number(0.5, ge=0), "head": head(kind="linear", out=1000)}))
register_method(MethodInfo("jigsaw", _M + "jigsaw:Jigsaw", pretext_metric="jigsaw_acc", patch_based=True,
                           check=_check_patches, params={
    "num_permutations": integer(100, ge=2), "perms_per_image": integer(8, ge=1), "hidden": integer(4096, ge=1),
    "dropout": number(0.5, ge=0, lt=1), "head": head(kind="linear", out=1000), "permutation_seed": integer(0, ge=0),
    **PATCH_PARAMS}))
register_method(MethodInfo("relpatch", _M + "relpatch:RelativePatchLocation", pretext_metric="rpl_acc",
                           patch_based=True, check=_check_patches, params={
    "hidden": integer(4096, ge=1), "dropout": number(0.5, ge=0, lt=1), "head": head(kind="linear", out=1000),
    **PATCH_PARAMS, "grid": {**PATCH_PARAMS["grid"], "enum": [3],
                             "description": "the 8-way task is defined on a 3 x 3 grid"}}))
register_method(MethodInfo("supervised", _M + "supervised:Supervised", pretext_metric="train_top1",
                           batch_inputs=("labels",), params={
    "num_classes": integer(None, ge=2, null=True), "label_smoothing": number(0.0, ge=0, lt=1)}))


def __getattr__(name: str):
    if name == "SSLMethod":  # the torch base class, imported on first use
        from archssl.methods.base import SSLMethod

        return SSLMethod
    raise AttributeError(f"module 'archssl.methods' has no attribute {name!r}")
