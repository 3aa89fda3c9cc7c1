# Stage 5: one probe result (JSON) per (method, architecture, dataset) feature file. With
# probe.group_datasets, one job per (method, architecture) fits all its datasets in one process.


rule probe:
    input:
        R.per_dataset("probe", PATHS.features),
    output:
        R.per_dataset("probe", PATHS.probe),
    log:
        R.log("probe"),
    conda:
        CONDA_ENV
    threads: R.threads("probe")
    resources:
        **R.resources("probe"),
        # execution-only settings: a resource, not a param (changing them reruns nothing)
        archssl_exec=R.exec["probe"],
    params:
        job=R.job_arg("probe"),
    shell:
        "archssl probe --job {params.job} --features {input} --out {output} --threads {threads} "
        "--exec {resources.archssl_exec} 2> {log}"
