"""The plan of a study: :func:`plan` validates a config (defaults filled in place) and resolves it, once and
without torch, into a :class:`Plan`: architectures, runs, every stage's job specs and execution settings,
datasets, the analysis manifest and the figures it will draw."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archssl.catalog import METHODS
from archssl.catalog.archs import ArchSpecError, arch_id, resolve
from archssl.catalog.datasets import DATASETS
from archssl.catalog.methods import PatchConfig
from archssl.config import ConfigError, Run, resolve_run, validate_schema
from archssl.layout import Layout
from archssl.params import ParamError
from archssl.plan.checks import (check_datasets, check_image_size, check_patch_size, check_runs, check_taps,
                                 params_key, pretrain_set)
from archssl.plan.execution import FeaturesExec, PretrainExec, ProbeExec
from archssl.plan.figures import manifest_runs, planned_figures, planned_tables, several_taps, tsne_rows
from archssl.plan.nas import plan_nas
from archssl.plan.specs import DataRef, FeaturesJob, PretrainJob, ProbeJob, dataset_ref


@dataclass
class Plan:
    """A study resolved once: architectures, runs, job specs, execution settings, datasets, the analysis
    manifest and the figures it will draw."""

    config: dict
    archs: dict[str, dict]
    runs: dict[str, Run]
    pretrain: dict[str, PretrainJob]
    features: dict[str, FeaturesJob]
    probe: ProbeJob
    pretrain_exec: PretrainExec
    features_exec: FeaturesExec
    probe_exec: ProbeExec
    datasets: dict[str, DataRef]
    figures: list[str]
    problems: list[str]
    #: the NAS searches (archssl.plan.nas.NASPlan); their architectures (``nas-<search>``) are in ``archs`` as
    #: ``{family, nas_search}`` records, not specs (the search writes results/archs/nas-<search>.yaml), their
    #: random architectures with their specs
    nas: Any = None

    @property
    def results(self) -> str:
        return self.config["results"]

    @property
    def methods(self) -> list[str]:
        return list(self.config["methods"])

    @property
    def downstream(self) -> list[str]:
        return list(self.config["data"]["downstream"])

    @property
    def variants(self) -> list[str]:
        """The variants the ablation table compares (with their method or ``against``)."""
        return [n for n, r in self.runs.items() if r.is_variant and r.against is not None]

    @property
    def reference(self) -> str:
        return self.config["analysis"]["reference"] or self.downstream[0]

    def tsne(self, classes: int = 5, per_class: int = 60) -> dict | None:
        """What the t-SNE figure reads (None where the study does not draw it): the feature files of the
        augmentation runs (:func:`tsne_rows`) on the first architecture and the reference dataset, the tap
        (None: the deepest), and the subsample (``classes`` classes, ``per_class`` test images each, seeded)."""
        if "tsne" not in self.figures:
            return None
        rows = tsne_rows(manifest_runs(self.runs, self.pretrain))
        arch, ds = next(iter(self.archs)), self.reference
        names = list(dict.fromkeys(n for r in rows for n in r["runs"]))
        tap = self.probe.tap if self.probe.tap not in (None, "all") else None
        return {"arch": arch, "dataset": ds, "tap": tap, "rows": rows, "classes": classes, "per_class": per_class,
                "seed": self.config["seed"],
                "files": {n: Layout(self.results).features(n, arch, ds) for n in names}}

    @property
    def tables(self) -> list[str]:
        """The tables the study writes (:func:`archssl.plan.figures.planned_tables`)."""
        return planned_tables(several_taps(self.config), bool(self.variants))

    def caption_facts(self) -> dict:
        """The facts the figure captions state (``snakemake.params.study`` in ``workflow/report/figures/*.rst``):
        sizes, the reference, the baseline, the intervals' settings."""
        cfg = self.config
        return {
            "n_archs": len(self.archs),
            "families": sorted({s["family"] for s in self.archs.values()}),
            "datasets": self.downstream,
            "reference": self.reference,
            "baseline": cfg["analysis"]["baseline"],
            "methods": self.methods,
            "n_resamples": cfg["analysis"]["bootstrap"]["n_resamples"],
            "confidence": cfg["analysis"]["bootstrap"]["confidence"],
            "taps": list(cfg["features"]["taps"]),
            "topk": cfg["analysis"]["topk"],
            "probe": self.probe.name,
        }

    def status_targets(self) -> dict:
        """What :func:`archssl.status.stale_artifacts` checks of this study, as plain JSON (the workflow passes
        it to ``archssl status --targets``): the results folder, each run's registered method, the
        architectures and the downstream datasets."""
        return {"results": str(self.results), "runs": {run: job.method for run, job in self.pretrain.items()},
                "archs": list(self.archs), "downstream": list(self.downstream)}

    def resources(self, stage: str) -> dict:
        r = dict(self.config["resources"]["default"])
        r.update(self.config["resources"].get(stage) or {})
        return r

    def manifest(self) -> dict:
        """What the tables and figures jobs read: the probe files (as a pattern), folders, reference,
        baseline, correlations, variants and the planned figures."""
        paths = Layout(self.results)
        return {
            "study": self.config["study"],
            "probes": {"pattern": paths.probe(), "method": self.methods,
                       "arch": list(self.archs), "dataset": self.downstream},
            "archs_dir": paths.archs_dir, "pretrain_dir": paths.pretrain_root,
            "image_size": self.config["data"]["image_size"], "reference": self.reference,
            "baseline": self.config["analysis"]["baseline"], "correlations": self.config["analysis"]["correlations"],
            "variants": [{"variant": v, "method": self.runs[v].method, "against": self.runs[v].against,
                          "change": self.runs[v].note, "seed": self.runs[v].seed} for v in self.variants],
            "figures": self.figures,
            "runs": manifest_runs(self.runs, self.pretrain),
            "ranked": [m for m, r in self.runs.items() if not r.is_variant and self.pretrain[m].trains
                       and m != self.config["analysis"]["baseline"]],
            "taps": list(self.config["features"]["taps"]), "probe": self.probe.name,
            "bootstrap": self.config["analysis"]["bootstrap"], "topk": self.config["analysis"]["topk"],
        }


def _pretrain_job(cfg: dict, run: Run) -> PretrainJob:
    d = cfg["data"]
    where = f"variants.{run.name}.params" if run.is_variant else f"pretrain.method_params.{run.method}"
    name, split = pretrain_set(cfg, run.params, lambda k: params_key(cfg, run, k))
    ref = dataset_ref(name, d, cfg["results"], split)
    info = METHODS.get(run.method)
    if info.trains and not info.patch_based and "pretrain" in DATASETS.get(name).views:
        # SSL views are cut from the whole decoded image, as in the papers (not from the evaluation centre
        # crop); patch-based tasks and the BN statistics of untrained runs keep the evaluation view
        ref = DataRef(ref.name, ref.split, ref.root, ref.builtin, {"view": "pretrain", **ref.options})
    job = PretrainJob.build(run.method, run=run.name, seed=run.seed, image_size=d["image_size"], data=ref,
                            pretrain=cfg["pretrain"], method_params=run.params, where=where)

    if "labels" in METHODS.get(run.method).batch_inputs and DATASETS.get(name).num_classes < 2:
        raise ConfigError(f"config key '{params_key(cfg, run, 'dataset')}': method {run.name!r} needs a labelled "
                          f"pretraining set, but {name!r} has no labels; set "
                          f"pretrain.method_params.{run.method}.dataset to a labelled dataset")
    return job


def _features_job(cfg: dict, run: Run, pre: PretrainJob, datasets: dict[str, DataRef]) -> FeaturesJob:
    f = cfg["features"]
    patches = None
    if f["patch_eval"] == "patch_average" and METHODS.get(run.method).patch_based:
        patches = {k: pre.method_params[k] for k in PatchConfig.KEYS}
    return FeaturesJob(run.name, run.method, cfg["data"]["image_size"], tuple(f["taps"]), f["dtype"],
                       {d: datasets[d] for d in cfg["data"]["downstream"]}, patches)


def plan(cfg: dict) -> Plan:
    """Validate ``cfg`` (defaults filled in place) and resolve the whole study; raises :class:`ConfigError`
    naming the key at fault."""
    validate_schema(cfg)
    cfg["variants"] = cfg.get("variants") or {}
    check_datasets(cfg)
    check_runs(cfg)
    try:
        specs = resolve(cfg["archs"])
    except ArchSpecError as e:
        raise ConfigError(f"config key 'archs': {e}") from e
    archs = {arch_id(s): s for s in specs}
    nas = plan_nas(cfg, archs)  # adds nas-<search> ({family, nas_search}: the search writes its spec), random archs
    check_taps(cfg, nas.checkable(archs))
    check_image_size(cfg, nas.checkable(archs))
    d = cfg["data"]
    names = dict.fromkeys(d["downstream"])
    datasets = {n: dataset_ref(n, d, cfg["results"]) for n in names}
    runs = {m: resolve_run(cfg, m) for m in cfg["methods"]}
    try:
        for m, mp in cfg["pretrain"]["method_params"].items():  # also those of methods the study does not run
            PretrainJob.build(m, image_size=d["image_size"], pretrain=cfg["pretrain"], method_params=mp)
        pretrain = {m: _pretrain_job(cfg, r) for m, r in runs.items()}
        check_patch_size(cfg, pretrain, nas.checkable(archs))
        probe, probe_exec = ProbeJob.build(cfg["probe"], cfg["analysis"]["bootstrap"])
    except ConfigError:
        raise
    except ParamError as e:
        raise ConfigError(str(e)) from None
    features = {m: _features_job(cfg, r, pretrain[m], datasets) for m, r in runs.items()}
    p, f = cfg["pretrain"], cfg["features"]
    untrained = [m for m, r in runs.items() if not METHODS.get(r.method).trains]
    # the Revisiting knobs: a family at several widening factors or representation sizes (rep_dim)
    shapes = {(s["family"], s.get("widen"), s.get("rep_dim")) for s in nas.checkable(archs).values()}
    fams = {f for f, _, _ in shapes}
    figures = planned_figures(cfg["methods"], cfg["analysis"]["baseline"],
                              [n for n, r in runs.items() if r.is_variant and r.against is not None],
                              untrained=untrained, n_datasets=len(d["downstream"]), n_archs=len(archs),
                              multi_tap=several_taps(cfg),
                              widths=any(len({(w, r) for g, w, r in shapes if g == f}) >= 2 for f in fams),
                              ranked=[m for m, r in runs.items() if not r.is_variant and m not in untrained
                                      and m != cfg["analysis"]["baseline"]],
                              runs=manifest_runs(runs, pretrain))
    refs = [*datasets.values(), *(j.data for j in pretrain.values()), *(j.data for j in nas.searches.values())]
    problems = sorted({f"dataset {r.name!r} is read from disk, but the config sets neither data.data_root "
                       f"nor data.roots.{r.name}" for r in refs if r.root is None})
    return Plan(config=cfg, archs=archs, runs=runs, pretrain=pretrain, features=features, probe=probe,
                pretrain_exec=PretrainExec(p["device"], p["num_workers"], p["checkpoint_every"], int(p["compile"]),
                                           p["checkpoint_minutes"]),
                features_exec=FeaturesExec(f["device"], f["num_workers"], f["batch_size"]),
                probe_exec=probe_exec, datasets=datasets, figures=figures, problems=problems, nas=nas)



def validate_config(cfg: dict) -> list[dict]:
    """Validate ``cfg`` completely (:func:`plan`; defaults filled in place); returns the resolved architecture
    specs."""
    return list(plan(cfg).archs.values())
