# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
import json

from archssl.catalog.figures import FIGURE_KINDS
from archssl.plan.figures import split_stem
from archssl.plan.stages import code_digests

# the study's tables (archssl.catalog.figures.TABLES: taps only where several taps are probed, ablations only
# with variants), each in the report with its caption workflow/report/<table>.rst
TABLES = PLAN.tables

# feature files are products of the study too (users read them): `all` asks for them, so one that was
# set aside as corrupt is rebuilt even when the probes that read it are up to date
FEATURES = expand(PATHS.features(), method=METHOD_NAMES, arch=ARCHS, dataset=DOWNSTREAM)
# the t-SNE figure's feature files (and subsample), where the study varies the augmentation (else None)
TSNE = PLAN.tsne()
# the report's status section (archssl status): the study's artifacts, and today's code digest of each stage
STATUS_TARGETS = PLAN.status_targets()
PROBES = expand(PATHS.probe(), method=METHOD_NAMES, arch=ARCHS, dataset=DOWNSTREAM)


rule study_manifest:
    output:
        PATHS.study_manifest,
    log:
        PATHS.log("study_manifest"),
    conda:
        CONDA_ENV
    params:
        # a function: a string param would have its {method} etc. expanded as wildcards
        manifest=lambda wc: as_arg(PLAN.manifest()),
    shell:
        "archssl write --value {params.manifest} --out {output} 2> {log}"


rule tables:
    input:
        # a path, not rules.study_manifest.output: a rule's output as input makes Snakemake hash the whole
        # probes list once per input file (quadratic: seconds at 5,000 probes)
        manifest=PATHS.study_manifest,
        probes=PROBES,
        specs=[PATHS.arch_spec(a) for a in ARCHS],
        metrics=expand(PATHS.metrics(), method=METHOD_NAMES, arch=ARCHS),
    output:
        **{table: report(PATHS.table(table), category="Tables", caption=f"../report/{table}.rst") for table in TABLES},
        meta=PATHS.tables_meta,
        # what `archssl status` says: the results made by other code than today's, and the command rerunning them
        status=report(PATHS.status_table, category="Status", caption="../report/status.rst"),
    log:
        PATHS.log("tables"),
    conda:
        CONDA_ENV
    params:
        status=as_arg(STATUS_TARGETS),
        # today's code of each stage: an edit to it (which reruns no stage) rewrites the status section
        code=code_digests(STATUS_TARGETS["runs"]),
    shell:
        "archssl tables --study {input.manifest} --out-dir $(dirname {output.accuracy}) 2> {log} && "
        "archssl status --targets {params.status} --csv {output.status} 2>> {log}"


rule figures:
    input:
        meta=rules.tables.output.meta,
        tables=rules.tables.output,
        tsne=list(TSNE["files"].values()) if TSNE else [],
    output:
        [
            # grouped by method in the report (the study-wide ones on their own), captioned by figure kind
            report(
                PATHS.figure(stem),
                category="Figures",
                subcategory=method or "study",
                caption=f"../report/{FIGURE_KINDS[figure].caption}",
            )
            for stem in PLAN.figures
            for figure, method in [split_stem(stem)]
        ],
        [PATHS.figure(stem, "pdf") for stem in PLAN.figures],
        # the numbers behind each figure, by figure kind and stem (what its caption states)
        **({"tsne": PATHS.figure("tsne", "csv")} if TSNE else {}),
        numbers=PATHS.figure("numbers", "json"),
        # the t-SNE coordinates and labels of every panel
    log:
        PATHS.log("figures"),
    conda:
        CONDA_ENV
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        tsne=lambda wc: as_arg(TSNE or {}),
        # read when the report renders the captions (snakemake.params.numbers); a function of the output, so
        # not a rerun trigger
        numbers=lambda wildcards, output: (
            json.loads(Path(output.numbers).read_text()) if Path(output.numbers).exists() else {}
        ),
        # what the captions state (snakemake.params.study in workflow/report/figures/*.rst)
        study=PLAN.caption_facts(),
    shell:
        "archssl figures --tables-dir $(dirname {input.meta}) --out-dir {params.out_dir} --formats png pdf "
        "--tsne {params.tsne} 2> {log}"


rule provenance:
    input:
        specs=[PATHS.arch_spec(a) for a in ARCHS],
    output:
        config=PATHS.config_resolved,
        provenance=PATHS.provenance,
    log:
        PATHS.log("provenance"),
    conda:
        CONDA_ENV
    params:
        # key order kept: config.resolved.yaml reads like the config it resolves
        config=as_arg(config, sort_keys=False),
    shell:
        "archssl provenance --config {params.config} --specs {input.specs} --config-out {output.config} "
        "--out {output.provenance} 2> {log}"
