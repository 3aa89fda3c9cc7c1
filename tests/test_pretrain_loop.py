"""The pretraining loop on whole-image views (``view="pretrain"`` items of an on-disk JPEG folder) and in
2 processes (torchrun's environment, gloo on the CPU) against 1 process on the same global batch."""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from archssl.catalog.datasets import DATASETS
from archssl.plan import PretrainExec, PretrainJob
from archssl.train import augment as A
from archssl.train import loop
from support.fakes import make_imagenet

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}
WNIDS = ("n01440764", "n01443537", "n01484850")


def job(method, params, batch_size=8, epochs=1, size=16, optimizer=None, precision="auto"):
    return PretrainJob.build(method, seed=7, image_size=size,
                             pretrain={"epochs": epochs, "batch_size": batch_size, "warmup_epochs": 0.5,
                                       "optimizer": optimizer or {"name": "lars", "lr": 0.5},
                                       "precision": precision},
                             method_params=params)


def test_simclr_pretrains_one_epoch_on_whole_image_views(tmp_path, monkeypatch):
    make_imagenet(tmp_path / "imagenet", WNIDS, per_class_train=6)
    src = dataclasses.replace(DATASETS.get("imagenet"), num_classes=len(WNIDS))
    data = src.open("train", tmp_path / "imagenet", 16, view="pretrain")
    canvas, _, size = data[0]
    assert canvas.dtype == torch.uint8 and size.dtype == torch.int64 and size.shape == (2,)
    seen = []
    for_sizes = A.BatchAugment.for_sizes
    monkeypatch.setattr(A.BatchAugment, "for_sizes", lambda self, s: seen.append(s) or for_sizes(self, s))
    torch.set_num_threads(1)
    out = loop.pretrain(SPEC, data, job("simclr", {"head": {"hidden": 16, "out": 8}}), tmp_path / "run",
                        PretrainExec(device="cpu"))
    assert out.name == "backbone.pt"
    steps = len(data) // 8
    assert len(seen) == steps  # every step's views were cropped relative to its whole images
    sizes = torch.stack([data[i][2] for i in range(len(data))])
    for s in seen:
        assert s.shape == (8, 2) and any(torch.equal(row, r) for row in s for r in sizes)
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and math.isfinite(float(rows[1].split(",")[1]))


# ------------------------------------------------------------------------------------------------------
# 2 processes through the loop

WORLD = 2
TOL = 1e-4  # of the reference's largest entry; tests/test_distributed.py says why (reduction order only)
CASES = {
    "simclr": {"temperature": 0.5, "head": {"kind": "mlp", "hidden": 16, "out": 8, "bn": True}},
    "moco": {"queue_size": 32, "momentum": 0.9, "head": {"kind": "mlp", "hidden": 16, "out": 8, "bn": False},
             "bn_splits": 2, "hard_negatives": True},
    "byol": {"projector": {"hidden": 16, "out": 8}, "predictor": {"hidden": 16}},
}


#: the comparison is in float32 (``precision: auto`` is bf16 on CPUs with AMX, whose rounding of different
#: partial sums differs by 2^-8), with the loop's default optimiser (LARS)
OPTIMIZER = None


class Images(torch.utils.data.Dataset):
    def __init__(self, n=32, size=16):
        g = torch.Generator().manual_seed(123)
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], 0


def _smooth_build(build):
    """``loop.build_method`` with every ReLU replaced by SiLU (no parameters change): ReLU's kink turns a
    float32 rounding difference at 0 into a whole gradient element (tests/test_distributed.py, _smooth)."""
    def smooth(m):
        for name, child in m.named_children():
            setattr(m, name, torch.nn.SiLU()) if isinstance(child, torch.nn.ReLU) else smooth(child)
        return m

    return lambda *a, **k: smooth(build(*a, **k))


def _run_all(out_dir: str) -> dict:
    loop.build_method = _smooth_build(loop.build_method)
    torch.set_num_threads(1)
    res = {}
    for method, params in CASES.items():
        path = loop.pretrain(SPEC, Images(), job(method, params, epochs=2, optimizer=OPTIMIZER, precision="fp32"), os.path.join(out_dir, method),
                             PretrainExec(device="cpu", checkpoint_minutes=0))
        res[method] = {"path": str(path), "state": torch.load(path, weights_only=False)["state_dict"],
                       "metrics": open(os.path.join(out_dir, method, "metrics.csv")).read()}
    return res


def _worker(r: int, port: int, out_dir: str) -> None:
    from archssl import distributed as D

    os.environ.update({"RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": str(WORLD),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    if any(name == "lo" for _, name in socket.if_nameindex()):
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    D.init_from_env(torch.device("cpu"), timeout=datetime.timedelta(seconds=120))
    res = _run_all(out_dir)
    res["still_grouped"] = D.is_distributed()  # pretrain leaves a group it did not create
    torch.save(res, os.path.join(out_dir, f"rank{r}.pt"))
    D.barrier()
    D.shutdown()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d1, d2 = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(d2)), nprocs=WORLD, join=True)
    build = loop.build_method
    try:
        one = _run_all(str(d1))
    finally:
        loop.build_method = build
    return one, [torch.load(d2 / f"rank{r}.pt", weights_only=False) for r in range(WORLD)], d2


@pytest.mark.parametrize("method", list(CASES))
def test_two_processes_pretrain_like_one_on_the_global_batch(runs, method):
    one, two, d2 = runs
    ref, got = one[method]["state"], two[0][method]["state"]
    assert two[0]["still_grouped"] and two[1][method]["path"] == two[0][method]["path"]
    assert not (d2 / method / "checkpoint.pt").exists()
    worst = 0.0
    for k, v in ref.items():
        if CASES[method].get("bn_splits", 1) > 1 and ("running_" in k or "num_batches_tracked" in k):
            # shuffling BN: one process updates the running statistics once per BN group (twice a step),
            # each rank once with its own group, and rank 0's are saved: they differ by design
            continue
        if not v.is_floating_point():
            assert torch.equal(v, got[k]), k
            continue
        scale = float(v.abs().max()) or 1.0
        rel = float((got[k] - v).abs().max()) / scale
        worst = max(worst, rel)
        assert rel <= TOL, (k, rel)
    loss1 = [float(x.split(",")[1]) for x in one[method]["metrics"].splitlines()[1:]]
    loss2 = [float(x.split(",")[1]) for x in two[0][method]["metrics"].splitlines()[1:]]
    assert len(loss1) == len(loss2) == 2 and max(abs(a - b) for a, b in zip(loss1, loss2)) <= 1e-5 * max(loss1)
    print(f"{method}: 2 processes vs 1 after 2 epochs x 4 steps: weights max rel diff {worst:.2e}, "
          f"losses {loss1} vs {loss2}")


# ---------------------------------------------------------------------------------- memory format on a CPU

_STRIDED_1X1 = """
import sys, torch
sys.path.insert(0, {src!r})
from archssl.runtime import prepare_training_layout
torch.set_num_threads(1)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1, stride=2, bias=False), torch.nn.ReLU())
fmt = prepare_training_layout(net, torch.device("cpu"), True)
for fmt_x in (fmt, torch.channels_last):
    for n, hw in ((256, 16), (576, 16), (64, 7)):
        x = torch.randn(n, 4, hw, hw).contiguous(memory_format=fmt_x).requires_grad_()
        net(x).pow(2).sum().backward()
print(fmt)
"""


def test_a_strided_1x1_convolution_over_few_channels_trains_contiguous_on_a_cpu():
    """oneDNN's CPU backward of a stride-2 1x1 convolution over 4 channels in channels_last corrupts the heap
    (torch 2.14.1, AVX2, one thread: the process aborts). The format chosen for training avoids it on a CPU,
    keeps channels_last elsewhere and for every other model; the backward pass of such a layer, laid out for
    training, runs to the end in a fresh process (a crash there would not take the test session down), with
    oneDNN held to its AVX2 kernels (``ONEDNN_MAX_CPU_ISA``) so that the kernel at fault runs on any x86 CPU,
    in both formats (the sliced input alone avoids it)."""
    import subprocess
    import sys

    from archssl.runtime import training_memory_format

    def conv(cin, k, stride, groups=1):
        return torch.nn.Sequential(torch.nn.Conv2d(cin, 16, k, stride=stride, groups=groups, bias=False))

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert training_memory_format(conv(4, 1, 2), cpu, True) == torch.contiguous_format
    assert training_memory_format(conv(4, 1, 2), cuda, True) == torch.channels_last
    for ok in (conv(8, 1, 2), conv(4, 1, 1), conv(4, 3, 2), conv(16, 1, 2, groups=2)):
        assert training_memory_format(ok, cpu, True) == torch.channels_last
    assert training_memory_format(conv(16, 1, 2, groups=4), cpu, True) == torch.contiguous_format
    assert training_memory_format(conv(8, 1, 2), cpu, False) == torch.contiguous_format
    src = str(Path(__file__).resolve().parents[1] / "src")
    r = subprocess.run([sys.executable, "-c", _STRIDED_1X1.format(src=src)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert r.stdout.strip() == "torch.contiguous_format"


def test_strided_1x1_convolutions_on_sliced_inputs_compute_the_same_function_and_gradients():
    """The CPU's sliced form of a strided 1x1 convolution against the unmodified convolution (torch's own, in
    float64): the same outputs and gradients (input and weights) for strides 2 and 3, odd and even sizes,
    groups and bias; the state_dict is untouched; padded, dilated, 3x3 and stride-1 convolutions are left as
    they are, and nothing changes on CUDA."""
    import copy

    from archssl.runtime import slice_strided_pointwise_convs

    torch.manual_seed(0)
    cases = [torch.nn.Conv2d(4, 8, 1, stride=2), torch.nn.Conv2d(6, 9, 1, stride=3, groups=3, bias=False),
             torch.nn.Conv2d(3, 5, 1, stride=(2, 1))]
    for ref in cases:
        ref = ref.double()
        net = copy.deepcopy(ref)
        assert slice_strided_pointwise_convs(net, torch.device("cpu")) == [""]
        assert net.stride == (1, 1) and slice_strided_pointwise_convs(net, "cpu") == []  # once only
        assert net.state_dict().keys() == ref.state_dict().keys()
        for hw in (7, 8, 13):
            x = torch.randn(3, ref.in_channels, hw, hw + 1, dtype=torch.float64)
            xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
            ya, yb = ref(xa), net(xb)
            assert ya.shape == yb.shape
            torch.testing.assert_close(yb, ya, rtol=1e-12, atol=1e-12)
            g = torch.randn_like(ya)
            ya.backward(g)
            yb.backward(g)
            torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(net.weight.grad, ref.weight.grad, rtol=1e-12, atol=1e-12)
            ref.zero_grad()
            net.zero_grad()
    kept = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1, stride=2, padding=1), torch.nn.Conv2d(8, 8, 3, stride=2),
                               torch.nn.Conv2d(8, 8, 1), torch.nn.Conv2d(8, 8, 1, stride=2, dilation=2))
    assert slice_strided_pointwise_convs(kept, "cpu") == []
    assert [m.stride for m in kept] == [(2, 2), (2, 2), (1, 1), (2, 2)]
    on_gpu = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 1, stride=2))
    assert slice_strided_pointwise_convs(on_gpu, torch.device("cuda")) == [] and on_gpu[0].stride == (2, 2)


_PATCH_PRETRAIN = """
import sys, tempfile, torch
sys.path.insert(0, {src!r})
from archssl.plan import PretrainJob
from archssl.train.loop import cpu_has_native_bf16, pretrain
torch.set_num_threads(1)
assert not cpu_has_native_bf16()
spec = {{"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 4, "stem": "cifar", "version": "v1"}}
g = torch.Generator().manual_seed(0)
images = torch.randint(0, 256, (128, 3, 32, 32), dtype=torch.uint8, generator=g)
data = [(images[i], -1) for i in range(len(images))]
head = {{"kind": "linear", "out": 16}}
for method, params in (("relpatch", {{"hidden": 32, "patch_size": 16, "head": head}}),
                       ("jigsaw", {{"num_permutations": 24, "hidden": 32, "patch_size": 16, "head": head}})):
    job = PretrainJob.build(method, seed=0, image_size=32, method_params=params,
                            pretrain={{"epochs": 1, "batch_size": 64, "warmup_epochs": 0,
                                      "optimizer": {{"name": "adamw", "lr": 1e-3, "weight_decay": 1e-4}}}})
    with tempfile.TemporaryDirectory() as out:
        pretrain(spec, data, job, out)
    print(method, "trained")
"""


def test_patch_pretext_tasks_train_a_width_4_resnet_with_avx2_kernels():
    """The Revisiting shape's jobs that aborted on an AVX2 CPU (relpatch and jigsaw on a width-4 ResNet v1:
    576 patches of 16 px a batch, fp32, one thread; the contiguous format alone did not avoid oneDNN's
    strided 1x1 backward there) train to the end in a fresh process with oneDNN held to its AVX2 kernels,
    which also makes ``precision: auto`` fp32 as on such a CPU."""
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    r = subprocess.run([sys.executable, "-c", _PATCH_PRETRAIN.format(src=src)], capture_output=True, text=True,
                       timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert r.stdout.split() == ["relpatch", "trained", "jigsaw", "trained"]
