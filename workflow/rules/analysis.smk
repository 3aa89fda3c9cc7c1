# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
from archssl.analysis.figures import expected_figures

# feature files are products of the study too (users read them): `all` asks for them, so one that was
# set aside as corrupt is rebuilt even when the probes that read it are up to date
FEATURES = expand(f"{RES}/features/{{method}}/{{arch}}/{{dataset}}.h5", method=METHOD_NAMES, arch=ARCHS,
                  dataset=DOWNSTREAM)
PROBES = expand(f"{RES}/probes/{{method}}/{{arch}}/{{dataset}}.json", method=METHOD_NAMES, arch=ARCHS,
                dataset=DOWNSTREAM)
REFERENCE = config["analysis"]["reference"] or DOWNSTREAM[0]
BASELINE = config["analysis"]["baseline"]
FIGURE_STEMS = expected_figures(METHOD_NAMES, BASELINE)


rule study_manifest:
    output:
        f"{RES}/study.json",
    params:
        manifest={
            "study": config["study"],
            "probes": PROBES,
            "archs_dir": f"{RES}/archs",
            "pretrain_dir": f"{RES}/pretrain",
            "image_size": config["data"]["image_size"],
            "reference": REFERENCE,
            "baseline": BASELINE,
            "correlations": config["analysis"]["correlations"],
        },
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/study_manifest.log",
    run:
        from archssl.utils import write_json

        write_json(output[0], params.manifest)


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
            report(f"{RES}/figures/{stem}.png", category="Figures", subcategory=stem.split("_")[-1],
                   caption=f"../report/{stem.rsplit('_', 1)[0]}.rst")
            for stem in FIGURE_STEMS
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
    output:
        config=f"{RES}/config.resolved.yaml",
        provenance=f"{RES}/provenance.json",
    params:
        config=config,
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/provenance.log",
    run:
        from archssl.analysis.provenance import write_provenance

        write_provenance(params.config, ARCH_SPECS, output.config, output.provenance)
