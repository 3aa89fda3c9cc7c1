# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
from archssl.plan import split_stem

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
            # grouped by method in the report (the ablation heatmap on its own), captioned by figure
            report(f"{RES}/figures/{stem}.png", category="Figures", subcategory=method or "ablations",
                   caption=f"../report/{figure}.rst")
            for stem in PLAN.figures
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
