# Stage 3: SSL pretraining, one job per (method, architecture); resumable from its checkpoint.


rule pretrain:
    input:
        spec=PATHS.arch_spec(),
        data=per_job(lambda wc: R.dataset_input(PLAN.pretrain[wc.method].data)),
    output:
        backbone=PATHS.backbone(),
        metrics=PATHS.metrics(),
    log:
        PATHS.log("pretrain", "{method}", "{arch}"),
    conda:
        CONDA_ENV
    threads: R.threads("pretrain")
    resources:
        **R.resources("pretrain"),
        # execution-only settings: a resource, not a param (changing them reruns nothing)
        archssl_exec=R.exec["pretrain"],
        # `archssl` (through the GPU slot allocator when the stage has gpus), or torchrun with one process per
        # GPU when resources.pretrain.gpus > 1 (a resource too)
        archssl_launch=R.launcher("pretrain", distributed=True),
    params:
        job=per_job(lambda wc: R.job_arg("pretrain", wc.method)),
        out_dir=per_job(lambda wc, output: str(Path(output.backbone).parent)),
    shell:
        "{resources.archssl_launch} pretrain --job {params.job} --spec {input.spec} --out-dir {params.out_dir} "
        "--threads {threads} --exec {resources.archssl_exec} 2> {log}"
