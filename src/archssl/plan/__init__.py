"""The plan of a study: a validated config turned, once and without torch, into typed job specs per stage.

>>> from archssl.plan import plan
>>> p = plan(config)                      # doctest: +SKIP
>>> p.pretrain["simclr"].to_dict()        # every value that decides the pretraining result

:func:`plan` fills every default from the schema (``archssl/schemas/config.schema.yaml``, shipped with the
package) and from the method and probe descriptors, and rejects, naming the config key, everything a job
would reject: unknown keys, types and ranges anywhere (method and probe params, projection heads, dataset
options), feature taps an architecture does not have, patch geometries that do not fit the image size,
labelled methods on unlabelled sets.

A job spec (:class:`PretrainJob`, :class:`FeaturesJob`, :class:`ProbeJob`) holds every value that decides a
stage's result, defaults included, and nothing that only changes how the job runs (workers, inference batch
size, checkpoint interval, threads, device: :class:`PretrainExec`, :class:`FeaturesExec`, :class:`ProbeExec`).
The workflow passes a job spec as the rule's ``params`` (so Snakemake reruns exactly what a change affects)
and the execution settings on the command line; ``archssl <stage> --job JSON`` runs it; the Python API
(:func:`archssl.train.loop.pretrain`, :func:`archssl.evaluate.features.run_features_job`,
:func:`archssl.evaluate.probe_job.run_probe`) takes the same specs.

Modules: :mod:`.schema` (the schema's defaults), :mod:`.specs` (job specs), :mod:`.execution` (execution
settings), :mod:`.checks` (what the schema cannot check), :mod:`.nas` (NAS searches), :mod:`.figures` (the
figures a study draws), :mod:`.study` (:func:`plan`, :class:`Plan`).
"""

from archssl.plan.checks import pretrain_set
from archssl.plan.execution import FeaturesExec, PretrainExec, ProbeExec, exec_args, parse_exec
from archssl.plan.figures import (FIGURES, KNOB_KEYS, STUDY_FIGURES, knob_series, planned_figures, run_knobs,
                                  split_stem, tsne_rows)
from archssl.plan.schema import section
from archssl.plan.specs import DataRef, FeaturesJob, PretrainJob, ProbeJob, dataset_ref
from archssl.plan.study import Plan, plan, validate_config

__all__ = ["DataRef", "FIGURES", "FeaturesExec", "FeaturesJob", "KNOB_KEYS", "Plan", "PretrainExec", "PretrainJob",
           "ProbeExec", "ProbeJob", "STUDY_FIGURES", "dataset_ref", "exec_args", "knob_series", "parse_exec", "plan",
           "planned_figures", "pretrain_set", "run_knobs", "section", "split_stem", "tsne_rows", "validate_config"]
