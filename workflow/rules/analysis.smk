# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
from archssl.plan import split_stem

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
        manifest=rules.study_manifest.output,
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
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/tables.log",
    shell:
        "archssl tables --study {input.manifest} --out-dir $(dirname {output.accuracy}) 2> {log}"


rule figures:
    input:
        meta=rules.tables.output.meta,
        tables=rules.tables.output,
    output:
        [
            # grouped by method in the report (the study-wide ones on their own), captioned by figure kind
            report(f"{RES}/figures/{stem}.png", category="Figures", subcategory=method or "study",
                   caption=f"../report/figures/{figure}.rst")
            for stem in PLAN.figures
            for figure, method in [split_stem(stem)]
        ],
        [f"{RES}/figures/{stem}.pdf" for stem in PLAN.figures],
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
        # what the captions state (snakemake.params.study in workflow/report/figures/*.rst)
        study=FIGURE_FACTS,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/figures.log",
    shell:
        "archssl figures --tables-dir $(dirname {input.meta}) --out-dir {params.out_dir} --formats png pdf "
        "2> {log}"


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
