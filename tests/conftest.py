import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """The micro study of tests/test_workflow.py (MICRO), built once per test session; tests copy it before
    changing anything (the ``study`` fixture there)."""
    from test_workflow import MICRO, build_study

    return build_study(tmp_path_factory, "micro", MICRO)
