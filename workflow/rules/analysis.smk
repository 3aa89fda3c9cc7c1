# Stage 6: tidy tables, correlations across architectures, figures, provenance. Everything here is
# listed in the Snakemake report (snakemake --report results/report.html).
from archssl.analysis.figures import expected_figures

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
    log:
        f"{LOGS}/tables.log",
    shell:
        "archssl tables --study {input.manifest} --out-dir $(dirname {output.accuracy}) 2> {log}"


rule figures:
    input:
        rules.tables.output,
    output:
        [
            report(f"{RES}/figures/{stem}.png", category="Figures", subcategory=stem.split("_")[-1],
                   caption=f"../report/{stem.rsplit('_', 1)[0]}.rst")
            for stem in FIGURE_STEMS
        ],
    log:
        f"{LOGS}/figures.log",
    shell:
        "archssl figures --tables-dir $(dirname {input[0]}) --out-dir $(dirname {output[0]}) 2> {log}"


rule provenance:
    output:
        config=f"{RES}/config.resolved.yaml",
        provenance=f"{RES}/provenance.json",
    params:
        config=config,
    log:
        f"{LOGS}/provenance.log",
    run:
        import platform
        import sys
        from importlib.metadata import version

        import yaml

        from archssl.utils import atomic_path, code_version, write_json

        with atomic_path(output.config) as tmp:
            tmp.write_text(yaml.safe_dump(params.config, sort_keys=False))
        pkgs = ["torch", "torchvision", "snakemake", "numpy", "pandas", "h5py", "scikit-learn", "seaborn"]
        write_json(output.provenance, {
            "code_version": code_version(), "python": sys.version.split()[0], "platform": platform.platform(),
            "packages": {p: version(p) for p in pkgs}, "architectures": ARCH_SPECS,
        })
