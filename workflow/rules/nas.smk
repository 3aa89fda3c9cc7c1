# Stage 2b: ProxylessNAS searches with an SSL loss (archssl.nas; config key nas.searches).
#
# Search NAME derives the architecture `nas-NAME`, an {arch} of the study known by name at parse time (no
# Snakemake checkpoint: the whole DAG is planned up front, a rerun with nothing changed plans nothing). The
# search's job spec is the param of nas_search, so changing a search reruns that search, then its spec file
# (results/archs/nas-NAME.yaml, written from genotype.yaml; arch_spec never claims nas-* ids), then only that
# architecture's pretraining, features and probes, and the aggregates. checkpoint.pt is not an output:
# Snakemake never deletes it, and a killed search resumes from it.
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
            data=lambda wc: dataset_input(NAS.searches[wc.search].data),
        output:
            genotype=f"{RES}/nas/{{search}}/genotype.yaml",
            trajectory=f"{RES}/nas/{{search}}/trajectory.csv",
            metrics=f"{RES}/nas/{{search}}/metrics.csv",
        params:
            job=lambda wc: stage_job_arg("nas", wc.search),
            out_dir=lambda wc, output: str(Path(output.genotype).parent),
        wildcard_constraints:
            search="[a-z0-9_]+",
        threads: threads_for("pretrain")
        resources:
            **slurm_resources("pretrain"),
            # execution-only settings (device, workers, checkpoint interval): a resource, not a param
            archssl_exec=lambda wc: NAS.exec_arg(wc.search),
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/nas_search/{{search}}.log",
        shell:
            "archssl nas-search --job {params.job} --out-dir {params.out_dir} --threads {threads} "
            "--exec {resources.archssl_exec} 2> {log}"

    rule nas_arch_spec:
        input:
            f"{RES}/nas/{{search}}/genotype.yaml",
        output:
            f"{RES}/archs/nas-{{search}}.yaml",
        wildcard_constraints:
            search="[a-z0-9_]+",
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/nas_arch_spec/{{search}}.log",
        shell:
            "archssl nas-spec --genotype {input} --out {output} 2> {log}"

    rule nas_manifest:
        output:
            f"{RES}/nas/study.json",
        params:
            manifest=lambda wc: as_arg(NAS.manifest(ARCHS, RES)),
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/nas_manifest.log",
        shell:
            "archssl write --value {params.manifest} --out {output} 2> {log}"

    rule nas_figures:
        input:
            study=rules.nas_manifest.output,
            accuracy=f"{RES}/tables/accuracy.csv",
            genotypes=expand(f"{RES}/nas/{{search}}/genotype.yaml", search=NAS_SEARCHES),
            trajectories=expand(f"{RES}/nas/{{search}}/trajectory.csv", search=NAS_SEARCHES),
            metrics=expand(f"{RES}/nas/{{search}}/metrics.csv", search=NAS_SEARCHES),
        output:
            table=report(f"{RES}/nas/tables/searched_vs_random.csv", category="NAS",
                         caption="../report/nas_table.rst"),
            archs=report(f"{RES}/nas/tables/archs.csv", category="NAS", caption="../report/nas_archs.rst"),
            versus=report(f"{RES}/nas/figures/searched_vs_random.png", category="NAS",
                          caption="../report/nas_vs_random.rst"),
            trajectories=[
                report(f"{RES}/nas/figures/trajectory_{s}.png", category="NAS", subcategory="trajectories",
                       caption="../report/nas_trajectory.rst")
                for s in NAS_SEARCHES
            ],
            genotypes=[
                report(f"{RES}/nas/figures/genotype_{s}.png", category="NAS", subcategory="architectures",
                       caption="../report/nas_genotype.rst")
                for s in NAS_SEARCHES
            ],
            # the numbers behind each figure, by kind and stem (what its caption states)
            numbers=f"{RES}/nas/figures/numbers.json",
        params:
            # read when the report renders the captions; a function of the output, so not a rerun trigger
            numbers=lambda wildcards, output: (json.loads(Path(output.numbers).read_text())
                                               if Path(output.numbers).exists() else {}),
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/nas_figures.log",
        shell:
            "archssl nas-figures --study {input.study} --tables-dir $(dirname {input.accuracy}) "
            "--out-dir $(dirname $(dirname {output.table})) 2> {log}"

    NAS_TARGETS = rules.nas_figures.output
