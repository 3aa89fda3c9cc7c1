"""One probe target: a feature file in, one JSON out (one result per probed tap, all in one process)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from archssl.evaluate.bootstrap import stable_seed
from archssl.evaluate.featurestore import CorruptFeatureFile, FeatureFileError, list_taps, read_features
from archssl.evaluate.probes.base import make_probe
from archssl.integrity import seal_json, set_aside
from archssl.plan import ProbeExec
from archssl.plan.stages import stage_digest
from archssl.utils import code_version, write_json

log = logging.getLogger("archssl.probe")


def run_probe(features: Path, out: Path, job, exe=None) -> dict:
    """Run the probe job ``job`` (:class:`archssl.plan.ProbeJob`: probe name, params, tap: a tap name, null
    (the deepest) or "all") on one feature file, as ``exe`` (:class:`archssl.plan.ProbeExec`) says.

    Each result carries ``test_ci`` (:func:`archssl.evaluate.probes.base.test_intervals`): the bootstrap
    interval of its test metrics over the test images, ``job.bootstrap``'s resamples and level, seeded with
    ``stable_seed(job.bootstrap["seed"], probe seed, method, arch, dataset, tap)`` (stored with it)."""
    exe = exe or ProbeExec()
    features = Path(features)
    taps = list_taps(features)
    want = job.tap
    if want == "all":
        chosen = taps
    elif want is None:
        chosen = [taps[-1]]
    elif want in taps:
        chosen = [want]
    else:
        raise FeatureFileError(f"{features}: probe.tap {want!r} is not in the file (taps: {taps})")
    results = []
    attrs = {}
    for tap in chosen:
        t0 = time.perf_counter()
        try:
            fs = read_features(features, tap=tap)
        except CorruptFeatureFile as e:
            dest = set_aside(features)  # kept for inspection; the workflow's rerun rebuilds it
            raise CorruptFeatureFile(f"{e}; set aside as {dest.name}: rerun to rebuild it") from e
        attrs = fs.attrs
        probe = make_probe(job.name, **job.params, device=exe.device, num_threads=exe.num_threads)
        num_classes = int(attrs.get("num_classes") or 0) or None
        # errors (ProbeInputError) name the file through source=
        boot = job.bootstrap
        seed = stable_seed(boot["seed"], job.params.get("seed", 0), attrs.get("method"), attrs.get("arch"),
                           attrs.get("dataset"), tap)
        r = probe.fit_evaluate(train=fs.xy("train"), val=fs.xy("val"), test=fs.xy("test"),
                               num_classes=num_classes, metric=attrs.get("metric", "top1"), source=str(features),
                               bootstrap={**boot, "seed": seed})
        r["tap"] = tap
        results.append(r)
        log.info("%s %s %s tap=%s: test %s = %.4f (%.1fs)", attrs.get("method"), attrs.get("arch"),
                 attrs.get("dataset"), tap, r["metric"], r["value"], time.perf_counter() - t0)
    doc = {
        "method": attrs.get("method"), "arch": attrs.get("arch"), "dataset": attrs.get("dataset"),
        "metric": results[-1]["metric"], "value": results[-1]["value"], "tap": results[-1]["tap"],
        "results": results, "features": str(features), "code_version": code_version(),
        "code_digest": stage_digest("probe"),
    }
    doc = seal_json(doc)  # its digest: the tables job checks it (archssl.integrity.read_probe_result)
    write_json(out, doc)
    return doc
