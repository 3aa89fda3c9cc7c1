"""``augment`` (a method's runs vary the crop or the colour jitter): mean accuracy over datasets against the
augmentation strength, per method, with the interval over architectures."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("augment", "study", tables=("knobs",), needs=("knobs",),
                  when=lambda facts, method: bool(facts.knobs.get("crop") or facts.knobs.get("jitter")),
                  draw="archssl.analysis.figures.augment:draw", numbers="archssl.analysis.figures.augment:numbers",
                  caption="figures/augment.rst")
