"""The built-in mini suite: deterministic, sized as promised, balanced, readable through the Dataset API."""

import numpy as np
import pytest

from archssl.catalog.datasets import DATASETS, DatasetError
from archssl.data import mini


@pytest.fixture(scope="module")
def assets():
    return mini._assets()


def test_suite_has_eight_tasks_of_different_kinds_and_a_pool():
    assert len(mini.TASKS) >= 8
    assert "pool" in DATASETS and all(t in DATASETS for t in mini.TASKS)
    assert all(DATASETS.get(t).builtin for t in mini.TASKS)


@pytest.mark.parametrize("name", sorted(mini.TASKS))
def test_task_is_deterministic_balanced_and_split(name, assets):
    a = mini.generate_task(name, 16, seed=0, assets=assets)
    b = mini.generate_task(name, 16, seed=0, assets=assets)
    k = len(mini.TASKS[name].class_names)
    for split in ("train", "val", "test"):
        (xa, ya), (xb, yb) = a[split], b[split]
        assert xa.dtype == np.uint8 and xa.shape[1:] == (3, 16, 16)
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
        counts = np.bincount(ya, minlength=k)
        assert (counts > 0).all(), f"{name}/{split}: a class is missing"
        assert counts.max() <= 2 * counts.min() + 10
        assert xa.std() > 5  # not blank
    # the three splits are different images
    assert not np.array_equal(a["train"][0][: len(a["test"][0])], a["test"][0])


def test_seed_changes_the_procedural_tasks(assets):
    a = mini.generate_task("shape", 16, seed=0, assets=assets)["train"][0]
    b = mini.generate_task("shape", 16, seed=1, assets=assets)["train"][0]
    assert not np.array_equal(a, b)


def test_position_labels_match_the_object_quadrant(assets):
    """Independent check of the labels: the object's pixels differ most from the background median in the
    labelled quadrant (backgrounds are flat, gradient, blocky or texture, so use the largest deviation)."""
    x, y = mini.generate_task("position", 32, seed=0, assets=assets)["val"]
    # flat-colour backgrounds only: the object is the set of pixels unlike the corner colour
    agree = total = 0
    for img, label in zip(x.astype(int), y):
        corners = img[:, [0, 0, -1, -1], [0, -1, 0, -1]].T
        if np.ptp(corners, axis=0).max() > 2:  # not a flat background
            continue
        mask = np.abs(img - corners[0][:, None, None]).sum(0) > 60
        if mask.sum() < 4:
            continue
        yy, xx = np.nonzero(mask)
        q = int(yy.mean() >= 16) * 2 + int(xx.mean() >= 16)
        agree += q == label
        total += 1
    assert total >= 10 and agree / total > 0.9


def test_pool_size_and_reading_back(tmp_path):
    path = mini.prepare("pool", tmp_path / "pool" / "images.h5", size=16, pool_size=300)
    ds = DATASETS.get("pool").open("train", tmp_path, 16)
    assert len(ds) == 300
    img, label = ds[0]
    assert tuple(img.shape) == (3, 16, 16) and label == -1
    with pytest.raises(DatasetError, match="32px"):
        DATASETS.get("pool").open("train", tmp_path, 32)
    with pytest.raises(DatasetError, match="only the split"):
        DATASETS.get("pool").open("test", tmp_path, 16)
    assert path.exists()


def test_default_pool_has_at_least_5000_images():
    import inspect

    assert inspect.signature(mini.generate_pool).parameters["n"].default >= 5000


def test_truncated_or_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        DATASETS.get("digits").open("train", tmp_path, 32)
    bad = tmp_path / "digits" / "images.h5"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(DatasetError, match="not a readable HDF5"):
        DATASETS.get("digits").open("train", tmp_path, 32)
