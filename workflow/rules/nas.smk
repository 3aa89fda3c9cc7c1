# Stage 2b: ProxylessNAS searches with an SSL loss (archssl.nas; config key nas.searches).
#
# Search NAME derives the architecture `nas-NAME`, an {arch} of the study known by name at parse time (no
# Snakemake checkpoint: the whole DAG is planned up front, a rerun with nothing changed plans nothing). The
# search's job spec is the param of nas_search, so changing a search reruns that search, then its spec file
# (results/archs/nas-NAME.yaml, written from genotype.yaml; arch_spec never claims nas-* ids), then only that
# architecture's pretraining, features and probes, and the aggregates. checkpoint.pt is not an output:
# Snakemake never deletes it, and a killed search resumes from it.
import json

NAS = PLAN.nas
NAS_SEARCHES = list(NAS.searches)
# what `all` asks for (nothing in a study without searches)
NAS_TARGETS = []

if NAS_SEARCHES:

    localrules:
        nas_arch_spec,
        nas_manifest,

    rule nas_search:
        input:
            data=lambda wc: R.dataset_input(NAS.searches[wc.search].data),
        output:
            genotype=PATHS.nas_file("genotype.yaml"),
            trajectory=PATHS.nas_file("trajectory.csv"),
            metrics=PATHS.nas_file("metrics.csv"),
        log:
            PATHS.log("nas_search", "{search}"),
        wildcard_constraints:
            search="[a-z0-9_]+",
        conda:
            CONDA_ENV
        threads: R.threads("pretrain")
        resources:
            **R.resources("pretrain"),
            # execution-only settings (device, workers, checkpoint interval): a resource, not a param
            archssl_exec=lambda wc: NAS.exec_arg(wc.search),
        params:
            job=lambda wc: R.job_arg("nas", wc.search),
            out_dir=lambda wc, output: str(Path(output.genotype).parent),
        shell:
            "archssl nas-search --job {params.job} --out-dir {params.out_dir} --threads {threads} "
            "--exec {resources.archssl_exec} 2> {log}"

    rule nas_arch_spec:
        input:
            PATHS.nas_file("genotype.yaml"),
        output:
            PATHS.arch_spec("nas-{search}"),
        log:
            PATHS.log("nas_arch_spec", "{search}"),
        wildcard_constraints:
            search="[a-z0-9_]+",
        conda:
            CONDA_ENV
        shell:
            "archssl nas-spec --genotype {input} --out {output} 2> {log}"

    rule nas_manifest:
        output:
            PATHS.nas_manifest,
        log:
            PATHS.log("nas_manifest"),
        conda:
            CONDA_ENV
        params:
            manifest=lambda wc: as_arg(NAS.manifest(ARCHS, RES)),
        shell:
            "archssl write --value {params.manifest} --out {output} 2> {log}"

    rule nas_figures:
        input:
            study=rules.nas_manifest.output,
            accuracy=PATHS.table("accuracy"),
            genotypes=[PATHS.nas_file("genotype.yaml", s) for s in NAS_SEARCHES],
            trajectories=[PATHS.nas_file("trajectory.csv", s) for s in NAS_SEARCHES],
            metrics=[PATHS.nas_file("metrics.csv", s) for s in NAS_SEARCHES],
        output:
            table=report(PATHS.nas_table("searched_vs_random"), category="NAS", caption="../report/nas_table.rst"),
            archs=report(PATHS.nas_table("archs"), category="NAS", caption="../report/nas_archs.rst"),
            versus=report(PATHS.nas_figure("searched_vs_random"), category="NAS", caption="../report/nas_vs_random.rst"),
            trajectories=[
                report(
                    PATHS.nas_figure(f"trajectory_{s}"),
                    category="NAS",
                    subcategory="trajectories",
                    caption="../report/nas_trajectory.rst",
                )
                for s in NAS_SEARCHES
            ],
            genotypes=[
                report(
                    PATHS.nas_figure(f"genotype_{s}"),
                    category="NAS",
                    subcategory="architectures",
                    caption="../report/nas_genotype.rst",
                )
                for s in NAS_SEARCHES
            ],
            # the numbers behind each figure, by kind and stem (what its caption states)
            numbers=PATHS.nas_figure("numbers", "json"),
        log:
            PATHS.log("nas_figures"),
        conda:
            CONDA_ENV
        params:
            # read when the report renders the captions; a function of the output, so not a rerun trigger
            numbers=lambda wildcards, output: (
                json.loads(Path(output.numbers).read_text()) if Path(output.numbers).exists() else {}
            ),
        shell:
            "archssl nas-figures --study {input.study} --tables-dir $(dirname {input.accuracy}) "
            "--out-dir $(dirname $(dirname {output.table})) 2> {log}"

    NAS_TARGETS = rules.nas_figures.output
