"""Test-session setup: import paths, one thread per test, the fast tier, the micro study built once.

The fast tier (``make test-fast``, ``pytest -m fast``): the tests of the modules in :data:`TORCH_FREE` get the
marker ``fast``, but those it leaves out and those marked ``workflow``, ``slow`` or ``slurm``. Under
``-m fast`` the other test modules are not even collected, and torch cannot be imported: an import of torch or
torchvision, in a test or in what it calls, fails the test that tried it (or the session, if tried outside any
test).
"""

import importlib.abc
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # tests/support, as the package ``support``
os.environ.setdefault("OMP_NUM_THREADS", "1")

#: the fast tier: the test modules whose unit tests import no torch, each with the tests (function names) left
#: out of the tier, those that import torch and those that draw every figure of a study (10-30 s each); tests
#: marked workflow, slow or slurm are never in it
TORCH_FREE = {
    "test_archs_sample": (),
    "test_archs_spec": (),
    "test_cli": (),
    "test_config": (),
    "test_featurestore": (),
    "test_gpus": ("test_the_cli_pins_features_and_probe_jobs_from_exec",),
    "test_layers": (),
    "test_mini_data": ("test_task_is_deterministic_balanced_and_split", "test_pool_size_and_reading_back"),
    "test_nas_workflow": (),
    "test_plan": ("test_every_default_comes_from_the_schema", "test_a_new_method_is_one_module_plus_one_registry_line"),
    "test_probes_metrics": ("test_probe_threads_follow_the_jobs_budget",),
    "test_stats": (),
    "test_studies": (),
    "test_tables": ("test_figures_are_drawn_for_every_method",
                    "test_ablation_table_compares_each_variant_with_its_method_on_the_same_architectures",
                    "test_a_seed_replicate_of_the_untrained_baseline_is_compared_but_has_no_pretext_figure"),
}
_NOT_FAST = ("workflow", "slow", "slurm")
_HEAVY = ("torch", "torchvision")


def _fast_tier(config) -> bool:
    return config.getoption("markexpr", "") == "fast"


class _NoTorch(importlib.abc.MetaPathFinder):
    """Refuses torch and torchvision (as if they were not installed) and notes each attempt."""

    def __init__(self):
        self.attempts: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _HEAVY:
            self.attempts.append(name)
            raise ModuleNotFoundError(f"the fast tier imports no {name} (tests/conftest.py TORCH_FREE)", name=name)
        return None


_no_torch = _NoTorch()


def pytest_configure(config):
    config.addinivalue_line("markers", "fast: a unit test importing no torch, in a TORCH_FREE module "
                                       "(tests/conftest.py; make test-fast)")
    if _fast_tier(config):
        assert not set(_HEAVY) & set(sys.modules), "torch was imported before the fast tier started"
        sys.meta_path.insert(0, _no_torch)


def pytest_unconfigure(config):
    if _no_torch in sys.meta_path:
        sys.meta_path.remove(_no_torch)


def pytest_ignore_collect(collection_path, config):
    """Under ``-m fast``, the test modules that hold no fast test are not imported."""
    if _fast_tier(config) and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return collection_path.stem not in TORCH_FREE
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark ``fast`` before ``-m`` selects (this hook runs ahead of pytest's own)."""
    for item in items:
        torch_tests = TORCH_FREE.get(item.path.stem)
        fast = (torch_tests is not None and item.originalname not in torch_tests
                and not any(item.get_closest_marker(m) for m in _NOT_FAST))
        if fast:
            item.add_marker(pytest.mark.fast)
        elif item.get_closest_marker("fast"):
            raise pytest.UsageError(f"{item.nodeid} is marked fast but tests/conftest.py TORCH_FREE, where the fast "
                                    f"tier is listed, does not hold it")


def pytest_sessionfinish(session, exitstatus):
    if _no_torch.attempts and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nthe fast tier tried to import {sorted(set(_no_torch.attempts))} (tests/conftest.py TORCH_FREE)")


def _fail_on_torch_attempts():
    """Around one phase of a test: fail it when it tried to import torch (and did not fail already)."""
    n = len(_no_torch.attempts)
    result = yield
    if len(_no_torch.attempts) > n:
        pytest.fail(f"the fast tier imports no torch; this test tried {sorted(set(_no_torch.attempts[n:]))} "
                    f"(tests/conftest.py TORCH_FREE)", pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    return (yield from _fail_on_torch_attempts())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    return (yield from _fail_on_torch_attempts())


@pytest.fixture(autouse=True)
def _few_threads():
    """One intra-op torch thread in each test where torch is loaded (this fixture imports no torch)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def micro_data(tmp_path_factory):
    """The datasets of the micro study (support.studies.MICRO: its pool and its two downstream sets), prepared
    once per test session; the studies built on MICRO's data settings start from a copy of it."""
    from support.studies import MICRO, build_study, dataset_targets

    return build_study(tmp_path_factory, "micro_data", MICRO, *dataset_targets(MICRO))


@pytest.fixture(scope="session")
def finished(micro_data, tmp_path_factory):
    """The micro study (support.studies.MICRO), built once per test session on its prepared datasets; tests
    copy it before changing anything (the ``study`` fixture of tests/test_workflow.py)."""
    from support.studies import MICRO, build_study

    return build_study(tmp_path_factory, "micro", MICRO, start=micro_data)
