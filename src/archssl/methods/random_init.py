"""The random-initialisation baseline: the architecture's seeded initial weights, never trained.

Every study probes it next to the SSL methods: it is the bar any pretraining has to clear."""

from __future__ import annotations

from archssl.methods.base import SSLMethod


class RandomInit(SSLMethod):
    def training_step(self, images, augment, **inputs):
        raise RuntimeError("the 'random' baseline is not trained")
