"""Which figures and tables a study draws (torch-free, from the plan): the figure kinds of
:mod:`archssl.catalog.figures` that the study's facts call for, per method and for the whole study; the tables
(:data:`~archssl.catalog.figures.TABLES`) it writes; the facts its captions state; and the Good-practices knobs
(negatives, heads, crop, jitter) a study's runs vary."""

from __future__ import annotations

import json
from archssl.catalog.figures import FIGURE_KINDS, TABLES, StudyFacts
from archssl.config import flat_items
from archssl.plan.specs import PretrainJob


#: the built-in figure kinds drawn per method (``<figure>_<method>``), in the order a study lists them
FIGURES = tuple(name for name, kind in FIGURE_KINDS.items() if kind.scope == "method")
#: the built-in figure kinds of the whole study (their stem is the name alone)
STUDY_FIGURES = tuple(name for name, kind in FIGURE_KINDS.items() if kind.scope == "study")
#: the knobs of the Good-practices figures: what a run's changed params may touch to join a knob's series
KNOB_KEYS = {"negatives": ("queue_size", "negatives", "batch_size"), "heads": ("head",),
             "crop": ("augment.crop_scale",), "jitter": ("augment.jitter_strength",)}


def run_knobs(job: PretrainJob) -> dict:
    """The Good-practices knobs of one run, from its job spec (defaults included): ``K`` negatives per query
    (MoCo's queue, InstDisc's memory-bank draws, SimCLR's 2 x batch - 2), the projection ``head`` kind, the
    crop's min and max area and the colour-jitter strength (None where the method has no such knob)."""
    if not job.trains:
        return {"K": None, "head": None, "crop_min": None, "crop_max": None, "jitter": None}
    mp, aug = job.method_params, job.augment or {}
    k = {"moco": mp.get("queue_size"), "instdisc": mp.get("negatives"),
         "simclr": 2 * job.batch_size - 2}.get(job.method)
    head = mp["head"].get("kind") if isinstance(mp.get("head"), dict) else None
    crop = aug.get("crop_scale") or [None, None]
    return {"K": k, "head": head, "crop_min": crop[0], "crop_max": crop[1], "jitter": aug.get("jitter_strength")}


def knob_series(runs: dict, knob: str) -> dict[str, list[str]]:
    """Per registered method, the runs of the manifest's ``runs`` that vary only ``knob`` (a key of
    ``KNOB_KEYS``: its plain run, and its variants whose changed params all lie under the knob's keys), where
    they take at least 2 values of it; a method with fewer is left out."""
    value = {"negatives": lambda r: r["K"], "heads": lambda r: r["head"],
             "crop": lambda r: (r["crop_min"], r["crop_max"]), "jitter": lambda r: r["jitter"]}[knob]
    keys = KNOB_KEYS[knob]
    out = {}
    for method in dict.fromkeys(r["method"] for r in runs.values()):
        names = [n for n, r in runs.items() if r["method"] == method and r["trains"] and value(r) is not None
                 and (not r["variant"] or (r["changed"] and all(
                     any(c == k or c.startswith(k + ".") for k in keys) for c in r["changed"])))]
        if len({json.dumps(value(runs[n])) for n in names}) >= 2:
            out[method] = names
    return out


def tsne_rows(runs: dict) -> list[dict]:
    """The rows of the t-SNE figure: per method whose runs vary the crop or the colour jitter
    (:func:`knob_series` of the manifest's ``runs``), those runs from the weakest augmentation to the strongest
    (crops: the largest area first; jitter: the weakest first), with their levels."""
    strength = {"crop": lambda r: -(r["crop_min"] + r["crop_max"]), "jitter": lambda r: r["jitter"]}
    level = {"crop": lambda r: f"crop {r['crop_min']:g}-{r['crop_max']:g}", "jitter": lambda r: f"jitter {r['jitter']:g}"}
    rows = []
    for knob in ("crop", "jitter"):
        for method, names in knob_series(runs, knob).items():
            names = sorted(names, key=lambda n: strength[knob](runs[n]))
            rows.append({"method": method, "knob": knob, "runs": names,
                         "levels": [level[knob](runs[n]) for n in names]})
    return rows


def split_stem(stem: str) -> tuple[str, str]:
    """(figure, method) of a figure stem from :func:`planned_figures`; method names may hold underscores
    (variants), so the split is by the registered figure kinds' names."""
    per_method = [name for name, kind in FIGURE_KINDS.items() if kind.scope == "method"]
    if stem in FIGURE_KINDS and FIGURE_KINDS[stem].scope == "study":
        return stem, ""
    for name in per_method:
        if stem.startswith(name + "_"):
            return name, stem[len(name) + 1:]
    raise ValueError(f"{stem!r} is not a figure stem (<figure>_<method> with a figure of {', '.join(per_method)})")


def planned_figures(methods, baseline: str, variants=(), untrained=(), *, n_datasets: int = 2,
                    n_archs: int = 2, multi_tap: bool = False, widths: bool = False, ranked=(),
                    runs: dict | None = None) -> list[str]:
    """The figure stems a study draws: ``<figure>_<method>`` per method (sorted), each kind of
    :data:`~archssl.catalog.figures.FIGURE_KINDS` in its order, then the study-level ones by name; a kind is
    drawn where :meth:`~archssl.catalog.figures.base.FigureKind.planned` says so, for these facts:
    ``baseline``, ``variants`` (compared in the ablation table), ``untrained`` (the entries that do not
    train), ``n_datasets`` / ``n_archs`` (downstream datasets, architectures), ``multi_tap`` (several taps
    probed), ``widths`` (the architectures differ in width or representation size), ``ranked`` (the trained
    non-variant methods but the baseline) and the manifest's ``runs`` (the Good-practices knobs their runs vary:
    :func:`knob_series`). The kinds' conditions are in their records (:mod:`archssl.catalog.figures`)."""
    runs = runs or {}
    facts = StudyFacts(baseline=baseline, untrained=frozenset(untrained), variants=tuple(variants),
                       ranked=tuple(ranked), n_datasets=n_datasets, n_archs=n_archs, multi_tap=multi_tap,
                       widths=widths, knobs={knob: knob_series(runs, knob) for knob in KNOB_KEYS})
    per_method = [k for k in FIGURE_KINDS.values() if k.scope == "method"]
    out = [k.stem(method) for method in sorted(methods) for k in per_method if k.planned(facts, method)]
    return out + [k.stem() for k in FIGURE_KINDS.values() if k.scope == "study" and k.planned(facts)]


def several_taps(cfg: dict) -> bool:
    """Whether a (validated) config probes several taps: ``probe.tap: all`` with 2 or more feature taps."""
    return cfg["probe"]["tap"] == "all" and len(cfg["features"]["taps"]) >= 2


def planned_tables(multi_tap: bool, variants: bool) -> list[str]:
    """The tables a study writes (:data:`~archssl.catalog.figures.TABLES`, in order): all of them but ``taps``
    (only with ``multi_tap``: several taps probed) and ``ablations`` (only with ``variants``)."""
    return [t for t in TABLES if (t != "taps" or multi_tap) and (t != "ablations" or variants)]


def manifest_runs(runs: dict, pretrain: dict) -> dict:
    """The manifest's ``runs``: per entry of methods its method, whether it trains, whether it is a variant,
    the params it changes (flattened keys) and its knobs (:func:`run_knobs`)."""
    return {n: {"method": r.method, "trains": pretrain[n].trains, "variant": r.is_variant,
                "changed": sorted(k.split("=", 1)[0] for k in flat_items(r.changes)), **run_knobs(pretrain[n])}
            for n, r in runs.items()}
