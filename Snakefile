# archssl: one study = one DAG of cacheable file targets.
#
#   snakemake --cores 2                      # the built-in mini study (config/config.yaml)
#   snakemake --configfile config/studies/girish_cifar.yaml --profile profiles/slurm
#   snakemake --report results/report.html   # the report, once the study is done
#
# Stages (one rule file and one package module each):
#   data -> archs -> pretrain -> features -> probe -> tables -> figures (-> report)

from snakemake.utils import min_version

min_version("9.0")


# rules call the `archssl` command found on PATH (common.smk puts this environment's bin/ first)
envvars:
    "PATH",


# The default study unless config files are given (--configfile replaces it rather than being merged
# into it, so a preset never inherits the mini study's keys).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


wildcard_constraints:
    method="[a-z0-9_]+",
    arch="[a-z0-9._-]+",
    dataset="[a-z0-9_]+",


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/archs.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/nas.smk"


onstart:
    if DATA_PROBLEMS:
        raise WorkflowError(f"datasets not in place; nothing was run:\n{DATA_PROBLEMS}")


# trivial bookkeeping: never worth a cluster job
localrules:
    arch_spec,
    study_manifest,
    provenance,


rule all:
    default_target: True
    input:
        FEATURES,
        rules.provenance.output,
        rules.tables.output,
        rules.figures.output,
        NAS_TARGETS,
