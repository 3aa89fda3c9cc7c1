"""Which figures a study draws (torch-free, from the plan): per method and for the whole study, and the
Good-practices knobs (negatives, heads, crop, jitter) a study's runs vary."""

from __future__ import annotations

import json

from archssl.config import flat_items
from archssl.plan.specs import PretrainJob

#: the figures of a study, per method (the baseline gets the first three; untrained runs no pretext figure;
#: the others only where the study provides what they need: :func:`planned_figures`)
FIGURES = ("corr_heatmap", "vs_reference", "acc_vs_params", "honesty", "pretext_vs_downstream", "topk", "depth",
           "width")
#: the figures of the whole study (their stem is the name alone)
STUDY_FIGURES = ("ablations", "ranking_consistency", "negatives", "heads", "augment", "tsne")
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
    (variants), so the split is by the known figure names."""
    if stem in STUDY_FIGURES:
        return stem, ""
    for name in FIGURES:
        if stem.startswith(name + "_"):
            return name, stem[len(name) + 1:]
    raise ValueError(f"{stem!r} is not a figure stem (<figure>_<method> with a figure of {', '.join(FIGURES)})")


ACROSS_ARCHS = ("corr_heatmap", "vs_reference", "acc_vs_params", "pretext_vs_downstream")


def planned_figures(methods, baseline: str, variants=(), untrained=(), *, n_datasets: int = 2,
                    n_archs: int = 2, multi_tap: bool = False, widths: bool = False, ranked=(),
                    runs: dict | None = None) -> list[str]:
    """The figure stems a study draws: ``<figure>_<method>`` per method, the study-level ones by name.

    Per method: ``corr_heatmap``, ``vs_reference`` (with >= 2 datasets), ``acc_vs_params``; ``honesty``
    (not the baseline); ``pretext_vs_downstream`` (trained, not the baseline); of these, a study of one
    architecture draws only ``honesty`` (the others are over architectures: ``ACROSS_ARCHS``); ``topk`` (>= 3 architectures
    and >= 2 datasets); ``depth`` (``multi_tap``: several taps probed); ``width`` (``widths``: the
    architectures differ in width or representation size; not the baseline). Study: ``ablations`` (variants),
    ``ranking_consistency`` (>= 2 methods in ``ranked``, the trained non-variant methods, and >= 2
    architectures), ``negatives`` / ``heads`` / ``augment`` (a method's runs vary K / the head / the crop or
    jitter: :func:`knob_series` of the manifest's ``runs``), ``tsne`` (a method's runs vary the crop or the
    jitter: :func:`tsne_rows`)."""
    out = []
    for method in sorted(methods):
        names = FIGURES[:5] if method != baseline else FIGURES[:3]
        if method in untrained:
            names = [n for n in names if n != "pretext_vs_downstream"]
        if n_datasets < 2:
            names = [n for n in names if n not in ("corr_heatmap", "vs_reference")]
        if n_archs < 2:  # each of these draws one point per architecture, or correlates over architectures
            names = [n for n in names if n not in ACROSS_ARCHS]
        names = list(names)
        if n_archs >= 3 and n_datasets >= 2:
            names.append("topk")
        if multi_tap:
            names.append("depth")
        if widths and method != baseline:
            names.append("width")
        out.extend(f"{name}_{method}" for name in names)
    out += ["ablations"] if variants else []
    out += ["ranking_consistency"] if len(ranked) >= 2 and n_archs >= 2 else []
    runs = runs or {}
    out += ["negatives"] if knob_series(runs, "negatives") else []
    out += ["heads"] if knob_series(runs, "heads") else []
    out += ["augment"] if knob_series(runs, "crop") or knob_series(runs, "jitter") else []
    out += ["tsne"] if tsne_rows(runs) else []
    return out


def manifest_runs(runs: dict, pretrain: dict) -> dict:
    """The manifest's ``runs``: per entry of methods its method, whether it trains, whether it is a variant,
    the params it changes (flattened keys) and its knobs (:func:`run_knobs`)."""
    return {n: {"method": r.method, "trains": pretrain[n].trains, "variant": r.is_variant,
                "changed": sorted(k.split("=", 1)[0] for k in flat_items(r.changes)), **run_knobs(pretrain[n])}
            for n, r in runs.items()}
