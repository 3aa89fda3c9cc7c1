"""The pretraining loop: 2 epochs straight == 1 epoch + resume + 1 epoch (bit-identical weights on CPU) for
methods with and without cross-step state; every registered method trains through the loop and reports its
pretext metric as the first metrics.csv column after the loss."""

import csv
import math

import pytest
import torch

from archssl.catalog import METHODS
from archssl.analysis import tables
from archssl.plan import PretrainJob
from archssl.archs.checkpoint import load_backbone
from archssl.train.loop import STANDARD_COLUMNS, autocast_dtype, pretrain

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}

PARAMS = {
    "simclr": {"head": {"hidden": 16, "out": 8}},
    "moco": {"queue_size": 32, "momentum": 0.9, "head": {"hidden": 16, "out": 8}},
    "instdisc": {"negatives": 16, "head": {"out": 8}},
    "byol": {"projector": {"hidden": 16, "out": 8}, "predictor": {"hidden": 16}},
    "rotation": {},
    "exemplar": {"copies": 3, "head": {"out": 8}},
    "jigsaw": {"num_permutations": 6, "perms_per_image": 3, "hidden": 16, "head": {"out": 8}},
    "relpatch": {"hidden": 16, "head": {"out": 8}},
    "supervised": {},
}


class Images(torch.utils.data.Dataset):
    def __init__(self, n=64, size=16, labelled=True):
        g = torch.Generator().manual_seed(123)
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
        self.labels = torch.randint(0, 3, (n,), generator=g) if labelled else torch.full((n,), -1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def config(method, epochs=2, size=16, method_params=None, **kw):
    """The job of ``method`` through the same resolution as the workflow's (archssl.plan)."""
    pre = {"epochs": epochs, "batch_size": 16, "optimizer": {"name": "lars", "lr": 0.5}, "warmup_epochs": 0.5, **kw}
    return PretrainJob.build(method, seed=7, image_size=size, pretrain=pre,
                             method_params=PARAMS[method] if method_params is None else method_params)


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def weights(path):
    return torch.load(path, weights_only=False)["state_dict"]


@pytest.mark.parametrize("method", ["simclr", "moco", "instdisc", "byol"])
def test_resume_gives_identical_weights(tmp_path, method):
    ds = Images()
    straight = pretrain(SPEC, ds, config(method), tmp_path / "a")
    ckpt = pretrain(SPEC, ds, config(method), tmp_path / "b", stop_after_epochs=1)
    assert ckpt.name == "checkpoint.pt" and not (tmp_path / "b" / "backbone.pt").exists()
    resumed = pretrain(SPEC, ds, config(method), tmp_path / "b")
    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ra, rb = rows(tmp_path / "a" / "metrics.csv"), rows(tmp_path / "b" / "metrics.csv")
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]
    assert not (tmp_path / "b" / "checkpoint.pt").exists()  # removed once backbone.pt is written
    net, state = load_backbone(resumed)
    assert state["method"] == method and net.out_dim == 4 * 2


def test_moco_queue_is_part_of_the_resumed_state(tmp_path):
    """Negative control: a checkpoint whose queue is replaced resumes to different weights, so the equality
    above depends on the queue being checkpointed."""
    from archssl.integrity import seal

    ds = Images()
    straight = weights(pretrain(SPEC, ds, config("moco"), tmp_path / "a"))
    ckpt = pretrain(SPEC, ds, config("moco"), tmp_path / "b", stop_after_epochs=1)
    state = torch.load(ckpt, weights_only=False)
    assert int(state["model"]["queue.ptr"]) == (4 * 16) % 32  # 4 steps of 16 keys went in
    state["model"]["queue.keys"] = torch.nn.functional.normalize(torch.randn_like(state["model"]["queue.keys"]), dim=1)
    torch.save(seal(state), ckpt)  # re-sealed (a valid digest): the loop's check does not refuse it
    tampered = weights(pretrain(SPEC, ds, config("moco"), tmp_path / "b"))
    assert any(not torch.equal(straight[k], tampered[k]) for k in straight if straight[k].is_floating_point())


@pytest.mark.parametrize("method", sorted(PARAMS))
def test_every_method_trains_through_the_loop(tmp_path, method):
    size = 32 if method in ("jigsaw", "relpatch") else 16
    out = pretrain(SPEC, Images(48, size), config(method, epochs=1, size=size), tmp_path)
    assert out.name == "backbone.pt"
    r = rows(tmp_path / "metrics.csv")
    assert list(r[0])[-len(STANDARD_COLUMNS) + 2:] == list(STANDARD_COLUMNS[2:])  # lr ... skipped_steps last
    assert tables.STANDARD_COLUMNS == STANDARD_COLUMNS
    extra = [c for c in r[0] if c not in STANDARD_COLUMNS]
    assert extra[0] == METHODS.get(method).pretext_metric
    assert math.isfinite(float(r[0]["loss"])) and math.isfinite(float(r[0][extra[0]]))
    assert int(r[0]["skipped_steps"]) == 0


def test_supervised_on_an_unlabelled_set_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="set pretrain.method_params.supervised.dataset to a labelled dataset"):
        pretrain(SPEC, Images(32, labelled=False), config("supervised", epochs=1), tmp_path)


def test_method_augment_overrides_and_precision():
    cfg = config("rotation", augment={"crop_scale": [0.2, 1.0], "jitter_p": 0.8},
                 method_params={"augment": {"jitter_p": 0.0}})
    assert cfg.augment["crop_scale"] == [0.2, 1.0] and cfg.augment["jitter_p"] == 0.0
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("auto", cuda) is torch.bfloat16
    assert autocast_dtype("auto", cpu, native_bf16=False) is None
    assert autocast_dtype("auto", cpu, native_bf16=True) is torch.bfloat16
    assert autocast_dtype("bf16", cpu) is torch.bfloat16 and autocast_dtype("fp32", cuda) is None
    # auto keeps fp32 on CPU for networks with depthwise (grouped) convolutions; explicit bf16 and CUDA do not
    from torchvision.models import mobilenet_v2, resnet18

    mbv2, r18 = mobilenet_v2(), resnet18()
    assert autocast_dtype("auto", cpu, native_bf16=True, model=mbv2) is None
    assert autocast_dtype("auto", cpu, native_bf16=True, model=r18) is torch.bfloat16
    assert autocast_dtype("bf16", cpu, native_bf16=True, model=mbv2) is torch.bfloat16
    assert autocast_dtype("auto", cuda, model=mbv2) is torch.bfloat16
    from archssl.archs import build

    ours = build({"family": "mobilenetv2", "width_mult": 0.25, "depths": [1, 1, 2, 1, 2, 2, 1], "stem": "small"})
    assert autocast_dtype("auto", cpu, native_bf16=True, model=ours) is None
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("fp16", cpu)


def test_a_onednn_isa_cap_below_bf16_makes_auto_precision_fp32_on_a_cpu(monkeypatch):
    """``ONEDNN_MAX_CPU_ISA=AVX2`` (or AVX512_CORE) runs oneDNN as on a CPU without bf16: ``auto`` is fp32
    there whatever /proc/cpuinfo says; a cap at or above AVX512_CORE_BF16 leaves the CPU's own answer."""
    from archssl.train import loop

    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    own = loop.cpu_has_native_bf16()
    for cap in ("AVX2", "avx512_core", "AVX512_CORE_VNNI"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert loop.cpu_has_native_bf16() is False, cap
        assert autocast_dtype("auto", torch.device("cpu"), model=torch.nn.Linear(2, 2)) is None
    for cap in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL"):
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
        assert loop.cpu_has_native_bf16() is own, cap
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    monkeypatch.setenv("DNNL_MAX_CPU_ISA", "AVX2")
    assert loop.cpu_has_native_bf16() is False


def test_a_methods_own_optimizer_and_epochs_replace_the_shared_ones(tmp_path, monkeypatch):
    """method_params.<m>.optimizer / .epochs / .precision: the loop builds the method's optimiser, runs its
    epochs, at its precision."""
    import archssl.train.loop as loop

    built, precisions = [], []
    real = loop.build_optimizer
    monkeypatch.setattr(loop, "build_optimizer", lambda params, cfg, bs: built.append(cfg) or real(params, cfg, bs))
    real_amp = loop.autocast_dtype
    monkeypatch.setattr(loop, "autocast_dtype", lambda p, *a, **k: precisions.append(p) or real_amp(p, *a, **k))
    cfg = config("rotation", epochs=3, precision="bf16",
                 method_params={"epochs": 1, "optimizer": {"name": "sgd", "lr": 0.05}, "precision": "fp32"})
    pretrain(SPEC, Images(32), cfg, tmp_path)
    assert [r["epoch"] for r in rows(tmp_path / "metrics.csv")] == ["1"]
    # replaced whole: the keys it does not set take the schema's defaults, not pretrain.optimizer's
    assert built == [{"name": "sgd", "lr": 0.05, "scale_lr_by_batch": False, "weight_decay": 1e-6,
                      "momentum": 0.9, "trust_coefficient": 1e-3, "nesterov": False}]
    assert precisions == ["fp32"]
    assert torch.load(tmp_path / "backbone.pt", weights_only=False)["epochs"] == 1


def _nan_grad_on_calls(param, calls):
    """A gradient hook that turns ``param``'s gradient into NaN on the given (1-based) backward calls."""
    seen = {"n": 0}

    def hook(grad):
        seen["n"] += 1
        return torch.full_like(grad, float("nan")) if seen["n"] in calls else grad

    param.register_hook(hook)


def test_a_step_with_nonfinite_gradients_is_skipped(tmp_path, monkeypatch, caplog):
    """A finite loss with a NaN gradient (a oneDNN bf16 corner case) skips that step, names the parameter,
    and the run finishes with finite weights; the skipped step leaves the weights as they were."""
    import archssl.train.loop as loop

    real_build = loop.build_method
    built = []

    def build(method, spec, params):
        m = real_build(method, spec, params)
        _nan_grad_on_calls(m.backbone.stem[0].weight, {2})
        built.append(m)
        return m

    monkeypatch.setattr(loop, "build_method", build)
    stepped = []
    real_step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **k: stepped.append(1) or real_step(self, *a, **k))
    cfg = config("rotation", epochs=1, optimizer={"name": "sgd", "lr": 0.05})
    with caplog.at_level("WARNING", logger="archssl.pretrain"):
        pretrain(SPEC, Images(64), cfg, tmp_path)  # 4 steps of 16
    assert len(stepped) == 3
    assert [int(r["skipped_steps"]) for r in rows(tmp_path / "metrics.csv")] == [1]
    assert any("non-finite gradients in backbone.stem.0.weight" in r.message and "step skipped" in r.message
               for r in caplog.records)
    assert all(torch.isfinite(v).all() for v in weights(tmp_path / "backbone.pt").values() if v.is_floating_point())


def test_too_many_nonfinite_steps_stop_the_run(tmp_path, monkeypatch):
    import archssl.train.loop as loop

    real_build = loop.build_method
    monkeypatch.setattr(loop, "build_method", lambda *a: (lambda m: _nan_grad_on_calls(
        m.backbone.stem[0].weight, set(range(1, 100))) or m)(real_build(*a)))
    with pytest.raises(FloatingPointError, match=r"steps of epoch 1 had non-finite gradients.*precision: fp32"):
        pretrain(SPEC, Images(64), config("rotation", epochs=1), tmp_path)
    assert not (tmp_path / "backbone.pt").exists()


def test_a_nonfinite_backbone_is_never_written(tmp_path, monkeypatch):
    from archssl.methods.rotation import Rotation

    def poison(self):
        self.backbone.stem[1].running_var.fill_(float("nan"))

    monkeypatch.setattr(Rotation, "after_step", poison, raising=False)
    with pytest.raises(FloatingPointError, match=r"non-finite values in stem\.1\.running_var; not writing backbone\.pt"):
        pretrain(SPEC, Images(32), config("rotation", epochs=1), tmp_path)
    assert not (tmp_path / "backbone.pt").exists()


def test_a_methods_own_schedule_settings_reach_the_loop(tmp_path):
    """method_params (or a variant's params) may set the pretrain schedule for that method alone: batch size,
    epochs, warm-up, cosine on/off (a Good-practices ablation). Expected values from the schedule's definition:
    no warm-up and no cosine -> the base lr at every step; 80 images in batches of 32 -> 2 steps of 32."""
    own = {**PARAMS["simclr"], "cosine": False, "warmup_epochs": 0, "batch_size": 32, "epochs": 3}
    cfg = config("simclr", optimizer={"name": "sgd", "lr": 0.05}, method_params=own)
    pretrain(SPEC, Images(n=80), cfg, tmp_path)
    r = rows(tmp_path / "metrics.csv")
    assert len(r) == 3
    assert [float(x["lr"]) for x in r] == [0.05] * 3
    assert all(float(x["images_per_s"]) * float(x["seconds"]) == pytest.approx(64) for x in r)
    # the study-wide schedule otherwise: cosine decay to final_lr over 2 epochs of 5 steps of 16
    cosine = config("simclr", optimizer={"name": "sgd", "lr": 0.05}, warmup_epochs=0, final_lr=0.01)
    pretrain(SPEC, Images(n=80), cosine, tmp_path / "cosine")
    r = rows(tmp_path / "cosine" / "metrics.csv")
    last_step = 0.01 + 0.5 * 0.04 * (1 + math.cos(math.pi * 9 / 10))
    assert float(r[-1]["lr"]) == pytest.approx(last_step)
    assert all(float(x["images_per_s"]) * float(x["seconds"]) == pytest.approx(80) for x in r)
