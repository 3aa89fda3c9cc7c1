# Stage 3: SSL pretraining, one job per (method, architecture); resumable from its checkpoint.


rule pretrain:
    input:
        spec=f"{RES}/archs/{{arch}}.yaml",
        data=per_job(lambda wc: dataset_input(PLAN.pretrain[wc.method].data)),
    output:
        backbone=f"{RES}/pretrain/{{method}}/{{arch}}/backbone.pt",
        metrics=f"{RES}/pretrain/{{method}}/{{arch}}/metrics.csv",
    params:
        job=per_job(lambda wc: stage_job_arg("pretrain", wc.method)),
        out_dir=per_job(lambda wc, output: str(Path(output.backbone).parent)),
    threads: threads_for("pretrain")
    resources:
        **slurm_resources("pretrain"),
        # execution-only settings: a resource, not a param (changing them reruns nothing)
        archssl_exec=EXEC["pretrain"],
        # `archssl` (through the GPU slot allocator when the stage has gpus), or torchrun with one process per
        # GPU when resources.pretrain.gpus > 1 (a resource too)
        archssl_launch=pretrain_launcher(),
    conda:
        CONDA_ENV
    log:
        f"{LOGS}/pretrain/{{method}}/{{arch}}.log",
    shell:
        "{resources.archssl_launch} pretrain --job {params.job} --spec {input.spec} --out-dir {params.out_dir} "
        "--threads {threads} --exec {resources.archssl_exec} 2> {log}"
