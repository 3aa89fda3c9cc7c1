"""The Revisiting study's pretext tasks and the supervised baseline: rotation labels/images against
torch.rot90, the triplet semi-hard loss against an explicit loop, the jigsaw permutation set (maximal
Hamming distance), patch positions and relative-patch-location labels, per-patch grayscale and
standardisation."""

import itertools

import numpy as np
import pytest
import torch

from archssl.archs import build
from archssl.catalog import METHODS
from archssl.catalog.methods import PatchConfig
from archssl.methods.exemplar import nn_accuracy, triplet_semihard_loss
from archssl.methods.jigsaw import permute_and_concat
from archssl.methods.patches import (extract_patches, hamming, make_patches, max_hamming_permutations,
                                     per_patch_standardize, relative_pairs, sample_patch_boxes)
from archssl.methods.rotation import rot90, rotate_all, rotate_random

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1], "width": 4, "stem": "cifar"}


# ------------------------------------------------------------------------------------------------ rotation

def test_rotations_match_torch_rot90():
    x = torch.randn(3, 2, 5, 5)
    for r in range(-1, 6):
        assert torch.equal(rot90(x, r), torch.rot90(x, r, dims=(2, 3)))
    xs, labels = rotate_all(x)
    assert labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    for i in range(12):
        assert torch.equal(xs[i], torch.rot90(x[i % 3], int(labels[i]), dims=(1, 2)))
    lab = torch.tensor([2, 0, 3])
    out = rotate_random(x, lab)
    for i in range(3):
        assert torch.equal(out[i], torch.rot90(x[i], int(lab[i]), dims=(1, 2)))


@pytest.mark.parametrize("mode,factor", [("all", 4), ("random", 1)])
def test_rotation_step(mode, factor):
    torch.manual_seed(0)
    m = METHODS.get("rotation")(build(SPEC), {"mode": mode})
    seen = []
    orig = m.backbone.forward
    m.backbone.forward = lambda v: (seen.append(v.shape[0]), orig(v))[1]
    loss, metrics = m.training_step(torch.zeros(5, 3, 16, 16, dtype=torch.uint8), lambda _: torch.randn(5, 3, 16, 16))
    assert seen == [5 * factor] and list(metrics) == ["rotation_acc"] and torch.isfinite(loss)


# ------------------------------------------------------------------------------------------------ exemplar

def triplet_loop(e, labels, margin):
    e = e.double()
    n = len(e)
    d = [[float(((e[i] - e[j]) ** 2).sum()) for j in range(n)] for i in range(n)]
    total, count, branches = 0.0, 0, set()
    for a in range(n):
        negs = [d[a][j] for j in range(n) if labels[j] != labels[a]]
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            farther = [v for v in negs if v > d[a][p]]
            neg = min(farther) if farther else max(negs)
            branches.add(bool(farther))
            total += max(0.0, margin + d[a][p] - neg)
            count += 1
    return total / count, branches


@pytest.mark.parametrize("labels", [[0, 1, 2] * 4, [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3]])
def test_triplet_semihard_matches_explicit_loop(labels):
    g = torch.Generator().manual_seed(len(labels))
    e = torch.nn.functional.normalize(torch.randn(len(labels), 3, generator=g), dim=1)
    lab = torch.tensor(labels)
    for margin in (0.5, 0.1, 2.0):
        ref, branches = triplet_loop(e, labels, margin)
        assert abs(float(triplet_semihard_loss(e, lab, margin)) - ref) < 1e-5
    assert branches == {True, False}  # pairs with and without a semi-hard negative both occur


def test_triplet_loss_gradients_and_nn_accuracy():
    e = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    lab = torch.tensor([0, 0, 1, 1])
    assert float(nn_accuracy(e, lab)) == 1.0
    assert float(nn_accuracy(e, torch.tensor([0, 1, 0, 1]))) == 0.0
    x = torch.randn(8, 4, requires_grad=True)
    triplet_semihard_loss(torch.nn.functional.normalize(x, dim=1), torch.arange(4).repeat(2), 0.5).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_exemplar_step_makes_copies_views_per_image():
    torch.manual_seed(0)
    m = METHODS.get("exemplar")(build(SPEC), {"copies": 3, "head": {"out": 8}})
    calls = []
    loss, metrics = m.training_step(torch.zeros(4, 3, 16, 16, dtype=torch.uint8),
                                    lambda x: (calls.append(1), torch.randn(len(x), 3, 16, 16))[1])
    assert len(calls) == 3 and list(metrics) == ["exemplar_nn_acc"] and torch.isfinite(loss)


# ------------------------------------------------------------------------------------------------ patches

def test_patch_geometry_and_positions():
    pc = PatchConfig(crop=0.875, jitter=0.25)
    size = 64
    crop, cell, patch = pc.geometry(size)
    assert (crop, cell, patch) == (56, 18, 14)
    g = torch.Generator().manual_seed(0)
    corners = sample_patch_boxes(500, size, pc, g)  # (500, 9, 2) row, col
    # patch p = (i, j) row-major sits at crop origin + (i cell, j cell) + its own offset in [0, cell - patch]
    lo = corners - torch.tensor([(i * cell, j * cell) for i in range(3) for j in range(3)])  # origin + offset
    assert ((lo.max(1).values - lo.min(1).values) <= cell - patch).all()
    assert (lo >= 0).all() and (lo <= (size - crop) + (cell - patch)).all()
    assert int(lo.min()) == 0 and int(lo.max()) == (size - crop) + (cell - patch)  # extremes are reached
    assert (lo.max(1).values - lo.min(1).values).max() == cell - patch  # offsets vary per patch
    assert (corners + patch <= size).all()
    # gaps: horizontally adjacent patches never touch or overlap
    for p in range(9):
        if p % 3 < 2:
            assert (corners[:, p + 1, 1] - corners[:, p, 1] >= patch).all()
    # evaluation: centred crop, centred tiles
    ev = sample_patch_boxes(2, size, pc, train=False)
    o = (size - crop) // 2 + (cell - patch) // 2
    assert ev[0].tolist() == [[o + i * cell, o + j * cell] for i in range(3) for j in range(3)]


def test_extract_patches_matches_slicing():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 20, 20, generator=g)
    corners = torch.randint(0, 15, (4, 9, 2), generator=g)
    out = extract_patches(x, corners, 5)
    assert out.shape == (4, 9, 3, 5, 5)
    for n in range(4):
        for p in range(9):
            r, c = corners[n, p].tolist()
            assert torch.equal(out[n, p], x[n, :, r:r + 5, c:c + 5])


def test_per_patch_grayscale_rate_and_standardisation():
    torch.manual_seed(0)
    x = torch.randint(0, 256, (300, 3, 32, 32), dtype=torch.uint8)
    pc = PatchConfig(normalize="standardize")
    p = make_patches(x, pc, torch.Generator().manual_seed(2))
    _, _, s = pc.geometry(32)
    assert p.shape == (300, 9, 3, s, s)
    grey = (p[:, :, 0] == p[:, :, 1]).flatten(2).all(-1) & (p[:, :, 1] == p[:, :, 2]).flatten(2).all(-1)
    rate = grey.float().mean()
    assert abs(float(rate) - 2 / 3) < 0.02  # 2700 patches: 4.4 standard deviations
    # drawn per patch: the per-image grey fraction has std sqrt(2/9)/3 = 0.157 (one draw per image: 0.47)
    assert 0.12 < float(grey.float().mean(1).std()) < 0.2
    torch.testing.assert_close(p.mean(dim=(2, 3, 4)), torch.zeros(300, 9), atol=1e-5, rtol=0)
    torch.testing.assert_close(p.std(dim=(2, 3, 4), unbiased=False), torch.ones(300, 9), atol=1e-4, rtol=0)
    # tf.image.per_image_standardization: the std is floored at 1/sqrt(numel) (a flat patch maps to 0)
    flat = torch.full((1, 3, 4, 4), 0.3)
    assert torch.equal(per_patch_standardize(flat), torch.zeros_like(flat))
    q = torch.tensor([0.0, 0.0, 0.0, 1e-3]).view(1, 1, 2, 2)
    torch.testing.assert_close(per_patch_standardize(q), (q - q.mean()) / 0.5)


def test_patch_resize_and_imagenet_normalisation():
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    pc = PatchConfig(patch_size=12, normalize="imagenet", grayscale_p=0.0)
    p = make_patches(x, pc, torch.Generator().manual_seed(0))
    assert p.shape == (2, 9, 3, 12, 12)


# ------------------------------------------------------------------------------------------------ jigsaw

def min_pairwise_hamming(perms):
    return min(int((a != b).sum()) for a, b in itertools.combinations(perms, 2))


def test_jigsaw_permutations_have_maximal_hamming_distance():
    perms = max_hamming_permutations(100, 9, 0)
    assert perms.shape == (100, 9)
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())
    assert len({tuple(p) for p in perms.tolist()}) == 100
    assert min_pairwise_hamming(perms) == 6
    rng = np.random.default_rng(0)
    assert max(min_pairwise_hamming(np.array([rng.permutation(9) for _ in range(100)])) for _ in range(3)) <= 4
    # greedy maximin: each chosen permutation is at the largest achievable minimum distance from the earlier ones
    cols = np.array(list(itertools.permutations(range(9))), dtype=np.int8).T.copy()
    running = np.full(cols.shape[1], 99)
    for k in range(1, 100):
        running = np.minimum(running, sum((cols[pos] != perms[k - 1, pos]).astype(np.int32) for pos in range(9)))
        assert hamming(perms[k:k + 1], perms[:k]).min() == running.max()
    assert np.array_equal(max_hamming_permutations(100, 9, 0), perms)  # deterministic


def test_permute_and_concat_semantics():
    emb = torch.arange(2 * 9 * 2, dtype=torch.float32).view(2, 9, 2)
    perms = torch.tensor([[8, 7, 6, 5, 4, 3, 2, 1, 0], [0, 2, 1, 3, 4, 5, 6, 7, 8]])
    out = permute_and_concat(emb, perms)
    assert out.shape == (4, 18)
    for i in range(2):
        for m in range(2):
            expect = torch.cat([emb[i, perms[m, j]] for j in range(9)])
            assert torch.equal(out[i * 2 + m], expect)


def test_jigsaw_step():
    torch.manual_seed(0)
    m = METHODS.get("jigsaw")(build(SPEC), {"num_permutations": 10, "perms_per_image": 4, "hidden": 16,
                                            "head": {"out": 8}})
    loss, metrics = m.training_step(torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8), None)
    assert list(metrics) == ["jigsaw_acc"] and torch.isfinite(loss)
    assert abs(float(loss.detach()) - np.log(10)) < 1.5


# ---------------------------------------------------------------------------------------- relative patch location

def test_relative_patch_location_labels_match_geometry():
    pairs = relative_pairs(3)
    assert pairs.tolist() == [[0, 4], [1, 4], [2, 4], [3, 4], [5, 4], [6, 4], [7, 4], [8, 4]]
    # label -> (rows, columns) of the neighbour relative to the centre: above-left ... below-right
    directions = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    pc = PatchConfig()
    _, cell, _ = pc.geometry(64)
    corners = sample_patch_boxes(200, 64, pc, torch.Generator().manual_seed(0))
    for label, (nbr, centre) in enumerate(pairs.tolist()):
        delta = (corners[:, nbr] - corners[:, centre]).float() / cell  # cells apart, +- the random gap
        assert (delta.round() == torch.tensor(directions[label]).float()).all()
    emb = torch.randn(2, 9, 3)
    x = permute_and_concat(emb, torch.from_numpy(pairs))
    assert torch.equal(x[1 * 8 + 4], torch.cat([emb[1, 5], emb[1, 4]]))  # neighbour first, centre second


def test_relpatch_step():
    torch.manual_seed(0)
    m = METHODS.get("relpatch")(build(SPEC), {"hidden": 16, "head": {"out": 8}})
    loss, metrics = m.training_step(torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8), None)
    assert list(metrics) == ["rpl_acc"] and torch.isfinite(loss)
    with pytest.raises(ValueError, match=r"relpatch.grid': 2 is not one of \[3\]"):
        METHODS.get("relpatch")(build(SPEC), {"grid": 2})


# ------------------------------------------------------------------------------------------------ supervised

class Labelled(torch.utils.data.Dataset):
    def __init__(self, labels):
        self.labels = torch.tensor(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.zeros(3, 16, 16, dtype=torch.uint8), int(self.labels[i])


def test_supervised_needs_labels_and_infers_classes():
    m = METHODS.get("supervised")(build(SPEC), {})
    with pytest.raises(ValueError, match="labelled pretraining set"):
        m.setup(Labelled([-1, -1, -1]))
    m.setup(Labelled([0, 4, 2]))
    assert m.classifier.out_features == 5
    loss, metrics = m.training_step(torch.zeros(3, 3, 16, 16, dtype=torch.uint8), lambda _: torch.randn(3, 3, 16, 16),
                                    labels=torch.tensor([0, 4, 2]))
    assert list(metrics) == ["train_top1"] and torch.isfinite(loss)
    m2 = METHODS.get("supervised")(build(SPEC), {"num_classes": 3})
    with pytest.raises(ValueError, match="num_classes is 3"):
        m2.setup(Labelled([0, 4]))


def test_patches_too_small_for_the_architecture_name_the_fix():
    vgg = {"family": "vgg", "depths": [1, 1, 1, 1, 1], "width": 4, "widen": 1, "fc_dim": 16, "fc_pool": 7,
           "rep_dim": None}
    m = METHODS.get("relpatch")(build(vgg), {"hidden": 16, "head": {"out": 8}})
    with pytest.raises(ValueError, match="patch_size"):
        m.training_step(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8), None)
    m = METHODS.get("relpatch")(build(vgg), {"hidden": 16, "head": {"out": 8}, "patch_size": 32})
    loss, _ = m.training_step(torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8), None)
    assert torch.isfinite(loss)
