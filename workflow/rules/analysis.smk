# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
from archssl.analysis.figures import expected_figures, split_stem

# feature files are products of the study too (users read them): `all` asks for them, so one that was
# set aside as corrupt is rebuilt even when the probes that read it are up to date
FEATURES = expand(f"{RES}/features/{{method}}/{{arch}}/{{dataset}}.h5", method=METHOD_NAMES, arch=ARCHS,
                  dataset=DOWNSTREAM)
PROBES = expand(f"{RES}/probes/{{method}}/{{arch}}/{{dataset}}.json", method=METHOD_NAMES, arch=ARCHS,
                dataset=DOWNSTREAM)
REFERENCE = config["analysis"]["reference"] or DOWNSTREAM[0]
BASELINE = config["analysis"]["baseline"]
FIGURE_STEMS = expected_figures(METHOD_NAMES, BASELINE, VARIANTS,
                               untrained=[m for m in METHOD_NAMES if not METHODS.get(RUNS[m].method).trains])


rule study_manifest:
    output:
        f"{RES}/study.json",
    params:
        # a function: a string param would have its {method} etc. expanded as wildcards
        manifest=lambda wc: as_arg(
            {
                "study": config["study"],
                # every (method, arch, dataset): the pattern, not thousands of paths on a command line
                "probes": {
                    "pattern": f"{RES}/probes/{{method}}/{{arch}}/{{dataset}}.json",
                    "method": METHOD_NAMES,
                    "arch": ARCHS,
                    "dataset": DOWNSTREAM,
                },
                "archs_dir": f"{RES}/archs",
                "pretrain_dir": f"{RES}/pretrain",
                "image_size": config["data"]["image_size"],
                "reference": REFERENCE,
                "baseline": BASELINE,
                "correlations": config["analysis"]["correlations"],
                # each variant run, in the study's order: what the ablation table compares it with, what it changes
                "variants": [
                    {"variant": v, "method": RUNS[v].method, "against": RUNS[v].against, "change": RUNS[v].note,
                     "seed": RUNS[v].seed}
                    for v in VARIANTS
                ],
            }
        ),
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
        # only in a study with variants
        **(
            {"ablations": report(f"{RES}/tables/ablations.csv", category="Tables",
                                 caption="../report/ablations.rst")}
            if VARIANTS
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
            # grouped by method in the report (the ablation heatmap on its own), captioned by figure
            report(f"{RES}/figures/{stem}.png", category="Figures", subcategory=method or "ablations",
                   caption=f"../report/{figure}.rst")
            for stem in FIGURE_STEMS
            for figure, method in [split_stem(stem)]
        ],
    params:
        out_dir=lambda wildcards, output: Path(output[0]).parent,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/figures.log",
    shell:
        "archssl figures --tables-dir $(dirname {input.meta}) --out-dir {params.out_dir} 2> {log}"


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
