# Stage 4: frozen features of every (method, architecture, dataset) to one HDF5 file.
# features.group_datasets: one job per (method, architecture) writes all its datasets' files (saves the
# start-up of a process per file on a laptop); otherwise one job per file (clusters).


FEATURES_CMD = (
    "archssl features --job {params.job} --backbone {input.backbone} --arch {wildcards.arch} "
    "--dataset {params.datasets} --out {output} --threads {threads} --exec {resources.archssl_exec} 2> {log}"
)

if config["features"]["group_datasets"]:

    rule features_grouped:
        input:
            backbone=f"{RES}/pretrain/{{method}}/{{arch}}/backbone.pt",
            data=[dataset_input(PLAN.datasets[d]) for d in DOWNSTREAM],
        output:
            expand(f"{RES}/features/{{{{method}}}}/{{{{arch}}}}/{{dataset}}.h5", dataset=DOWNSTREAM),
        params:
            job=per_job(lambda wc: stage_job_arg("features", wc.method)),
            datasets=" ".join(DOWNSTREAM),
        threads: threads_for("features")
        resources:
            **slurm_resources("features"),
            # execution-only settings: a resource, not a param (changing them reruns nothing)
            archssl_exec=EXEC["features"],
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/features/{{method}}/{{arch}}.log",
        shell:
            FEATURES_CMD

else:

    rule features:
        input:
            backbone=f"{RES}/pretrain/{{method}}/{{arch}}/backbone.pt",
            data=per_job(lambda wc: dataset_input(PLAN.datasets[wc.dataset])),
        output:
            f"{RES}/features/{{method}}/{{arch}}/{{dataset}}.h5",
        params:
            job=per_job(lambda wc: stage_job_arg("features", wc.method, wc.dataset)),
            # a pattern, not a function: no function call per job while the DAG is built
            datasets="{dataset}",
        threads: threads_for("features")
        resources:
            **slurm_resources("features"),
            # execution-only settings: a resource, not a param (changing them reruns nothing)
            archssl_exec=EXEC["features"],
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/features/{{method}}/{{arch}}/{{dataset}}.log",
        shell:
            FEATURES_CMD
