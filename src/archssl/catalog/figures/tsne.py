"""``tsne`` (a method's runs vary the crop or the colour jitter: the rows are those runs,
:func:`archssl.plan.figures.tsne_rows`): a t-SNE of frozen features of a few classes, one panel per run from
weak to strong augmentation, with each panel's 5-NN accuracy and silhouette. The embedding is computed once
(``prepare``) from the feature files the plan names (:meth:`archssl.plan.Plan.tsne`)."""

from archssl.catalog.figures.base import FigureKind

KIND = FigureKind("tsne", "study",
                  when=lambda facts, method: bool(facts.knobs.get("crop") or facts.knobs.get("jitter")),
                  prepare="archssl.analysis.figures.tsne:prepare", draw="archssl.analysis.figures.tsne:draw",
                  numbers="archssl.analysis.figures.tsne:numbers", caption="figures/tsne.rst")
