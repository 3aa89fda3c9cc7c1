"""``archssl data check``: problems, report and exit status."""

from __future__ import annotations

import dataclasses

import pytest

from archssl.catalog.datasets import DATASETS, DatasetInfo
from archssl.data import check
from support import fakes


@pytest.fixture
def data_root(tmp_path):
    fakes.make_cifar10(tmp_path / "cifar10")
    fakes.make_svhn(tmp_path / "svhn")
    fakes.make_flowers102(tmp_path / "flowers102")
    return tmp_path


def test_present_datasets_have_no_problems(data_root):
    assert check.check_datasets(["cifar10", "svhn", "flowers102"], data_root) == []
    assert check.main(["--data-root", str(data_root), "cifar10", "svhn"]) == 0


def test_missing_and_unknown_datasets_are_reported(data_root):
    problems = check.check_datasets(["cifar10", "stanford_cars", "cifar100", "no_such_set"], data_root)
    by_name = {p.dataset: p for p in problems}
    assert set(by_name) == {"stanford_cars", "cifar100", "no_such_set"}
    assert by_name["stanford_cars"].kind == "missing" and by_name["stanford_cars"].path == data_root / "stanford_cars"
    assert by_name["no_such_set"].kind == "unknown" and "known:" in by_name["no_such_set"].message
    report = check.format_report(problems, checked=["cifar10", "stanford_cars", "cifar100", "no_such_set"])
    assert "ok       cifar10" in report
    assert f"missing  cifar100 ({data_root / 'cifar100'})" in report
    assert f"{data_root}/cifar100/cifar-100-python/{{train, test, meta}}" in report
    assert f"{data_root}/stanford_cars/stanford_cars/devkit/{{cars_meta.mat, cars_train_annos.mat}}" in report
    assert "3 dataset(s) with problems" in report


def test_malformed_dataset_is_reported(data_root):
    (data_root / "svhn" / "test_32x32.mat").write_bytes(b"garbage")
    (problem,) = check.check_datasets(["svhn"], data_root)
    assert problem.kind == "malformed" and "dataset 'svhn'" in problem.message
    assert f"{data_root}/svhn/test_32x32.mat" in problem.message


def test_roots_override_the_data_root(data_root, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "c10"
    (data_root / "cifar10").rename(elsewhere)
    assert [p.dataset for p in check.check_datasets(["cifar10"], data_root)] == ["cifar10"]
    assert check.check_datasets(["cifar10"], data_root, {"cifar10": elsewhere}) == []
    assert check.resolve_root("cifar10", data_root, {"cifar10": elsewhere}) == elsewhere
    assert check.resolve_root("svhn", data_root, {"cifar10": elsewhere}) == data_root / "svhn"
    assert check.main(["--data-root", str(data_root), "--root", f"cifar10={elsewhere}", "cifar10"]) == 0


def test_builtin_datasets_are_skipped(data_root):
    name = "test_check_builtin_dummy"
    if name not in DATASETS:
        DATASETS.add(name, DatasetInfo(name=name, num_classes=2, impl="archssl.data.mini:MiniSource", builtin=True))
    assert check.check_datasets([name], data_root / "does-not-exist") == []
    assert name not in check.real_dataset_names()
    assert "cifar10" in check.real_dataset_names()


def test_deep_check_decodes_images(data_root):
    assert check.check_datasets(["flowers102"], data_root, deep=True, image_size=16) == []
    (data_root / "flowers102" / "flowers-102" / "jpg" / "image_00001.jpg").write_bytes(b"\xff\xd8 truncated")
    assert check.check_datasets(["flowers102"], data_root) == []  # the cheap check does not decode
    problems = check.check_datasets(["flowers102"], data_root, deep=True, image_size=16)
    assert [(p.dataset, p.kind) for p in problems] == [("flowers102", "unreadable")]
    assert "split 'train'" in problems[0].message and "image_00001.jpg" in problems[0].message


def test_main_exit_status_and_output(data_root, capsys, monkeypatch):
    assert check.main(["--data-root", str(data_root), "cifar10", "dtd"]) == 1
    out = capsys.readouterr().out
    assert "ok       cifar10" in out and "missing  dtd" in out and f"{data_root}/dtd/dtd/dtd/labels" in out
    monkeypatch.setenv(check.DATA_ROOT_ENV, str(data_root))
    assert check.main(["svhn"]) == 0
    monkeypatch.delenv(check.DATA_ROOT_ENV)
    with pytest.raises(SystemExit) as exc:
        check.main(["svhn"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        check.main(["--data-root", str(data_root), "--root", "cifar10", "cifar10"])


def test_main_without_names_checks_every_real_dataset(data_root, capsys):
    assert check.main(["--data-root", str(data_root)]) == 1
    out = capsys.readouterr().out
    for name in ("cifar10", "svhn", "flowers102"):
        assert f"ok       {name}" in out
    for name in ("imagenet", "inat2021", "voc2007", "uiuc_sports8"):
        assert f"missing  {name}" in out


def test_class_count_problem_is_malformed(tmp_path):
    fakes.make_dtd(tmp_path / "dtd")
    (problem,) = check.check_datasets(["dtd"], tmp_path)
    assert problem.kind == "malformed" and "found 3 classes in dtd/images, expected 47" in problem.message
    small = dataclasses.replace(DATASETS.get("dtd"), num_classes=3)
    small.check(tmp_path / "dtd")
