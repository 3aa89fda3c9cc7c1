# Stage 4: frozen features of every (method, architecture, dataset) to one HDF5 file. With
# features.group_datasets, one job per (method, architecture) writes all its datasets' files (saves the
# start-up of a process per file on a laptop); otherwise one job per file (clusters).


rule features:
    input:
        backbone=PATHS.backbone(),
        data=(
            [R.dataset_input(PLAN.datasets[d]) for d in DOWNSTREAM]
            if R.grouped["features"]
            else per_job(lambda wc: R.dataset_input(PLAN.datasets[wc.dataset]))
        ),
    output:
        R.per_dataset("features", PATHS.features),
    log:
        R.log("features"),
    conda:
        CONDA_ENV
    threads: R.threads("features")
    resources:
        **R.resources("features"),
        # execution-only settings: a resource, not a param (changing them reruns nothing)
        archssl_exec=R.exec["features"],
    params:
        job=per_job(
            (lambda wc: R.job_arg("features", wc.method))
            if R.grouped["features"]
            else (lambda wc: R.job_arg("features", wc.method, wc.dataset))
        ),
        # a pattern, not a function, where one job writes one file: no function call per job in the DAG
        datasets=" ".join(DOWNSTREAM) if R.grouped["features"] else "{dataset}",
    shell:
        "archssl features --job {params.job} --backbone {input.backbone} --arch {wildcards.arch} "
        "--dataset {params.datasets} --out {output} --threads {threads} --exec {resources.archssl_exec} 2> {log}"
