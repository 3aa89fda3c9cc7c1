# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
from archssl.plan import split_stem
from archssl.staleness import code_digests, plan_targets

MULTI_TAP = PLAN.probe.tap == "all" and len(PLAN.config["features"]["taps"]) >= 2
# the plan's facts the figure captions state: sizes, the reference, the intervals' settings
FIGURE_FACTS = {
    "n_archs": len(PLAN.archs),
    "families": sorted({s["family"] for s in PLAN.archs.values()}),
    "datasets": PLAN.downstream,
    "reference": PLAN.reference,
    "baseline": PLAN.config["analysis"]["baseline"],
    "methods": PLAN.methods,
    "n_resamples": PLAN.config["analysis"]["bootstrap"]["n_resamples"],
    "confidence": PLAN.config["analysis"]["bootstrap"]["confidence"],
    "taps": list(PLAN.config["features"]["taps"]),
    "topk": PLAN.config["analysis"]["topk"],
    "probe": PLAN.probe.name,
}

# feature files are products of the study too (users read them): `all` asks for them, so one that was
# set aside as corrupt is rebuilt even when the probes that read it are up to date
FEATURES = expand(f"{RES}/features/{{method}}/{{arch}}/{{dataset}}.h5", method=METHOD_NAMES, arch=ARCHS,
                  dataset=DOWNSTREAM)
# the t-SNE figure's feature files (and subsample), where the study varies the augmentation (else None)
TSNE = PLAN.tsne()
# the report's status section (archssl status): the study's artifacts, and today's code digest of each stage
STATUS_TARGETS = plan_targets(PLAN)
PROBES = expand(f"{RES}/probes/{{method}}/{{arch}}/{{dataset}}.json", method=METHOD_NAMES, arch=ARCHS,
                dataset=DOWNSTREAM)


rule study_manifest:
    output:
        f"{RES}/study.json",
    params:
        # a function: a string param would have its {method} etc. expanded as wildcards
        manifest=lambda wc: as_arg(PLAN.manifest()),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/study_manifest.log",
    shell:
        "archssl write --value {params.manifest} --out {output} 2> {log}"


rule tables:
    input:
        # a path, not rules.study_manifest.output: a rule's output as input makes Snakemake hash the whole
        # probes list once per input file (quadratic: seconds at 5,000 probes)
        manifest=f"{RES}/study.json",
        probes=PROBES,
        specs=expand(f"{RES}/archs/{{arch}}.yaml", arch=ARCHS),
        metrics=expand(f"{RES}/pretrain/{{method}}/{{arch}}/metrics.csv", method=METHOD_NAMES, arch=ARCHS),
    output:
        accuracy=report(f"{RES}/tables/accuracy.csv", category="Tables",
                        caption="../report/accuracy.rst"),
        correlations=report(f"{RES}/tables/correlations.csv", category="Tables",
                            caption="../report/correlations.rst"),
        honesty=report(f"{RES}/tables/honesty.csv", category="Tables", caption="../report/honesty.rst"),
        pretext=report(f"{RES}/tables/pretext.csv", category="Tables", caption="../report/pretext.rst"),
        ranks=report(f"{RES}/tables/ranks.csv", category="Tables", caption="../report/ranks.rst"),
        best=report(f"{RES}/tables/best.csv", category="Tables", caption="../report/best.rst"),
        topk=report(f"{RES}/tables/topk.csv", category="Tables", caption="../report/topk.rst"),
        consistency=report(f"{RES}/tables/consistency.csv", category="Tables",
                           caption="../report/consistency.rst"),
        pretext_correlations=report(f"{RES}/tables/pretext_correlations.csv", category="Tables",
                                    caption="../report/pretext_correlations.rst"),
        knobs=report(f"{RES}/tables/knobs.csv", category="Tables", caption="../report/knobs.rst"),
        # only where several taps are probed
        **(
            {"taps": report(f"{RES}/tables/taps.csv", category="Tables", caption="../report/taps.rst")}
            if MULTI_TAP
            else {}
        ),
        # only in a study with variants
        **(
            {"ablations": report(f"{RES}/tables/ablations.csv", category="Tables",
                                 caption="../report/ablations.rst")}
            if PLAN.variants
            else {}
        ),
        meta=f"{RES}/tables/study.json",
        # what `archssl status` says: the results made by other code than today's, and the command rerunning them
        status=report(f"{RES}/status.csv", category="Status", caption="../report/status.rst"),
    params:
        status=as_arg(STATUS_TARGETS),
        # today's code of each stage: an edit to it (which reruns no stage) rewrites the status section
        code=code_digests(STATUS_TARGETS),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/tables.log",
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
            report(f"{RES}/figures/{stem}.png", category="Figures", subcategory=method or "study",
                   caption=f"../report/figures/{figure}.rst")
            for stem in PLAN.figures
            for figure, method in [split_stem(stem)]
        ],
        [f"{RES}/figures/{stem}.pdf" for stem in PLAN.figures],
        # the numbers behind each figure, by figure kind and stem (what its caption states)
        numbers=f"{RES}/figures/numbers.json",
        # the t-SNE coordinates and labels of every panel
        **({"tsne": f"{RES}/figures/tsne.csv"} if TSNE else {}),
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        tsne=lambda wc: as_arg(TSNE or {}),
        # read when the report renders the captions (snakemake.params.numbers); a function of the output, so
        # not a rerun trigger
        numbers=lambda wildcards, output: (json.loads(Path(output.numbers).read_text())
                                           if Path(output.numbers).exists() else {}),
        # what the captions state (snakemake.params.study in workflow/report/figures/*.rst)
        study=FIGURE_FACTS,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/figures.log",
    shell:
        "archssl figures --tables-dir $(dirname {input.meta}) --out-dir {params.out_dir} --formats png pdf "
        "--tsne {params.tsne} 2> {log}"


rule provenance:
    input:
        specs=expand(f"{RES}/archs/{{arch}}.yaml", arch=ARCHS),
    output:
        config=f"{RES}/config.resolved.yaml",
        provenance=f"{RES}/provenance.json",
    params:
        # key order kept: config.resolved.yaml reads like the config it resolves
        config=as_arg(config, sort_keys=False),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/provenance.log",
    shell:
        "archssl provenance --config {params.config} --specs {input.specs} --config-out {output.config} "
        "--out {output.provenance} 2> {log}"
