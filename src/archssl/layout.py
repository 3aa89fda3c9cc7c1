"""The one owner of result paths: where every artifact of a study lives under its results folder.

Every method returns a path under ``root``; called without arguments the wildcards stay in, which makes it a
Snakemake pattern (``Layout("results").features()`` is ``results/features/{method}/{arch}/{dataset}.h5``).
The rules declare their files with it, and the plan, the tables and the status read with it.

::

    results/
      data/{dataset}/images.h5               built-in sets, generated
      data/checked/{dataset}.txt             the check report of an on-disk set
      archs/{arch}.yaml                      one spec per architecture
      pretrain/{method}/{arch}/              backbone.pt, metrics.csv, checkpoint.pt
      features/{method}/{arch}/{dataset}.h5  frozen features
      probes/{method}/{arch}/{dataset}.json  probe results
      study.json, tables/*.csv, tables/study.json, figures/*.png|pdf, status.csv
      nas/{search}/                          genotype.yaml, trajectory.csv, metrics.csv; nas/tables, nas/figures
      config.resolved.yaml, provenance.json
      logs/<stage>/...log
"""

from __future__ import annotations

from pathlib import Path

#: the wildcards of the result patterns (a ``{method}`` is an entry of ``methods``: a method or a variant)
RUN, ARCH, DATASET, SEARCH = "{method}", "{arch}", "{dataset}", "{search}"



class Layout:
    """The result paths of a study whose results folder is ``root``."""

    def __init__(self, root: str | Path):
        self.root = str(root)

    def __repr__(self) -> str:
        return f"Layout({self.root!r})"

    # ------------------------------------------------------------------------------------------- data
    @property
    def data_dir(self) -> str:
        """Where the built-in sets are generated (their :class:`archssl.plan.DataRef` root)."""
        return f"{self.root}/data"

    def dataset_file(self, dataset: str = DATASET) -> str:
        return f"{self.root}/data/{dataset}/images.h5"

    def dataset_checked(self, dataset: str = DATASET) -> str:
        return f"{self.root}/data/checked/{dataset}.txt"

    # ------------------------------------------------------------------------------------------ archs
    @property
    def archs_dir(self) -> str:
        return f"{self.root}/archs"

    def arch_spec(self, arch: str = ARCH) -> str:
        return f"{self.root}/archs/{arch}.yaml"

    # --------------------------------------------------------------------------------------- pretrain
    @property
    def pretrain_root(self) -> str:
        return f"{self.root}/pretrain"

    def pretrain_dir(self, run: str = RUN, arch: str = ARCH) -> str:
        return f"{self.root}/pretrain/{run}/{arch}"

    def backbone(self, run: str = RUN, arch: str = ARCH) -> str:
        return f"{self.pretrain_dir(run, arch)}/backbone.pt"

    def metrics(self, run: str = RUN, arch: str = ARCH) -> str:
        return f"{self.pretrain_dir(run, arch)}/metrics.csv"

    # ---------------------------------------------------------------------------------- features, probe
    def features(self, run: str = RUN, arch: str = ARCH, dataset: str = DATASET) -> str:
        return f"{self.root}/features/{run}/{arch}/{dataset}.h5"

    def probe(self, run: str = RUN, arch: str = ARCH, dataset: str = DATASET) -> str:
        return f"{self.root}/probes/{run}/{arch}/{dataset}.json"

    # --------------------------------------------------------------------------------------- analysis
    @property
    def study_manifest(self) -> str:
        """What the tables and figures jobs read (:meth:`archssl.plan.Plan.manifest`)."""
        return f"{self.root}/study.json"

    @property
    def tables_dir(self) -> str:
        return f"{self.root}/tables"

    def table(self, name: str) -> str:
        return f"{self.root}/tables/{name}.csv"

    @property
    def tables_meta(self) -> str:
        return f"{self.root}/tables/study.json"

    @property
    def figures_dir(self) -> str:
        return f"{self.root}/figures"

    def figure(self, stem: str, ext: str = "png") -> str:
        return f"{self.root}/figures/{stem}.{ext}"

    @property
    def status_table(self) -> str:
        return f"{self.root}/status.csv"

    @property
    def config_resolved(self) -> str:
        return f"{self.root}/config.resolved.yaml"

    @property
    def provenance(self) -> str:
        return f"{self.root}/provenance.json"

    # -------------------------------------------------------------------------------------------- NAS
    def nas_dir(self, search: str = SEARCH) -> str:
        return f"{self.root}/nas/{search}"

    def nas_file(self, name: str, search: str = SEARCH) -> str:
        """``genotype.yaml``, ``trajectory.csv`` or ``metrics.csv`` of a search."""
        return f"{self.nas_dir(search)}/{name}"

    @property
    def nas_manifest(self) -> str:
        return f"{self.root}/nas/study.json"

    def nas_table(self, name: str) -> str:
        return f"{self.root}/nas/tables/{name}.csv"

    def nas_figure(self, stem: str, ext: str = "png") -> str:
        return f"{self.root}/nas/figures/{stem}.{ext}"

    # ------------------------------------------------------------------------------------------- logs
    def log(self, stage: str, *names: str) -> str:
        """``logs/<stage>.log``, or ``logs/<stage>/<names...>.log``."""
        return f"{self.root}/logs/{'/'.join((stage, *names))}.log"
