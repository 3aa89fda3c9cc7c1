"""ProxylessNAS with an SSL loss (archssl.nas), checked against independent references:

(a) the two-mode gradient estimator against finite differences: of the exact two-op expected loss where the
    loss is linear in the block's output (every block), and of the loss in the gates through the whole
    non-linear network (the estimator's definition, every block);
(b) at fixed paths the supernet equals the stand-alone network of the same genotype (weights copied by the
    test's own key mapping; outputs and parameter counts), and torchvision's MobileNetV2;
(c) expected sizes against exhaustive enumeration with archssl.archs.count_params / count_flops, and a search
    with a strong size penalty derives a network within the target (without it, a larger one);
(d) search, stop, resume == search straight through (genotype.yaml, trajectory.csv, logits);
(e) settings errors name the key; bounds computed from specs the test builds; the validation is torch-free.
"""

import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from archssl.archs import build
from archssl.catalog.archs import arch_id, count_flops, count_params, load_spec, normalize
from archssl.catalog.nas import NASSettingsError, build_space, validate_settings
from archssl.nas.search import arch_step, search
from archssl.nas.supernet import SuperNet, set_paths, size_penalty

ROOT = Path(__file__).resolve().parents[1]
# 9 searchable blocks at 16 px, small maps and widths; the zero op is a candidate at the second blocks of stages
# 3, 5 and 7 and, at width 0.25 with the small stem, at the first blocks of stages 2 (8 -> 8 channels) and 5
# (24 -> 24), all stride 1
TINY = {"width_mult": 0.25, "depths": [1, 1, 2, 1, 2, 1, 2], "stem": "small", "last_channel": 64}
OPS3 = ["3x3_MBConv3", "7x7_MBConv6", "zero"]
ALL_OPS = ["3x3_MBConv3", "3x3_MBConv6", "5x5_MBConv3", "5x5_MBConv6", "7x7_MBConv3", "7x7_MBConv6", "zero"]
HEAD = {"hidden": 16, "out": 8}


def block_of(op: str) -> dict:
    """The test's own op-name parser: 'KxK_MBConvE' / 'zero' -> a family blocks entry."""
    if op == "zero":
        return {"kernel": 3, "expand": 6, "skip": True}
    k, e = op.split("_MBConv")
    return {"kernel": int(k.split("x")[0]), "expand": int(e), "skip": False}


def searchable(space_fields: dict):
    """(stage, index, zero allowed) of every block of stages 2-7: zero where the family's block plan gives
    stride 1 and equal input and output channels (the family's own rule for ``skip``)."""
    from archssl.catalog.archs.families.mobilenetv2 import block_plan

    spec = normalize({"family": "mobilenetv2", "channels": [16, 24, 40, 80, 96, 192, 320],
                      "depths": [1, 4, 4, 4, 4, 4, 1], "last_channel": 1280, **space_fields})
    out = []
    for s, stage in enumerate(block_plan(spec)[1:], start=2):
        for j, blk in enumerate(stage):
            out.append((s, j, blk["stride"] == 1 and blk["inp"] == blk["out"]))
    return spec, out


def spec_from_ops(space_fields: dict, ops: list[str]) -> dict:
    spec, _ = searchable(space_fields)
    return normalize({**spec, "blocks": [block_of(o) for o in ops]})


class Images(torch.utils.data.Dataset):
    def __init__(self, n=48, size=16, seed=123):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
        self.labels = torch.full((n,), -1)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def tiny_settings(**kw):
    s = {"epochs": 3, "warmup_epochs": 1, "batch_size": 8, "image_size": 16, "warmup_lr": 0.05, "lr": 0.05,
         "arch_lr": 0.05, "arch_every": 1, "holdout": 16, "seed": 3, "space": TINY, "ops": OPS3,
         "channels_last": False, "precision": "fp32"}
    s.update(kw)
    return s


def run_to(net: SuperNet, x: torch.Tensor, stage: int, index: int) -> torch.Tensor:
    """Output of block ``index`` of stage ``stage`` (the test walks the stages itself)."""
    x = net.stem(x)
    for s in range(1, stage):
        x = getattr(net, f"block{s}")(x)
    for blk in list(getattr(net, f"block{stage}"))[:index + 1]:
        x = blk(x)
    return x


# -- (a) the gradient estimator -----------------------------------------------------------------------------


def softmax2(a, b):
    m = max(a, b)
    ea, eb = math.exp(a - m), math.exp(b - m)
    return ea / (ea + eb), eb / (ea + eb)


def test_estimator_equals_finite_difference_of_two_op_expected_loss():
    """Loss linear in the block output y: L = <w, y>. Then E(alpha) = q_i L(op i) + q_j L(op j) over the
    sampled pair is the exact expected loss, and ProxylessNAS's estimator must equal its gradient."""
    space = build_space(TINY, ALL_OPS, 16)
    torch.manual_seed(0)
    net = SuperNet(space, arch_init_std=0.7).double().eval()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    base = [int(torch.randint(len(m.op_names), (1,), generator=g)) for m in net.mixed_ops]
    for b, m in enumerate(net.mixed_ops):
        n = len(m.op_names)
        i, j = torch.randperm(n, generator=g)[:2].tolist()
        paths = [(c, None) for c in base]
        paths[b] = (i, j)
        net.set_paths(paths)
        y = run_to(net, x, m.slot.stage, m.slot.index)
        w = torch.randn(y.shape, dtype=torch.float64, generator=g)
        net.zero_grad(set_to_none=True)
        (w * y).sum().backward()
        est = m.alpha.grad.clone()
        for other in net.mixed_ops[:b]:  # earlier blocks ran one op: no gradient reaches their logits
            assert other.alpha.grad is None or float(other.alpha.grad.abs().max()) == 0.0

        def loss_with(k):
            p = list(paths)
            p[b] = (k, None)
            net.set_paths(p)
            with torch.no_grad():
                return float((w * run_to(net, x, m.slot.stage, m.slot.index)).sum())

        L = {i: loss_with(i), j: loss_with(j)}
        alpha = m.alpha.detach().tolist()

        def expected(a):
            qi, qj = softmax2(a[i], a[j])
            return qi * L[i] + qj * L[j]

        h = 1e-5  # central differences: truncation ~h^2 |L|, round-off ~1e-16 |L| / h
        fd = []
        for k in range(n):
            up, dn = list(alpha), list(alpha)
            up[k] += h
            dn[k] -= h
            fd.append((expected(up) - expected(dn)) / (2 * h))
        scale = max(abs(L[i]), abs(L[j]), 1.0)
        torch.testing.assert_close(est, torch.tensor(fd, dtype=torch.float64), rtol=1e-6, atol=1e-8 * scale)
        assert float(est[i]) != 0.0 and float(est[j]) != 0.0, m.slot.name


def test_estimator_matches_gate_finite_differences_through_the_whole_network():
    """Non-linear loss of the pooled features: dL/dalpha_k must be sum_m dL/dg_m q_m (delta_km - q_k) with
    dL/dg_m measured by finite differences of the gate values (the test overrides the gates), at every block,
    with every other block's pair sampled too (gradients flow through the sampled paths of later blocks)."""
    space = build_space(TINY, ALL_OPS, 16)
    torch.manual_seed(0)
    net = SuperNet(space, arch_init_std=0.7).double().eval()
    x = torch.randn(4, 3, 16, 16, dtype=torch.float64)
    proj = torch.randn(net.out_dim, 5, dtype=torch.float64)

    def loss_fn():  # the test pools itself, in float64 (Backbone pools in float32)
        y = x
        for name in net.stage_names:
            y = getattr(net, name)(y)
        feats = net.final(y).mean(dim=(2, 3))
        return torch.logsumexp(feats @ proj, dim=1).pow(2).mean()

    paths = net.sample_paths(torch.Generator().manual_seed(5), pair=True)
    net.set_paths(paths)
    net.zero_grad(set_to_none=True)
    loss_fn().backward()
    grads = [m.alpha.grad.clone() for m in net.mixed_ops]
    # central differences; ReLU6 kinks make L piecewise smooth in g, so h is small and the tolerance 1e-3
    # (a wrong estimator is off by O(1); the exact check is the test above)
    h = 1e-6
    for b, m in enumerate(net.mixed_ops):
        a, o = paths[b]
        dldg = []
        for slot in (0, 1):
            vals = []
            for sign in (1, -1):
                gate = torch.tensor([1.0, 0.0], dtype=torch.float64)
                gate[slot] += sign * h
                m.gates = lambda gate=gate: gate  # instance override of the gate values
                vals.append(float(loss_fn().detach()))  # with autograd on: the pair runs gated
                del m.gates
            dldg.append((vals[0] - vals[1]) / (2 * h))
        qa, qo = softmax2(float(m.alpha.detach()[a]), float(m.alpha.detach()[o]))
        q = {a: qa, o: qo}
        ref = torch.zeros(len(m.op_names), dtype=torch.float64)
        for k in (a, o):
            ref[k] = sum(d * q[mm] * ((k == mm) - q[k]) for d, mm in zip(dldg, (a, o)))
        torch.testing.assert_close(grads[b], ref, rtol=1e-3, atol=1e-3 * float(ref.abs().max()))
        assert float(grads[b].abs().max()) > 0, m.slot.name


def test_arch_step_reaches_every_logit_and_rescales_pairs():
    """A real SimCLR architecture step: every block's logits get a finite non-zero gradient on exactly its
    two sampled ops, no weight receives a gradient, and after the Adam step each pair keeps its log-sum-exp
    while the other ops' logits do not move."""
    from archssl.catalog import METHODS
    from archssl.train.augment import AugmentConfig, ViewMaker

    space = build_space(TINY, ALL_OPS, 16)
    torch.manual_seed(0)
    net = SuperNet(space)
    model = METHODS.get("simclr")(net, {"head": HEAD})
    model.train()
    arch = net.arch_parameters()
    weights = [p for p in model.parameters() if all(p is not a for a in arch)]
    aopt = torch.optim.Adam(arch, lr=0.01, betas=(0.0, 0.999))
    before = [a.detach().clone() for a in arch]
    view = ViewMaker(AugmentConfig(), 16, torch.Generator().manual_seed(0))
    images = Images(8).images
    g = torch.Generator().manual_seed(9)
    arch_step(model, net, aopt, weights, images, view, {}, None, g, torch.device("cpu"), None)
    assert all(p.grad is None for p in weights)
    assert all(p.requires_grad for p in weights)
    for m, old in zip(net.mixed_ops, before):
        a, o = m.active, m.other
        grad = m.alpha.grad
        assert torch.isfinite(grad).all()
        assert float(grad[a]) != 0.0 and float(grad[o]) != 0.0, m.slot.name
        rest = [k for k in range(len(m.op_names)) if k not in (a, o)]
        assert float(grad[rest].abs().max()) == 0.0
        new = m.alpha.detach()
        assert torch.equal(new[rest], old[rest])
        assert not torch.equal(new[[a, o]], old[[a, o]])
        torch.testing.assert_close(torch.logsumexp(new[[a, o]], 0), torch.logsumexp(old[[a, o]], 0))


# -- (b) fixed paths == stand-alone network -----------------------------------------------------------------


def copy_into_standalone(net: SuperNet, standalone: torch.nn.Module, ops: list[str], space_fields: dict):
    """The test's own weight mapping: block<s>.<j>.<rest> of the stand-alone net <- block<s>.<j>.candidates.<k>
    .<rest> of the supernet, k = the op's position among the block's candidates; other keys equal."""
    _, blocks = searchable(space_fields)
    where = {}
    for (stage, j, _), op in zip(blocks, ops):
        cands = list(getattr(net, f"block{stage}")[j].op_names)
        where[f"block{stage}.{j}."] = f"block{stage}.{j}.candidates.{cands.index(op)}."
    src = net.state_dict()
    out = {}
    for key in standalone.state_dict():
        for prefix, sup in where.items():
            if key.startswith(prefix):
                out[key] = src[sup + key[len(prefix):]]
                break
        else:
            out[key] = src[key]
    standalone.load_state_dict(out, strict=True)


def random_ops(space_fields: dict, g: torch.Generator, ops=ALL_OPS) -> list[str]:
    out = []
    for _, _, zero_ok in searchable(space_fields)[1]:
        allowed = [o for o in ops if o != "zero" or zero_ok]
        out.append(allowed[int(torch.randint(len(allowed), (1,), generator=g))])
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_fixed_paths_equal_standalone_network(seed):
    space = build_space(TINY, ALL_OPS, 16)
    torch.manual_seed(seed)
    net = SuperNet(space)
    g = torch.Generator().manual_seed(seed)
    ops = random_ops(TINY, g)
    if seed == 0:  # every zero-capable block skipped
        ops = ["zero" if z else o for o, (_, _, z) in zip(ops, searchable(TINY)[1])]
        assert "zero" in ops
    spec = spec_from_ops(TINY, ops)
    choices = net.fix(spec)
    assert net.active_choices() == choices
    # train a few weight steps on the fixed paths so BN statistics and weights are not at their init
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.1)
    for _ in range(2):
        loss = net(torch.randn(6, 3, 16, 16, generator=g)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    standalone = build(spec)
    copy_into_standalone(net, standalone, ops, TINY)
    net.eval()
    standalone.eval()
    x = torch.randn(5, 3, 16, 16, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(net(x), standalone(x), atol=1e-5, rtol=1e-5)
    n_standalone = sum(p.numel() for p in standalone.parameters())
    assert net.active_param_count() == count_params(spec) == n_standalone
    assert net.active_size("params") == count_params(spec)
    assert net.active_size("flops") == count_flops(spec, 16)
    # the same architecture reached as the argmax: genotype and export
    with torch.no_grad():
        for m, c in zip(net.mixed_ops, choices):
            m.alpha.zero_()
            m.alpha[c] = 1.0
    geno = net.genotype()
    assert arch_id(geno) == arch_id(spec)
    _, exported = net.export()
    exported.eval()
    with torch.no_grad():
        torch.testing.assert_close(exported(x), standalone(x), atol=1e-5, rtol=1e-5)


def test_fixed_mbconv6_paths_equal_torchvision_mobilenet_v2():
    """The supernet over torchvision's channels and depths with every block at 3x3_MBConv6 is torchvision's
    mobilenet_v2 (features + global average pooling)."""
    from torchvision.models import mobilenet_v2

    from archssl.archs.nets.mobilenetv2 import torchvision_key_map

    fields = {"channels": [16, 24, 32, 64, 96, 160, 320], "depths": [1, 2, 3, 4, 3, 3, 1]}
    space = build_space(fields, ["3x3_MBConv6", "5x5_MBConv3", "zero"], 32)
    torch.manual_seed(0)
    net = SuperNet(space)
    net.fix(["3x3_MBConv6"] * len(net.mixed_ops))
    tv = mobilenet_v2().eval()
    tv_sd = tv.state_dict()
    mapping = torchvision_key_map(normalize({"family": "mobilenetv2", **fields}))
    standalone_sd = {mapping(k): v for k, v in tv_sd.items() if mapping(k) is not None}
    sup_sd = dict(net.state_dict())
    for k, v in standalone_sd.items():
        parts = k.split(".")
        stage = parts[0]
        if stage.startswith("block") and stage != "block1":
            k = ".".join(parts[:2] + ["candidates", "0"] + parts[2:])
        sup_sd[k] = v
    net.load_state_dict(sup_sd)
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = torch.nn.functional.adaptive_avg_pool2d(tv.features(x), 1).flatten(1)
        torch.testing.assert_close(net(x), ref, atol=1e-5, rtol=1e-5)
    assert net.active_param_count() == sum(p.numel() for p in tv.features.parameters())


# -- (c) sizes and the size target --------------------------------------------------------------------------


def test_expected_size_equals_enumeration_over_all_networks():
    """E[size] under softmax(alpha) == sum over every network of the space of P(net) * count(net), with the
    counts from archssl.archs (a smaller space, 3^7 networks), and its gradient == finite differences."""
    fields = {"width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 2], "stem": "small", "last_channel": 64}
    space = build_space(fields, OPS3, 16)
    torch.manual_seed(0)
    net = SuperNet(space, arch_init_std=0.8).double()
    probs = net.probabilities()
    per_block = [list(m.op_names) for m in net.mixed_ops]
    ref_p, ref_f = 0.0, 0.0
    for combo in itertools.product(*[range(len(c)) for c in per_block]):
        p = math.prod(probs[b][k] for b, k in enumerate(combo))
        spec = spec_from_ops(fields, [per_block[b][k] for b, k in enumerate(combo)])
        ref_p += p * count_params(spec)
        ref_f += p * count_flops(spec, 16)
    with torch.no_grad():
        assert float(net.expected_size("params")) == pytest.approx(ref_p, rel=1e-12)
        assert float(net.expected_size("flops")) == pytest.approx(ref_f, rel=1e-12)
    # gradient w.r.t. one block's logits against central differences of the enumeration-free reference
    m = net.mixed_ops[-1]
    e = net.expected_size("params")
    e.backward()
    h = 1e-5
    for k in range(len(m.op_names)):
        with torch.no_grad():
            m.alpha[k] += h
            up = float(net.expected_size("params"))
            m.alpha[k] -= 2 * h
            dn = float(net.expected_size("params"))
            m.alpha[k] += h
        assert float(m.alpha.grad[k]) == pytest.approx((up - dn) / (2 * h), rel=1e-6, abs=1e-3)


def test_size_penalty_forms():
    """ProxylessNAS's add_regularization_loss, written out by hand."""
    loss = torch.tensor(2.0)
    e = torch.tensor(5e5, dtype=torch.float64)
    t = {"penalty": "mul_log", "value": 1e6, "alpha": 0.2, "beta": 0.3, "lambda": 0.1}
    assert float(size_penalty(loss, e, t)) == pytest.approx(0.2 * 2.0 * (math.log(5e5) / math.log(1e6)) ** 0.3)
    t["penalty"] = "add_linear"
    assert float(size_penalty(loss, e, t)) == pytest.approx(2.0 + 0.1 * (5e5 - 1e6) / 1e6)


def test_size_target_is_respected(tmp_path):
    """A strong add_linear penalty toward a target near the smallest network: the derived genotype's
    count_params is <= the target with no tolerance (the penalty's gradient dominates the SSL one, so every
    block ends at its cheapest candidate: the smallest network, below the target by construction). Without the
    penalty the same search derives a network above the target."""
    fields = TINY
    smallest = spec_from_ops(fields, ["3x3_MBConv3" if not zero else "zero"
                                      for _, _, zero in searchable(fields)[1]])
    largest = spec_from_ops(fields, ["7x7_MBConv6"] * len(searchable(fields)[1]))
    lo, hi = count_params(smallest), count_params(largest)
    target = lo + 0.1 * (hi - lo)
    ds = Images(64)
    common = dict(epochs=4, warmup_epochs=1, holdout=16, arch_lr=0.1)
    pen = tiny_settings(**common, target={"kind": "params", "value": target, "penalty": "add_linear",
                                          "lambda": 50.0})
    g_pen = load_spec(search(ds, tmp_path / "pen", "simclr", {"head": HEAD}, pen))
    g_free = load_spec(search(ds, tmp_path / "free", "simclr", {"head": HEAD}, tiny_settings(**common)))
    assert count_params(g_pen) <= target
    assert count_params(g_free) > target
    assert count_params(g_free) > count_params(g_pen)


# -- (d) resume ---------------------------------------------------------------------------------------------


def test_search_stop_resume_equals_uninterrupted(tmp_path):
    ds = Images(48)
    s = tiny_settings(epochs=3, warmup_epochs=1, arch_every=2)
    straight = search(ds, tmp_path / "a", "simclr", {"head": HEAD}, s)
    ckpt = search(ds, tmp_path / "b", "simclr", {"head": HEAD}, s, stop_after_epochs=2)
    assert ckpt.name == "checkpoint.pt" and not (tmp_path / "b" / "genotype.yaml").exists()
    resumed = search(ds, tmp_path / "b", "simclr", {"head": HEAD}, s)
    assert straight.read_text() == resumed.read_text()
    ta, tb = (tmp_path / d / "trajectory.csv" for d in "ab")
    assert ta.read_text() == tb.read_text()
    rows = ta.read_text().splitlines()
    assert rows[0].split(",") == ["epoch", "arch_steps", "block", *OPS3]
    assert len(rows) == 1 + 4 * 9  # epochs 0..3 x 9 blocks
    sa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    sb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), k
    spec = yaml.safe_load(straight.read_text())
    assert normalize(spec) == spec and spec["blocks"] is not None
    assert arch_id(spec).startswith("mbv2-")
    # the logits moved in the joint epochs (2 arch steps per epoch after the warm-up)
    assert sa["arch_steps"] == 4


def test_search_resumes_from_the_previous_checkpoint_when_the_newest_is_altered(tmp_path, caplog):
    """A value changed in the newest search checkpoint (its digest no longer matches): the search names the
    file, sets it aside, resumes from checkpoint.prev.pt and derives the same genotype as a run straight through."""
    import logging

    from archssl.integrity import DIGEST_KEY

    ds = Images(48)
    s = tiny_settings(epochs=3, warmup_epochs=1, arch_every=2)
    straight = search(ds, tmp_path / "a", "simclr", {"head": HEAD}, s)
    ckpt = search(ds, tmp_path / "b", "simclr", {"head": HEAD}, s, stop_after_epochs=2)
    prev = ckpt.with_name("checkpoint.prev.pt")
    assert torch.load(prev, weights_only=False)["epoch"] == 1 and DIGEST_KEY in torch.load(prev, weights_only=False)
    state = torch.load(ckpt, weights_only=False)
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key] = state["model"][key] + 1.0  # the digest stays the one written with the old values
    torch.save(state, ckpt)
    with caplog.at_level(logging.WARNING):
        resumed = search(ds, tmp_path / "b", "simclr", {"head": HEAD}, s)
    text = caplog.text
    assert f"{ckpt}: content differs from the digest" in text and "trying checkpoint.prev.pt" in text
    assert "set aside as checkpoint.pt.corrupt" in text and ckpt.with_name("checkpoint.pt.corrupt").exists()
    assert straight.read_text() == resumed.read_text()
    assert (tmp_path / "a" / "trajectory.csv").read_text() == (tmp_path / "b" / "trajectory.csv").read_text()


def test_search_with_a_momentum_method_runs_and_copies_follow_paths(tmp_path):
    """Another method by name (MoCo: a deep-copied key encoder) searches; the key supernet runs the
    query's sampled paths."""
    from archssl.catalog import METHODS

    space = build_space(TINY, OPS3, 16)
    net = SuperNet(space)
    moco = METHODS.get("moco")(net, {"queue_size": 16, "head": HEAD})
    paths = net.sample_paths(torch.Generator().manual_seed(0), pair=True)
    set_paths(moco, paths)
    assert moco.key_backbone.paths() == net.paths() == paths
    out = search(Images(48), tmp_path, "moco", {"queue_size": 16, "momentum": 0.9, "head": HEAD},
                 tiny_settings(epochs=2, warmup_epochs=1, arch_every=2))
    assert load_spec(out)["family"] == "mobilenetv2"


# -- (e) validation -----------------------------------------------------------------------------------------

W = "nas.searches.s1"


@pytest.mark.parametrize("settings, key", [
    ({"ops": ["3x3_MBConv3", "9x9_MBConv6"]}, f"{W}.ops[1]"),
    ({"ops": ["3x3_MBConv3", "3x5_MBConv6"]}, f"{W}.ops[1]"),
    ({"ops": ["zero"]}, f"{W}.ops"),
    ({"target": {"kind": "params", "value": 10}}, f"{W}.target.value"),
    ({"target": {"kind": "flops", "value": 1e15}}, f"{W}.target.value"),
    ({"target": {"kind": "latency", "value": 1e6}}, f"{W}.target.kind"),
    ({"target": {"value": 2e6, "penalty": "mul#log"}}, f"{W}.target.penalty"),
    ({"target": {"kind": "params"}}, f"{W}.target.value"),
    ({"space": {"blocks": None}}, f"{W}.space.blocks"),
    ({"space": {"depths": [1, 2]}}, f"{W}.space.depths"),
    ({"space": {"stem": "imagenet"}, "image_size": 8}, f"{W}.space"),
    ({"warmup_epochs": 5, "epochs": 5}, f"{W}.warmup_epochs"),
    ({"holdout": 1.5}, f"{W}.holdout"),
    ({"arch_every": 0}, f"{W}.arch_every"),
    ({"optimizer": {"name": "sgd", "lr": 0.1}}, f"{W}.optimizer.lr"),
    ({"bogus": 1}, f"{W}.bogus"),
])
def test_validation_errors_name_the_key(settings, key):
    with pytest.raises(NASSettingsError) as e:
        validate_settings(settings, where=W)
    assert e.value.key == key
    assert str(e.value).startswith(key + ":")


def test_target_bounds_are_the_smallest_and_largest_networks():
    """Feasible targets are exactly [smallest, largest], both from specs the test writes itself."""
    fields = {"width_mult": 0.5, "stem": "small"}
    _, blocks = searchable(fields)
    smallest = spec_from_ops(fields, ["zero" if z else "3x3_MBConv3" for _, _, z in blocks])
    largest = spec_from_ops(fields, ["7x7_MBConv6"] * len(blocks))
    for kind, count in (("params", count_params), ("flops", lambda s: count_flops(s, 32))):
        lo, hi = count(smallest), count(largest)
        for v in (lo, hi):
            assert validate_settings({"space": fields, "target": {"kind": kind, "value": v}})["target"]["value"] == v
        for v in (lo - 1, hi + 1):
            with pytest.raises(NASSettingsError, match=r"^nas\.target\.value:"):
                validate_settings({"space": fields, "target": {"kind": kind, "value": v}})


def test_holdout_split_is_checked_against_the_dataset():
    with pytest.raises(NASSettingsError, match=r"^nas\.holdout:"):
        validate_settings({"batch_size": 8, "holdout": 4}, dataset_size=100)
    with pytest.raises(NASSettingsError, match=r"^nas\.holdout:"):
        validate_settings({"batch_size": 8, "holdout": 0.95}, dataset_size=100)
    s = validate_settings({"batch_size": 8, "holdout": 0.25}, dataset_size=100)
    assert s["holdout"] == 0.25


def test_validation_is_torch_free():
    code = ("import sys; sys.path.insert(0, 'src'); import archssl.catalog.nas as n; "
            "s = n.validate_settings({'target': {'kind': 'flops', 'value': 2e7}}, where='x'); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(len(n.space_of(s).slots))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "21"
