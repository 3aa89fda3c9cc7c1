# Stage 5: one probe result (JSON) per (method, architecture, dataset) feature file.
# probe.group_datasets: one job per (method, architecture) fits all its datasets in one process.


PROBE_CMD = (
    "archssl probe --job {params.job} --features {input} --out {output} --threads {threads} "
    "--exec {resources.archssl_exec} 2> {log}"
)

if config["probe"]["group_datasets"]:

    rule probe_grouped:
        input:
            expand(f"{RES}/features/{{{{method}}}}/{{{{arch}}}}/{{dataset}}.h5", dataset=DOWNSTREAM),
        output:
            expand(f"{RES}/probes/{{{{method}}}}/{{{{arch}}}}/{{dataset}}.json", dataset=DOWNSTREAM),
        params:
            job=job_arg(PLAN.probe),
        threads: threads_for("probe")
        resources:
            **slurm_resources("probe"),
            # execution-only settings: a resource, not a param (changing them reruns nothing)
            archssl_exec=EXEC["probe"],
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/probe/{{method}}/{{arch}}.log",
        shell:
            PROBE_CMD

else:

    rule probe:
        input:
            f"{RES}/features/{{method}}/{{arch}}/{{dataset}}.h5",
        output:
            f"{RES}/probes/{{method}}/{{arch}}/{{dataset}}.json",
        params:
            job=job_arg(PLAN.probe),
        threads: threads_for("probe")
        resources:
            **slurm_resources("probe"),
            # execution-only settings: a resource, not a param (changing them reruns nothing)
            archssl_exec=EXEC["probe"],
        conda:
            CONDA_ENV
        log:
            f"{LOGS}/probe/{{method}}/{{arch}}/{{dataset}}.log",
        shell:
            PROBE_CMD
