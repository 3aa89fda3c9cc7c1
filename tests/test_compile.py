"""``maybe_compile``: compiled and eager SimCLR training steps agree (CPU inductor; needs a C++ compiler)."""

from __future__ import annotations

import shutil

import pytest
import torch

from archssl.train.augment import AugmentConfig, ViewMaker
from archssl.train.compile import maybe_compile
from archssl.train.loop import build_method

SPEC = {"family": "resnet", "block": "basic", "depths": [1, 1, 1, 1], "width": 8, "stem": "cifar"}
PARAMS = {"temperature": 0.5, "head": {"kind": "mlp", "hidden": 32, "out": 16}}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _run(compiled: bool, steps: int = 3):
    torch.manual_seed(0)
    model = build_method("simclr", SPEC, PARAMS)
    model = maybe_compile(model.to(memory_format=torch.channels_last), compiled)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    view = ViewMaker(AugmentConfig(), 16, torch.Generator().manual_seed(2), torch.channels_last)
    losses = []
    model.train()
    for _ in range(steps):
        loss, _ = model.training_step(images, view)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses, model.state_dict()


def test_disabled_returns_the_model_untouched():
    model = torch.nn.Linear(2, 2)
    assert maybe_compile(model, False) is model and model._compiled_call_impl is None


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("cc") is None,
                    reason="torch.compile on CPU needs a C++ compiler")
def test_compiled_and_eager_training_steps_agree():
    torch._dynamo.reset()
    eager_losses, eager_state = _run(False)
    compiled_losses, compiled_state = _run(True)
    from torch._dynamo.utils import counters

    assert counters["stats"]["unique_graphs"] >= 2  # the backbone and the head really went through dynamo
    assert set(compiled_state) == set(eager_state)  # in-place compilation: no _orig_mod. prefix in the keys
    torch.testing.assert_close(torch.tensor(compiled_losses), torch.tensor(eager_losses), rtol=1e-4, atol=1e-5)
    for k, v in eager_state.items():
        if v.is_floating_point():
            torch.testing.assert_close(compiled_state[k], v, rtol=1e-3, atol=1e-4, msg=k)
        else:
            assert torch.equal(compiled_state[k], v), k
