"""Multi-process training (the collectives of archssl.distributed, SyncBatchNorm / DDP / sharding of
archssl.train.distributed, the global-batch losses of archssl.methods.simclr and archssl.methods.moco):
2 processes (gloo, 127.0.0.1) against 1 process.

One module-scoped fixture spawns the 2 ranks once (``torch.multiprocessing.spawn``); each rank runs every
scenario and saves what it saw; the tests compare that with the single-process computation done here.

Tolerances. Both sides are float32 and compute the same sums in a different order (a BN statistic is one
sum over the batch in one process, two partial sums plus an all-reduce in two; DDP sums and divides the
gradients; the gathered NT-Xent permutes the columns of the logsumexp), so values agree to a few float32
ulps per operation, ~1e-7 to 1e-6 relative, growing through the network and 3 SGD steps (measured: losses
<= 3e-7, gradients <= 1.3e-5 (BYOL), weights and buffers <= 9e-6 of the largest entry). ``TOL`` is 1e-4 of
the reference's largest entry (``_close``): 8x the largest measured reduction-order difference, and 2-4
orders of magnitude below what the errors this file guards against produce (measured: per-rank BatchNorm
statistics 6e-2 on the SimCLR losses, a gather without the gradient all-reduce 0.5-1.2, a gradient scale off
by W = 2 a factor 2). The networks use SiLU instead of ReLU (:func:`_smooth`, which says why).
"""

from __future__ import annotations

import datetime
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from archssl import distributed as D
from archssl.archs import build
from archssl.catalog import METHODS
from archssl.methods.moco import batch_shuffle, batch_unshuffle, gather_keys, local_bn_splits, shuffled_key_forward
from archssl.methods.simclr import nt_xent, nt_xent_global
from archssl.train import distributed as TD
from archssl.train.augment import AugmentConfig, ViewMaker

WORLD = 2
SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 4, "stem": "cifar"}
N = 8  # global batch
STEPS = 3
IMG, VIEW = 20, 16
TOL = 1e-4
#: explicit (not the schema's defaults, which may change): the data of the comparisons stays fixed
AUG = {"crop_scale": (0.2, 1.0), "crop_ratio": (3 / 4, 4 / 3), "flip_p": 0.5, "jitter_strength": 0.5,
       "jitter_p": 0.8, "grayscale_p": 0.2, "blur_p": 0.0}

SCENARIOS = {
    # name: (registered method, method_params, SyncBN in the 2-process run)
    "simclr": ("simclr", {"temperature": 0.5, "head": {"kind": "mlp", "hidden": 32, "out": 16, "bn": True}}, True),
    "byol": ("byol", {"tau_base": 0.9, "tau_schedule": "cosine", "projector": {"hidden": 32, "out": 16},
                      "predictor": {"hidden": 32}}, True),
    "moco_syncbn": ("moco", {"queue_size": 32, "momentum": 0.9, "temperature": 0.2,
                             "head": {"kind": "mlp", "hidden": 32, "out": 16, "bn": False}, "bn_splits": 1}, True),
    "moco_shufflebn": ("moco", {"queue_size": 32, "momentum": 0.9, "temperature": 0.2,
                                "head": {"kind": "mlp", "hidden": 32, "out": 16, "bn": False}, "bn_splits": 2}, False),
}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max|a - b| / max|b|``."""
    a, b = a.double(), b.double()
    assert a.shape == b.shape
    assert b.abs().max() > 0, "the reference is all zeros"
    return float((a - b).abs().max() / b.abs().max())


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = TOL) -> float:
    """Assert ``|a - b| <= tol max|b|`` elementwise and return the measured ``max|a - b| / max|b|``."""
    rel = _rel(a, b)
    assert rel <= tol, f"max difference {rel:.3g} of the reference's largest entry"
    return rel


# ------------------------------------------------------------------------------------------------------
# the training runs: the methods' own training_step, in 1 process on the global batch and in W processes


def _data():
    g = torch.Generator().manual_seed(7)
    images = torch.randint(0, 256, (STEPS * N, 3, IMG, IMG), dtype=torch.uint8, generator=g)
    order = torch.randperm(STEPS * N, generator=torch.Generator().manual_seed(8))
    return images, order


def _smooth(model: torch.nn.Module) -> torch.nn.Module:
    """Every ReLU replaced by SiLU. ReLU's kink turns a float32 rounding difference of a pre-activation at 0
    into a whole element's gradient: with this data and ReLU, a block2 pre-activation of 7e-7 at the second
    step took different signs in the 1- and 2-process SimCLR runs (which differ by ~1e-6 there, as 1 and 2
    threads do) and moved that step's gradient by 3e-3 of its scale (5e-2 one step later), far above TOL,
    although neither run is wrong (the 1-process float32 gradient matched a float64 one to 2e-6). SiLU is
    smooth, so the comparison measures reduction order only."""
    for name, child in model.named_children():
        if isinstance(child, torch.nn.ReLU):
            setattr(model, name, torch.nn.SiLU())
        else:
            _smooth(child)
    return model


def train(scenario: str, distributed: bool, sync_bn: bool | None = None) -> dict:
    """STEPS SGD steps of the method's own training_step/after_step. ``distributed``: this rank's shard,
    ShardedViewMaker, SyncBN (per the scenario, or ``sync_bn``), DDP over the step; else the global batch."""
    kind, params, scenario_sync = SCENARIOS[scenario]
    images, order = _data()
    torch.manual_seed(0)
    method = _smooth(METHODS.get(kind)(build(SPEC), params))
    method.train()
    if distributed and (scenario_sync if sync_bn is None else sync_bn):
        method = TD.convert_sync_batchnorm(method)
    opt = torch.optim.SGD([p for p in method.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    names = [n for n, p in method.named_parameters() if p.requires_grad]
    if distributed:
        # small buckets (20 kB; the model has 80 kB of weights): DDP's gradient all-reduces interleave with
        # the all-reduces in the backward of the gather and of SyncBN, as in a large model
        run = TD.wrap_ddp(method, bucket_cap_mb=0.02)
        idx = TD.shard_order(order, N)
        b = TD.local_batch_size(N)
        view = TD.ShardedViewMaker(AugmentConfig(**AUG), VIEW, torch.Generator().manual_seed(9))
    else:
        run, idx, b = method.training_step, order, N
        view = ViewMaker(AugmentConfig(**AUG), VIEW, torch.Generator().manual_seed(9))
    out: dict = {"loss": [], "metric": [], "grads": []}
    torch.manual_seed(3)  # the loop's per-epoch reseed of the methods' randomness
    for i in range(STEPS):
        method.on_step_start(i, STEPS)
        loss, metrics = run(images[idx[i * b:(i + 1) * b]], view)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        method.after_step()
        out["loss"].append(float(D.all_reduce_mean(loss)))
        out["metric"].append(D.reduce_metrics(metrics)[method.pretext_metric])
        out["grads"].append({n: p.grad.detach().clone() for n, p in zip(names, (
            p for p in method.parameters() if p.requires_grad))})
    out["state"] = {k: v.detach().clone() for k, v in method.state_dict().items()}
    out["bn_types"] = sorted({type(m).__name__ for m in method.modules() if "Norm" in type(m).__name__})
    out["ddp"] = type(run).__name__
    return out


# ------------------------------------------------------------------------------------------------------
# the worker (one per rank)


def _gather_case():
    X = torch.randn(2 * 3, 4, generator=torch.Generator().manual_seed(10))
    C = torch.randn(WORLD, 2 * 3, 4, generator=torch.Generator().manual_seed(11))
    return X, C


def _nt_xent_case():
    g = torch.Generator().manual_seed(12)
    z1 = torch.randn(N, 6, generator=g)
    return z1, z1 + 0.8 * torch.randn(N, 6, generator=g)


def _bn_case():
    g = torch.Generator().manual_seed(13)
    return torch.randn(N, 3, 5, 5, generator=g) * 2 + 1, torch.randn(N, 3, 5, 5, generator=g)


def _worker(r: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ.update({"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(WORLD),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    loopback = [name for _, name in socket.if_nameindex() if name in ("lo", "lo0")]
    if loopback:  # gloo on the loopback interface only
        os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback[0])
    res: dict = {}
    device = D.init_from_env(torch.device("cpu"), timeout=datetime.timedelta(seconds=120))
    res["env"] = {"device": str(device), "backend": dist.get_backend(), "rank": D.rank(),
                  "world_size": D.world_size(), "is_distributed": D.is_distributed(), "is_main": D.is_main()}
    D.barrier()

    # all_gather_with_grad: rank-dependent losses sum_r f_r(gathered)
    X, C = _gather_case()
    x = D.shard_rows(X).clone().requires_grad_(True)
    g = D.all_gather_with_grad(x)
    torch.sin(C[r] * g).sum().backward()
    res["gather"] = {"forward": g.detach(), "grad": x.grad, "no_grad": D.all_gather_no_grad(x),
                     "no_grad_requires_grad": D.all_gather_no_grad(x).requires_grad}

    # nt_xent_global
    Z1, Z2 = _nt_xent_case()
    z1, z2 = D.shard_rows(Z1).clone().requires_grad_(True), D.shard_rows(Z2).clone().requires_grad_(True)
    loss, acc = nt_xent_global(z1, z2, 0.5)
    loss.backward()
    res["nt_xent"] = {"loss": loss.detach(), "acc": acc, "g1": z1.grad, "g2": z2.grad}

    # the CPU SyncBN: convert, forward x2 in train mode, backward of rank-dependent losses, eval forward
    Xb, Cb = _bn_case()
    net = torch.nn.Sequential(torch.nn.BatchNorm2d(3))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([1.5, 0.5, -1.0]))
        net[0].bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    weight = net[0].weight
    net = TD.convert_sync_batchnorm(net)
    xb = D.shard_rows(Xb).clone().requires_grad_(True)
    y = net(xb)
    (D.shard_rows(Cb) * y).sum().backward()
    net(D.shard_rows(Xb) * 0.5)
    net.eval()
    res["bn"] = {"type": type(net[0]).__name__, "shares_weight": net[0].weight is weight, "y": y.detach(),
                 "grad_x": xb.grad, "grad_w": net[0].weight.grad, "grad_b": net[0].bias.grad,
                 "running_mean": net[0].running_mean.clone(), "running_var": net[0].running_var.clone(),
                 "tracked": int(net[0].num_batches_tracked), "eval": net(D.shard_rows(Xb)).detach()}

    # batch_shuffle / unshuffle, RNG lockstep
    Xs = torch.arange(N * 2, dtype=torch.float32).view(N, 2)
    xs_local = D.shard_rows(Xs)
    torch.manual_seed(5)
    xs, idx = batch_shuffle(xs_local)
    res["shuffle"] = {"x": xs, "idx": idx, "back": batch_unshuffle(xs, idx), "own": xs_local,
                      "rand_after": torch.rand(3)}
    res["bn_splits"] = {s: local_bn_splits(s) for s in (1, 2, 4)}
    try:
        local_bn_splits(3)
        res["bn_splits"]["3"] = "accepted"
    except ValueError as e:
        res["bn_splits"]["3"] = str(e)
    res["reduce"] = {"mean": float(D.all_reduce_mean(torch.tensor(r + 1.0))),
                     "metrics": D.reduce_metrics({"a": float(r), "b": 2.0 * r + 1})}

    # the methods: 2 ranks x N/2 against 1 x N
    res["train"] = {s: train(s, distributed=True) for s in SCENARIOS}
    res["train_no_syncbn"] = {"simclr": train("simclr", distributed=True, sync_bn=False)}
    torch.save(res, os.path.join(out_dir, f"rank{r}.pt"))
    D.barrier()
    D.shutdown()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def single():
    return {s: train(s, distributed=False) for s in SCENARIOS}


def _flat(grads: dict) -> torch.Tensor:
    return torch.cat([g.flatten() for _, g in sorted(grads.items())])


def _rows(t: torch.Tensor, r: int) -> torch.Tensor:
    return D.shard_rows(t, r, WORLD)


# ------------------------------------------------------------------------------------------------------
# 2 processes


def test_setup_from_the_torchrun_environment(ranks):
    for r, res in enumerate(ranks):
        assert res["env"] == {"device": "cpu", "backend": "gloo", "rank": r, "world_size": WORLD,
                              "is_distributed": True, "is_main": r == 0}


def test_all_gather_with_grad_is_the_concatenation_and_sums_the_ranks_gradients(ranks):
    X, C = _gather_case()
    Xr = X.clone().requires_grad_(True)
    sum(torch.sin(C[r] * Xr).sum() for r in range(WORLD)).backward()
    for r, res in enumerate(ranks):
        g = res["gather"]
        assert torch.equal(g["forward"], X) and torch.equal(g["no_grad"], X) and not g["no_grad_requires_grad"]
        _close(g["grad"], _rows(Xr.grad, r), 1e-6)
        # the gradient of rank r's own loss alone (a GatherLayer without the all-reduce) is far off
        Xo = X.clone().requires_grad_(True)
        torch.sin(C[r] * Xo).sum().backward()
        off = _rel(_rows(Xo.grad, r), g["grad"])
        print(f"all_gather_with_grad rank {r}: own-loss-only gradient off by {off:.2f} of the scale")
        assert off > 0.1


def test_nt_xent_global_equals_single_process_nt_xent_of_the_global_batch(ranks):
    Z1, Z2 = (z.clone().requires_grad_(True) for z in _nt_xent_case())
    loss, acc = nt_xent(Z1, Z2, 0.5)
    loss.backward()
    assert 0 < float(acc) < 1  # the metric check distinguishes hits from misses
    mean_loss = sum(res["nt_xent"]["loss"] for res in ranks) / WORLD
    print(f"nt_xent_global: loss rel diff {_close(mean_loss, loss.detach(), 1e-6):.2e}")
    assert float(sum(res["nt_xent"]["acc"] for res in ranks) / WORLD) == pytest.approx(float(acc), abs=1e-7)
    for r, res in enumerate(ranks):
        # z_r gets d(sum of the ranks' losses)/dz_r = W x d(mean loss)/dz_r; DDP's average divides by W
        d1 = _close(res["nt_xent"]["g1"], WORLD * _rows(Z1.grad, r), 1e-5)
        d2 = _close(res["nt_xent"]["g2"], WORLD * _rows(Z2.grad, r), 1e-5)
        print(f"nt_xent_global rank {r}: grad rel diffs {d1:.2e} {d2:.2e}")


def test_cpu_sync_batchnorm_equals_batchnorm_over_the_global_batch(ranks):
    Xb, Cb = _bn_case()
    bn = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, 0.5, -1.0]))
        bn.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = Xb.clone().requires_grad_(True)
    y = bn(x)
    (Cb * y).sum().backward()
    bn(Xb * 0.5)
    bn.eval()
    for r, res in enumerate(ranks):
        b = res["bn"]
        assert b["type"] == "AllReduceSyncBatchNorm" and b["shares_weight"] and b["tracked"] == 2
        _close(b["y"], _rows(y.detach(), r), 1e-6)
        _close(b["grad_x"], _rows(x.grad, r), 1e-5)
        _close(b["running_mean"], bn.running_mean, 1e-6)
        _close(b["running_var"], bn.running_var, 1e-6)
        _close(b["eval"], _rows(bn(Xb).detach(), r), 1e-6)
    # weight gradients are per-rank contributions: DDP's sum over ranks (then / W) holds the global one
    _close(sum(res["bn"]["grad_w"] for res in ranks), bn.weight.grad, 1e-5)
    _close(sum(res["bn"]["grad_b"] for res in ranks), bn.bias.grad, 1e-5)


def test_batch_shuffle_is_the_permutation_drawn_from_the_global_generator(ranks):
    Xs = torch.arange(N * 2, dtype=torch.float32).view(N, 2)
    torch.manual_seed(5)
    perm = torch.randperm(N)
    rand_after = torch.rand(3)
    for r, res in enumerate(ranks):
        s = res["shuffle"]
        assert torch.equal(s["x"], _rows(Xs[perm], r))
        assert torch.equal(s["idx"], torch.argsort(perm))
        assert torch.equal(s["back"], s["own"])
        assert torch.equal(s["rand_after"], rand_after)  # every rank's generator advanced as in one process
    assert not torch.equal(ranks[0]["shuffle"]["x"], ranks[0]["shuffle"]["own"])
    assert ranks[0]["bn_splits"] == {1: 1, 2: 1, 4: 2, "3": ranks[0]["bn_splits"]["3"]}
    assert "multiple of the 2 processes" in ranks[0]["bn_splits"]["3"]


def test_metrics_are_averaged_over_ranks(ranks):
    for res in ranks:
        assert res["reduce"] == {"mean": 1.5, "metrics": {"a": 0.5, "b": 2.0}}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_two_processes_train_like_one_on_the_global_batch(ranks, single, scenario):
    ref = single[scenario]
    sync = SCENARIOS[scenario][2]
    for r, res in enumerate(ranks):
        got = res["train"][scenario]
        assert got["ddp"] == "DistributedDataParallel"
        assert ("AllReduceSyncBatchNorm" in got["bn_types"]) == sync
        dl = _close(torch.tensor(got["loss"]), torch.tensor(ref["loss"]))
        dm = _close(torch.tensor(got["metric"]), torch.tensor(ref["metric"]))
        # the gradient of each step as one vector: biases followed by BN have exact gradient 0 (float noise
        # ~1e-8 on both sides), so they are measured against the scale of the whole gradient
        dg = max(_close(_flat(got["grads"][i]), _flat(ref["grads"][i])) for i in range(STEPS))
        # MoCo's shuffle BN keeps per-rank running statistics (the emulation updates them once per group)
        keys = [k for k in ref["state"] if sync or not any(s in k for s in ("running_", "num_batches"))]
        dw = max(_close(got["state"][k].float(), ref["state"][k].float()) for k in keys)
        print(f"{scenario} rank {r}: rel diffs loss {dl:.1e} metric {dm:.1e} grads {dg:.1e} state {dw:.1e}")
    assert ranks[0]["train"][scenario]["loss"] == ranks[1]["train"][scenario]["loss"]
    for k, v in ranks[0]["train"][scenario]["state"].items():  # the ranks hold the same model and queue
        if sync or not any(s in k for s in ("running_", "num_batches")):
            assert torch.equal(v, ranks[1]["train"][scenario]["state"][k]), k


def test_per_rank_batchnorm_does_not_train_like_one_process(ranks, single):
    """Without SyncBN (BN statistics per rank) the 2-process SimCLR run differs far beyond TOL: the
    equivalence above rests on the global statistics."""
    ref, got = single["simclr"], ranks[0]["train_no_syncbn"]["simclr"]
    assert "AllReduceSyncBatchNorm" not in got["bn_types"]
    off = _rel(torch.tensor(got["loss"]), torch.tensor(ref["loss"]))
    print(f"simclr with per-rank BN: losses off by {off:.2e}")
    assert off > 100 * TOL


# ------------------------------------------------------------------------------------------------------
# one process, no process group: the identities


@pytest.fixture
def no_group(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    assert not dist.is_initialized()


def test_world_size_one_setup_is_a_plain_process(no_group, monkeypatch):
    assert D.init_from_env(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert D.init_from_env("cpu") == torch.device("cpu")
    assert not dist.is_initialized() and not D.is_distributed()
    assert (D.rank(), D.world_size(), D.is_main()) == (0, 1, True)
    D.barrier()
    D.shutdown()
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="torchrun"):
        D.init_from_env("cpu")


def test_world_size_one_collectives_are_identities(no_group):
    x = torch.randn(4, 3, requires_grad=True)
    assert D.all_gather_with_grad(x) is x
    assert D.all_reduce_sum_with_grad(x) is x
    k = D.all_gather_no_grad(x)
    assert torch.equal(k, x) and not k.requires_grad
    assert torch.equal(gather_keys(x), x)
    assert torch.equal(D.all_reduce_mean(x), x)
    assert D.reduce_metrics({"a": 0.25}) == {"a": 0.25}
    assert D.broadcast(x) is x and D.shard_rows(x) is x


def test_world_size_one_nt_xent_global_is_nt_xent(no_group):
    z1, z2 = (z.clone().requires_grad_(True) for z in _nt_xent_case())
    w1, w2 = (z.detach().clone().requires_grad_(True) for z in (z1, z2))
    loss, acc = nt_xent_global(z1, z2, 0.3)
    ref, ref_acc = nt_xent(w1, w2, 0.3)
    loss.backward()
    ref.backward()
    assert torch.equal(loss, ref) and torch.equal(acc, ref_acc)
    assert torch.equal(z1.grad, w1.grad) and torch.equal(z2.grad, w2.grad)


@pytest.mark.parametrize("bn_splits", [1, 2])
def test_world_size_one_moco_keys_are_the_bn_splits_emulation(no_group, bn_splits):
    _, params, _ = SCENARIOS["moco_syncbn"]
    torch.manual_seed(0)
    m = METHODS.get("moco")(build(SPEC), {**params, "bn_splits": bn_splits})
    x = torch.randn(N, 3, VIEW, VIEW)
    torch.manual_seed(1)
    ref = m.key(x)
    after_ref = torch.rand(2)
    torch.manual_seed(1)
    got = F.normalize(shuffled_key_forward(lambda v: m.key_head(m.key_backbone(v)), x, bn_splits).float(), dim=1)
    assert torch.equal(got, ref) and torch.equal(torch.rand(2), after_ref)
    assert local_bn_splits(bn_splits) == bn_splits
    torch.manual_seed(1)
    xs, idx = batch_shuffle(x)
    assert xs is x and torch.equal(idx, torch.arange(N))
    assert torch.equal(torch.rand(2), torch.rand(2, generator=torch.Generator().manual_seed(1)))  # no draw
    assert torch.equal(batch_unshuffle(x, idx), x)


def test_world_size_one_model_wrappers(no_group):
    kind, params, _ = SCENARIOS["simclr"]
    torch.manual_seed(0)
    m = METHODS.get(kind)(build(SPEC), params)
    assert TD.convert_sync_batchnorm(m) is m and not TD.has_sync_batchnorm(m)
    run = TD.wrap_ddp(m)
    assert isinstance(run, TD.StepForward) and run.method is m
    images = _data()[0][:N]
    torch.manual_seed(2)
    loss, metrics = run(images, ViewMaker(AugmentConfig(**AUG), VIEW, torch.Generator().manual_seed(3)))
    torch.manual_seed(2)
    ref, ref_metrics = m.training_step(images, ViewMaker(AugmentConfig(**AUG), VIEW, torch.Generator().manual_seed(3)))
    assert torch.equal(loss, ref) and metrics == ref_metrics


def test_allreduce_batchnorm_without_a_group_is_batchnorm(no_group):
    x = torch.randn(6, 3, 4, 4)
    ref, got = torch.nn.BatchNorm2d(3), TD.AllReduceSyncBatchNorm(3)
    assert torch.equal(got(x), ref(x)) and torch.equal(got.running_var, ref.running_var)
    assert set(got.state_dict()) == set(ref.state_dict())


def test_shard_order_gives_each_rank_its_contiguous_share_of_each_global_batch(no_group):
    order = torch.randperm(23, generator=torch.Generator().manual_seed(0))
    assert TD.shard_order(order, 8) is order
    shards = [TD.shard_order(order, 8, r, 2) for r in range(2)]
    assert all(len(s) == 2 * 4 for s in shards)  # 2 full global batches; the last 7 indices dropped
    for i in range(2):
        assert torch.equal(torch.cat([s[i * 4:(i + 1) * 4] for s in shards]), order[i * 8:(i + 1) * 8])
    with pytest.raises(ValueError, match="divisible"):
        TD.shard_order(order, 9, 0, 2)


def test_sharded_views_are_rows_of_the_single_process_views(no_group):
    images = _data()[0][:N]
    cfg = AugmentConfig(**{**AUG, "blur_p": 0.5})
    one = ViewMaker(cfg, VIEW, torch.Generator().manual_seed(4))
    ref = [one(images), one(images)]
    for r in range(WORLD):
        mine = TD.ShardedViewMaker(cfg, VIEW, torch.Generator().manual_seed(4), rank=r, world_size=WORLD)
        for k in range(2):
            _close(mine(_rows(images, r)), _rows(ref[k], r), 1e-6)
        assert torch.equal(mine.generator.get_state(), one.generator.get_state())
    # whole-image batches: each rank knows its own images' original sizes only
    sizes = torch.randint(12, 60, (N, 2), generator=torch.Generator().manual_seed(5))
    state = one.generator.get_state()
    whole = one.for_sizes(sizes)(images)
    assert not torch.equal(whole, one.for_sizes(None)(images))  # the sizes change the crops
    for r in range(WORLD):
        mine = TD.ShardedViewMaker(cfg, VIEW, torch.Generator().set_state(state), rank=r, world_size=WORLD)
        _close(mine.for_sizes(_rows(sizes, r))(_rows(images, r)), _rows(whole, r), 1e-6)
    alone = TD.ShardedViewMaker(cfg, VIEW, torch.Generator().manual_seed(4))
    plain = ViewMaker(cfg, VIEW, torch.Generator().manual_seed(4))
    assert alone.world_size == 1 and torch.equal(alone(images), plain(images))
